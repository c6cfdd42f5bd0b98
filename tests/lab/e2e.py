"""What the daemon's end-to-end tests share: reading the journal, the incidents and the log."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import psutil
import pytest

from talon.lab import vmtool
from tests.support.talon_run import TalonRun

# The default profile's VM reports its own uptime from a time namespace (talon.lab.vmtool);
# where the kernel allows none, its shell reads the machine's, and a crash loop is invisible.
needs_vm_uptime = pytest.mark.skipif(
    not vmtool.time_namespace(), reason="no time namespace here: the lab VM has no own uptime"
)

TIER1 = ("bridge_heal", "force_cycle", "heal_script", "restart_service", "apply_rbac_guard")


def kinds(run: TalonRun) -> list[str]:
    return [e["kind"] for e in run.begun() if e["kind"] in TIER1]


def evidence(run: TalonRun, incident_id: str) -> list[str]:
    path = run.state_dir / "incidents" / incident_id / "evidence"
    return sorted(p.name for p in path.glob("*.json"))


def recovered(run: TalonRun) -> dict[str, Any] | None:
    return next((i for i in run.closed() if i["outcome"] == "recovered"), None)


def command_channel(home: Path) -> tuple[dict[str, Any], Path]:
    """A notify channel that appends each message (title line) to a file."""
    out = home / "messages.txt"
    script = f'printf "%s|%s\\n" "$TALON_EVENT" "$TALON_TITLE" >> "{out}"'
    return {"name": "file", "command": ["sh", "-c", script]}, out


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _lines(path: Path, n: int) -> list[str] | None:
    if not path.exists():
        return None
    lines = path.read_text().splitlines()
    return lines if len(lines) >= n else None


def _failing_in_log(run: TalonRun, key: str) -> bool:
    return any(key in e["failing"] for e in run.events("cycle"))


def _child_named(pid: int, name: str) -> int | None:
    for child in psutil.Process(pid).children(recursive=True):
        if child.name() == name:
            return child.pid
    return None


def last_check(run: TalonRun, key: str) -> dict[str, Any] | None:
    """The probe ``key`` in the last cycle the daemon kept (last-probe.json), if any."""
    try:
        report = json.loads((run.state_dir / "last-probe.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    found: dict[str, Any] | None = next((p for p in report["probes"] if p["key"] == key), None)
    return found


def runtime_why(run: TalonRun) -> str:
    """Why the runtime adapter's last check decided as it did (``runtime.vm``'s detail)."""
    check = last_check(run, "runtime.vm") or {}
    return str((check.get("detail") or {}).get("why", ""))


def snapshots(run: TalonRun, incident_id: str) -> dict[str, dict[str, Any]]:
    """The incident's evidence captures, by file name."""
    path = run.state_dir / "incidents" / incident_id / "evidence"
    return {p.name: json.loads(p.read_text())["snapshot"] for p in sorted(path.glob("*.json"))}
