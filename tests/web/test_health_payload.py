"""/health's payload and status code, pure: states from the real core, an injected now (R32)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from talon.core import CoreState
from talon.node import NodeIdentity
from talon.web.health import SCHEMA, health_payload
from tests.web import states

IDENTITY = NodeIdentity("n1", "linux", "amd64", Path("/c"), Path("/s"), Path("/l"))
STALE_AFTER = 90.0


def _health(state: CoreState, now: float, **kw: Any) -> tuple[int, dict[str, Any]]:
    args: dict[str, Any] = {
        "state": state,
        "identity": IDENTITY,
        "now": now,
        "last_cycle_started": now - 12.0,
        "last_cycle_finished": now - 10.0,
        "stale_after_s": STALE_AFTER,
        "shadow": False,
        "config_error": None,
        "tasks": {"loop": "running", "web": "running"},
        "running_actions": [],
        "version": "0.1.0",
    }
    return health_payload(**{**args, **kw})


def test_stable_with_a_fresh_cycle_is_200_and_says_when_the_cycle_ran() -> None:
    sim = states.stable()
    status, payload = _health(sim.state, sim.now)
    assert status == 200
    assert payload["schema"] == SCHEMA
    assert payload["node"] == {"node_id": "n1", "platform": "linux", "arch": "amd64"}
    assert (payload["state"], payload["signal"]) == ("healthy", "stable")
    assert payload["last_cycle"] == {
        "started_at": sim.now - 12.0,
        "finished_at": sim.now - 10.0,
        "age_s": 10.0,
    }
    assert payload["stale"] is False
    assert payload["incident"] is None
    assert payload["hold"] is None
    assert payload["reasons"] == []
    assert payload["version"] == "0.1.0"


def test_recovering_is_still_200_and_shows_the_open_incident() -> None:
    sim = states.recovering()
    status, payload = _health(sim.state, sim.now)
    assert status == 200
    assert (payload["state"], payload["signal"]) == ("verifying", "recovering")
    incident = payload["incident"]
    assert incident["id"] == sim.state.incident.id  # type: ignore[union-attr]
    assert incident["root_cause"] == "runtime_down"
    assert "runtime_down" in incident["faults"]
    assert incident["opened_at"] <= sim.now


def test_a_failed_recovery_hold_is_503_with_the_time_left() -> None:
    sim = states.failed_recovery()
    hold = sim.state.hold
    assert hold is not None
    now = hold.since + 100.0
    status, payload = _health(sim.state, now)
    assert status == 503
    assert payload["signal"] == "failed recovery"
    assert payload["hold"] == {
        "reason": "failed_recovery",
        "since": hold.since,
        "until": hold.until,
        "remaining_s": hold.until - now,
    }
    assert payload["reasons"] == ["signal is failed recovery"]


def test_a_hold_past_its_end_shows_zero_remaining_not_negative() -> None:
    sim = states.failed_recovery()
    assert sim.state.hold is not None
    _, payload = _health(sim.state, sim.state.hold.until + 50.0)
    assert payload["hold"]["remaining_s"] == 0.0


def test_a_wedged_loop_is_stale_and_503_even_though_its_last_state_was_stable() -> None:
    sim = states.stable()
    now = sim.now + 1_000.0
    status, payload = _health(
        sim.state, now, last_cycle_started=sim.now - 1.0, last_cycle_finished=sim.now
    )
    assert status == 503
    assert payload["stale"] is True
    assert payload["last_cycle"]["age_s"] == 1_000.0
    assert payload["reasons"] == ["no recent cycle (stale)"]


def test_the_stale_boundary_is_inclusive_of_stale_after() -> None:
    sim = states.stable()
    assert _health(sim.state, sim.now, last_cycle_finished=sim.now - STALE_AFTER)[0] == 200
    assert _health(sim.state, sim.now, last_cycle_finished=sim.now - STALE_AFTER - 0.1)[0] == 503


def test_no_finished_cycle_yet_is_stale() -> None:
    sim = states.stable()
    status, payload = _health(
        sim.state, sim.now, last_cycle_started=sim.now - 1.0, last_cycle_finished=None
    )
    assert status == 503
    assert payload["stale"] is True
    assert payload["last_cycle"] == {
        "started_at": sim.now - 1.0,
        "finished_at": None,
        "age_s": None,
    }


def test_a_clock_stepping_back_is_not_stale() -> None:
    sim = states.stable()
    status, payload = _health(sim.state, sim.now, last_cycle_finished=sim.now + 30.0)
    assert status == 200
    assert payload["last_cycle"]["age_s"] == 0.0


def test_a_dead_internal_task_is_503_and_named() -> None:
    sim = states.stable()
    tasks = {"loop": "running", "notifier": "dead: ConnectionError: boom"}
    status, payload = _health(sim.state, sim.now, tasks=tasks)
    assert status == 503
    assert payload["tasks"] == tasks
    assert payload["reasons"] == ["task notifier is dead: ConnectionError: boom"]


def test_every_reason_is_listed_together() -> None:
    sim = states.failed_recovery()
    status, payload = _health(
        sim.state, sim.now + 500.0, tasks={"loop": "dead: wedged"}, last_cycle_finished=sim.now
    )
    assert status == 503
    assert payload["reasons"] == [
        "signal is failed recovery",
        "no recent cycle (stale)",
        "task loop is dead: wedged",
    ]


def test_shadow_config_error_and_running_actions_are_reported_without_changing_the_status() -> None:
    sim = states.stable()
    actions = [{"kind": "restart_service", "target": "redis.redis", "since": sim.now - 3}]
    status, payload = _health(
        sim.state,
        sim.now,
        shadow=True,
        config_error="talon.toml: [probes.x] unknown key 'tiemout'",
        running_actions=actions,
    )
    assert status == 200
    assert payload["shadow"] is True
    assert payload["config_error"].startswith("talon.toml")
    assert payload["running_actions"] == actions


@pytest.mark.parametrize("build", [states.stable, states.recovering, states.failed_recovery])
def test_the_payload_is_json_and_the_same_for_the_same_inputs(build: Any) -> None:
    sim = build()
    first = _health(sim.state, sim.now)
    assert first == _health(sim.state, sim.now)
    assert json.loads(json.dumps(first[1])) == first[1]
