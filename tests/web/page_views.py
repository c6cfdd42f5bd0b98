"""Status views (``talon.status/v1``) for the status page's tests: a hand-written one with
every section filled in (and hostile text where text comes from outside), and one built
by the real ``status_view`` from a core state that is holding after a failed recovery."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from talon.node import NodeIdentity
from talon.status_view import status_view
from tests.web import states

NOW = 1_750_000_000.0  # 2025-06-15 15:06:40 UTC
EVIL = '<script>alert("x")</script>'
EVIL_ATTR = '" onmouseover="alert(1)'
IDENTITY = NodeIdentity("hub", "linux", "amd64", Path("/c"), Path("/s"), Path("/l"))


def _path(
    cls: str,
    target: str,
    ok: bool,
    ms: float | None,
    error: str | None = None,
    tried: bool = True,
    message: str = "",
) -> dict[str, Any]:
    return {
        "path_class": cls,
        "target": target,
        "ok": ok,
        "tried": tried,
        "latency_ms": ms,
        "error_kind": error,
        "message": message,
    }


def _probe(key: str, layer: str, status: str = "ok", **kw: Any) -> dict[str, Any]:
    return {
        "key": key,
        "kind": key.split(".")[0],
        "layer": layer,
        "class": kw.get("cls", "service"),
        "critical": kw.get("critical", True),
        "informational": kw.get("informational", False),
        "status": status,
        "message": kw.get("message", "ok"),
        "error_kind": kw.get("error_kind"),
        "latency_ms": kw.get("latency_ms", 3.2),
        "endpoint_class": kw.get("endpoint_class", "localhost"),
        "answered_by": kw.get("answered_by", "127.0.0.1:1"),
        "paths": kw.get("paths", []),
        "classification": kw.get("classification"),
        "explained": kw.get("explained", False),
        "consecutive_failures": kw.get("consecutive_failures", 0),
    }


def _trail(*rows: tuple[float, str, str, str]) -> list[dict[str, Any]]:
    return [{"at": at, "rule": rule, "outcome": out, "reason": why} for at, rule, out, why in rows]


def sample() -> dict[str, Any]:
    """A node holding after a failed recovery, with an open incident and a closed one."""
    probes = [
        _probe(
            "ssh.nas",
            "host",
            message="reachable",
            endpoint_class="remote",
            answered_by="nas@127.0.0.5:22",
        ),
        _probe(
            "tcp.runtime", "runtime", cls="infra", endpoint_class="vm", answered_by="127.0.0.2:2375"
        ),
        _probe("k8s.api", "cluster", cls="infra", message="readyz: ok"),
        _probe(
            "http.api",
            "service",
            endpoint_class="vm",
            answered_by="127.0.0.2:8080",
            message="HTTP 200",
            paths=[
                _path("localhost", "127.0.0.1:8080", False, 0.4, "refused", message="refused"),
                _path("vm", "127.0.0.2:8080", True, 3.0, message="HTTP 200"),
                _path(
                    "dns",
                    "api.default.svc",
                    False,
                    None,
                    tried=False,
                    message="not needed: a preferred path answered",
                ),
            ],
        ),
        _probe(
            "http.search",
            "service",
            status="critical",
            error_kind="timeout",
            endpoint_class=None,
            answered_by=None,
            latency_ms=None,
            message=f"no answer in 5 s: {EVIL}",
            paths=[_path("localhost", "127.0.0.1:8108", False, None, "timeout")],
            classification="service_down",
            consecutive_failures=4,
        ),
        _probe(
            "http.worker",
            "app",
            status="warning",
            cls="app",
            informational=True,
            message="slow: " + "x" * 300,
        ),
        _probe("script.backup", "nightly", status="skipped", critical=False, message="disabled"),
    ]
    return {
        "schema": "talon.status/v1",
        "node": {"node_id": "hub", "platform": "linux", "arch": "amd64"},
        "now": NOW,
        "state": "hold",
        "signal": "failed recovery",
        "incident": {
            "id": "hub-7",
            "opened_at": NOW - 900,
            "closed_at": None,
            "outcome": None,
            "root_cause": "runtime_down",
            "faults": ["runtime_down", "service_down"],
            "healed": True,
            "attempts": {"force_cycle:runtime": 1},
            "trail": _trail(
                (NOW - 890, "force_cycle_confirmation", "blocked", "1 of 2 ticks"),
                (NOW - 860, "tier", "acted", "force_cycle runtime for runtime_down"),
                (NOW - 600, "verification", "noted", f"regressed: {EVIL}"),
            ),
        },
        "hold": {
            "reason": "failed_recovery",
            "since": NOW - 600,
            "until": NOW + 1200,
            "remaining_s": 1200.0,
        },
        "failed_recovery_at": NOW - 600,
        "verifying": False,
        "verification": None,
        "last_cycle": {
            "started_at": NOW - 13,
            "finished_at": NOW - 12,
            "age_s": 12.0,
            "failures": [],
        },
        "summary": {"total": 7, "passed": 4, "failed": 2, "skipped": 1, "pass_rate": 0.6667},
        "layers": ["host", "runtime", "cluster", "service", "app", "nightly"],
        "probes": probes,
        "resources": {
            "at": NOW,
            "memory": {
                "total_bytes": 8 << 30,
                "available_bytes": 6 << 30,
                "available_percent": 75.0,
            },
            "swap": {"total_bytes": 0, "used_bytes": 0},
            "load": {"1m": 0.5, "5m": 0.4, "15m": 0.3},
            "cpus": 2,
            "uptime_s": 86_400.0,
            "disks": [
                {
                    "path": "/srv/data",
                    "total_bytes": 100 << 30,
                    "free_bytes": 5 << 30,
                    "used_percent": 95.0,
                }
            ],
        },
        "findings": ["filesystem of /srv/data is 95% full"],
        "recent_incidents": [
            {
                "id": "hub-6",
                "opened_at": NOW - 7200,
                "closed_at": NOW - 7000,
                "outcome": "recovered",
                "root_cause": "split_brain",
                "faults": ["split_brain"],
                "healed": True,
                "attempts": {"bridge_heal:runtime": 1},
                "trail": _trail((NOW - 7190, "tier", "acted", "bridge_heal for split_brain")),
            }
        ],
        "daemon": {"pid": 4242, "started_at": NOW - 86_000, "shadow": False},
        "warnings": [f"config rejected: {EVIL_ATTR}"],
        "worker": {
            "supervised_by": "this instance",
            "state": "running",
            "pid": 4343,
            "quick_exits": 0,
            "next_start_in_s": None,
        },
        "health": {
            "stale": False,
            "stale_after_s": 90.0,
            "reasons": ["signal is failed recovery", "task notify-retry is dead: boom"],
        },
    }


def variant(**changes: Any) -> dict[str, Any]:
    view = copy.deepcopy(sample())
    view.update(changes)
    return view


def from_core() -> dict[str, Any]:
    """The real view of a holding node: what the daemon's ``status()`` builds."""
    sim = states.failed_recovery()
    report = {
        "started_at": sim.now - 1,
        "finished_at": sim.now,
        "probes": [
            {
                "key": key,
                "kind": key.split(".")[0],
                "layer": layer,
                "status": "critical",
                "message": "refused",
                "error_kind": "refused",
                "endpoint_class": None,
                "paths": [],
            }
            for key, layer in (
                ("tcp.runtime", "runtime"),
                ("k8s.api", "cluster"),
                ("redis.redis", "service"),
                ("http.inngest", "service"),
            )
        ],
    }
    return status_view(sim.state, report, IDENTITY, sim.now + 5)
