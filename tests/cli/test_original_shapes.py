"""The original Rust Talon's command line, pure: which flag wins, what a terminal is told,
the JSON shapes of `--check` and `--status` made from Talon's report and state."""

from __future__ import annotations

from dataclasses import replace

from talon.cli.modes import Mode, bare_notice, pick_mode
from talon.cli.original import probe_results, state_name, status_doc
from talon.core import CoreState, NodeState
from talon.report import CycleReport, Status, report_json
from tests.core.sim import result, split, up

OFF = {"validate": False, "dry_run": False, "status": False, "check": False, "worker_only": False}


def test_the_first_flag_of_the_originals_order_wins_and_none_is_the_daemon() -> None:
    assert pick_mode(**OFF) is None
    assert pick_mode(**{**OFF, "worker_only": True}) is Mode.WORKER_ONLY
    assert pick_mode(**{**OFF, "check": True, "worker_only": True}) is Mode.CHECK
    assert pick_mode(**{**OFF, "status": True, "check": True}) is Mode.STATUS
    assert pick_mode(**{**OFF, "dry_run": True, "status": True}) is Mode.DRY_RUN
    assert pick_mode(**dict.fromkeys(OFF, True)) is Mode.VALIDATE


def test_only_a_terminal_is_told_that_the_daemon_runs_and_where_help_is() -> None:
    assert bare_notice(False) is None  # launchd, systemd: stderr is a file
    said = bare_notice(True)
    assert said is not None
    assert "running the daemon (= talon run)" in said
    assert "`talon --help`" in said
    assert "--worker-only" in (bare_notice(True, worker_only=True) or "")


def test_check_results_in_the_originals_shape() -> None:
    skipped = result("script.off", status=Status.SKIPPED)
    failed = replace(result("http.worker", ok=False), message="HTTP 503", latency_ms=12.6)
    cycle = (up("launchd.gateway"), split("redis.redis"), failed, skipped)
    report = report_json(CycleReport("n1", "linux", "amd64", 1.0, 2.0, cycle))
    results = probe_results(report)
    assert [(r["name"], r["passed"]) for r in results] == [
        ("launchd:gateway", True),
        ("redis:redis", False),  # answered only through the VM: not passed, as the original saw
        ("http:worker", False),
    ]
    assert results[2] == {
        "name": "http:worker",
        "passed": False,
        "output": "HTTP 503",
        "duration_ms": 13,
    }
    assert probe_results(None) == []
    assert probe_results([{"name": "colima"}]) == []  # type: ignore[arg-type]  # the original's file


def test_status_in_the_originals_state_json_shape() -> None:
    state = replace(
        CoreState(),
        node=NodeState.SOS,
        counters={"http.worker": 3, "k8s.api": 1},
        last_action_at={
            "force_cycle:-": 100.0,
            "restart_service:gateway": 250.0,
            "agent_cloud:-": 300.0,
            "sos:-": 400.0,
            "notify:-": 500.0,
        },
    )
    doc = status_doc(state, None, 2, lambda t: t + 1_700_000_000.4)
    assert doc == {
        "current_state": "SOS",
        "consecutive_failures": 3,
        "last_heal_time": 1_700_000_250,
        "last_agent_time": 1_700_000_300,
        "last_sos_time": 1_700_000_400,
        "last_probe_results": [],
        "worker_restarts": 2,
    }
    names = [state_name(n) for n in NodeState]
    assert names[:3] == ["Healthy", "Degraded", "Failed"]
    assert {"Investigating", "Critical", "SOS", "Healing", "Verifying", "Hold"} <= set(names)
