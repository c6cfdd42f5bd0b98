"""``talon status`` and ``talon hold clear`` as real processes, on a state directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from talon.clock import Clock
from talon.store import StateStore
from tests.core.sim import Sim
from tests.store.test_state_store import _held_state


def _held() -> Sim:
    """A node in a failed-recovery hold, on this machine's clock (as a daemon saves it)."""
    return _held_state(Clock().now() - 200)  # its 16 simulated ticks end in the past


def talon(state_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TALON_STATE_DIR": str(state_dir), "NODE_ID": "hub"}
    return subprocess.run(
        [sys.executable, "-m", "talon", *args], capture_output=True, text=True, timeout=60, env=env
    )


def test_status_of_a_fresh_node_is_stable(tmp_path: Path) -> None:
    done = talon(tmp_path, "status", "--json")
    data = json.loads(done.stdout)
    assert done.returncode == 0
    assert (data["state"], data["signal"], data["incident"], data["hold"]) == (
        "healthy",
        "stable",
        None,
        None,
    )
    assert data["node"]["node_id"] == "hub"


def test_status_shows_hold_incident_and_classified_failures(tmp_path: Path) -> None:
    sim = _held()
    store = StateStore(tmp_path)
    store.save(sim.state, Clock())
    store.save_report(
        {
            "started_at": 1.0,
            "finished_at": 2.0,
            "probes": [
                {
                    "key": "tcp.runtime",
                    "status": "critical",
                    "error_kind": "refused",
                    "endpoint_class": None,
                    "message": "connection refused",
                },
                {
                    "key": "http.svc",
                    "status": "critical",
                    "error_kind": "refused",
                    "endpoint_class": None,
                    "message": "connection refused",
                },
                {
                    "key": "http.fine",
                    "status": "ok",
                    "error_kind": None,
                    "endpoint_class": "localhost",
                    "message": "HTTP 200",
                },
            ],
        }
    )
    done = talon(tmp_path, "status", "--json")
    assert done.returncode == 2
    data = json.loads(done.stdout)
    assert data["signal"] == "failed recovery"
    assert data["hold"]["reason"] == "failed_recovery"
    assert 0 < data["hold"]["remaining_s"] <= 1800
    assert data["incident"]["id"] == sim.state.incident.id  # type: ignore[union-attr]
    failures = {f["key"]: f for f in data["last_cycle"]["failures"]}
    assert set(failures) == {"tcp.runtime", "http.svc"}
    assert failures["tcp.runtime"]["classification"] == "runtime_down"
    assert failures["http.svc"]["explained"] is True
    table = talon(tmp_path, "status")
    assert "failed recovery" in table.stdout
    assert "runtime_down" in table.stdout


def test_hold_clear_without_a_daemon_ends_the_hold_in_the_files(tmp_path: Path) -> None:
    StateStore(tmp_path).save(_held().state, Clock())
    done = talon(tmp_path, "hold", "clear")
    assert done.returncode == 0, done.stderr
    assert "hold cleared (no daemon runs)" in done.stdout
    store = StateStore(tmp_path)
    assert store.load(Clock()).state.hold is None
    queued = store.journal().queued()
    assert any("operator" in a.reason for a in queued)
    assert talon(tmp_path, "hold", "clear").stdout.strip() == "no hold is active"


def test_status_reports_an_unreadable_state_without_touching_it(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_text("{truncated")
    done = talon(tmp_path, "status", "--json")
    data = json.loads(done.stdout)
    assert data["warnings"]
    assert (tmp_path / "state.json").read_text() == "{truncated"


def test_status_lists_every_probe_with_its_path_and_the_host_resources(tmp_path: Path) -> None:
    StateStore(tmp_path).save_report(
        {
            "started_at": 1.0,
            "finished_at": 2.0,
            "probes": [
                {
                    "key": "http.api",
                    "kind": "http",
                    "layer": "service",
                    "status": "ok",
                    "error_kind": None,
                    "endpoint_class": "vm",
                    "message": "HTTP 200",
                    "latency_ms": 4.2,
                    "paths": [
                        {"path_class": "localhost", "target": "127.0.0.1:81", "ok": False},
                        {"path_class": "vm", "target": "127.0.0.2:81", "ok": True},
                    ],
                },
                {
                    "key": "ssh.nas",
                    "kind": "ssh",
                    "layer": "host",
                    "status": "critical",
                    "error_kind": "refused",
                    "endpoint_class": None,
                    "message": "connection refused",
                    "latency_ms": 1.0,
                    "paths": [],
                },
            ],
        }
    )
    data = json.loads(talon(tmp_path, "status", "--json").stdout)
    assert [p["key"] for p in data["probes"]] == ["ssh.nas", "http.api"]
    assert data["probes"][1]["answered_by"] == "127.0.0.2:81"
    assert data["resources"]["memory"]["total_bytes"] > 0
    assert data["resources"]["disks"]
    assert {"1m", "5m", "15m"} <= set(data["resources"]["load"])
    table = talon(tmp_path, "status").stdout
    assert "vm 127.0.0.2:81" in table
    assert "ssh.nas" in table
    assert "memory:" in table
    assert "load:" in table
    assert "disk:" in table


def test_hold_clear_with_a_daemon_that_does_not_answer_exits_1_and_says_so(
    tmp_path: Path,
) -> None:
    """A running daemon (here: its instance lock, held) busy with a long heal: the command
    waits for its next cycle boundary; the CLI says so, and never edits the files."""
    from talon.daemon.lock import InstanceLock

    StateStore(tmp_path).save(_held().state, Clock())
    before = (tmp_path / "state.json").read_bytes()
    lock = InstanceLock(tmp_path / "talon.lock")
    lock.acquire()
    try:
        done = talon(tmp_path, "hold", "clear", "--wait", "1")
    finally:
        lock.release()
    assert done.returncode == 1
    assert "asked the running daemon" in done.stdout
    assert "not confirmed within 1s" in done.stderr
    assert (tmp_path / "state.json").read_bytes() == before  # the daemon's file, untouched
    assert list((tmp_path / "commands").glob("*.json"))  # it will be applied
