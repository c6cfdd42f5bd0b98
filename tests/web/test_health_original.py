"""/health keeps Talon's fields and adds the original Rust Talon's (issue 20 point 5):
``ok``, ``consecutive_failures``, ``probe_count``, ``failed_probe_count``,
``failed_probes``, ``worker_restarts``, ``updated_at_unix``; a gateway heartbeat reads
``ok``, ``state`` and ``failed_probe_count``. Pure: states from the real core."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from talon.core import CoreState, NodeState
from talon.web.health import health_payload, original_probe_name
from tests.web import states
from tests.web.test_health_payload import IDENTITY, STALE_AFTER

ORIGINAL = (
    "ok",
    "state",
    "consecutive_failures",
    "probe_count",
    "failed_probe_count",
    "failed_probes",
    "worker_restarts",
    "updated_at_unix",
)
GREEN = [("tcp.runtime", "ok"), ("http.worker", "ok"), ("script.off", "skipped")]


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
        "tasks": {"loop": "running"},
        "running_actions": [],
        "version": "0.1.0",
        "probes": GREEN,
        "worker_restarts": 3,
        "updated_at_unix": 1_700_000_000,
    }
    return health_payload(**{**args, **kw})


def test_a_stable_node_is_ok_with_every_original_field_beside_talons() -> None:
    sim = states.stable()
    code, payload = _health(sim.state, sim.now)
    assert code == 200
    assert {k: payload[k] for k in ORIGINAL} == {
        "ok": True,
        "state": "healthy",  # the original's "Healthy", lower-cased: the heartbeat's fixture
        "consecutive_failures": 0,
        "probe_count": 2,  # the skipped probe did not run
        "failed_probe_count": 0,
        "failed_probes": [],
        "worker_restarts": 3,
        "updated_at_unix": 1_700_000_000,
    }
    assert payload["signal"] == "stable"  # Talon's own fields stay
    assert payload["probes"]["total"] == 3


def test_a_failing_or_degraded_probe_is_failed_in_the_originals_names() -> None:
    sim = states.recovering()
    failing = [("tcp.runtime", "critical"), ("redis.redis", "degraded"), ("http.worker", "ok")]
    code, payload = _health(sim.state, sim.now, probes=failing)
    assert code == 200  # recovering: Talon's status code
    assert payload["ok"] is False
    assert payload["state"] == "verifying"
    assert payload["failed_probes"] == ["tcp:runtime", "redis:redis"]
    assert payload["failed_probe_count"] == 2
    assert payload["probes"]["failed"] + payload["probes"]["degraded"] == 2


def test_ok_needs_the_node_healthy_a_fresh_cycle_and_no_failure() -> None:
    sim = states.stable()
    assert _health(sim.state, sim.now, probes=[("http.api", "warning")])[1]["ok"] is False
    stale = _health(sim.state, sim.now, last_cycle_finished=None, updated_at_unix=None)[1]
    assert (stale["ok"], stale["updated_at_unix"]) == (False, None)  # the original's "Starting"
    degraded = replace(sim.state, node=NodeState.DEGRADED)
    assert _health(degraded, sim.now)[1]["ok"] is False
    held = states.failed_recovery()
    code, payload = _health(held.state, held.now)
    assert (code, payload["ok"]) == (503, False)


def test_consecutive_failures_is_the_longest_streak_of_a_probe_failing_now() -> None:
    state = replace(CoreState(), counters={"tcp.runtime": 0, "http.worker": 4, "k8s.api": 2})
    assert _health(state, 1000.0)[1]["consecutive_failures"] == 4


def test_original_probe_names_are_kind_colon_name() -> None:
    assert original_probe_name("http.worker") == "http:worker"
    assert original_probe_name("launchd.voice_agent") == "launchd:voice_agent"
    assert original_probe_name("script.a.b") == "script:a.b"


def test_unhealthy_status_200_answers_as_the_original_did() -> None:
    """[health] unhealthy_status = 200 (an original-format config's default): the code is
    200 whatever the node's state; the body still says why it is not ok."""
    from talon.core import CoreState, Hold, NodeState
    from talon.faults import Fault
    from talon.node import NodeIdentity
    from talon.web.health import health_payload

    held = CoreState(node=NodeState.HOLD, hold=Hold(0.0, 1e9, Fault.FAILED_RECOVERY))
    common = {
        "state": held,
        "identity": NodeIdentity.detect(),
        "now": 10.0,
        "last_cycle_started": 9.0,
        "last_cycle_finished": 9.5,
        "stale_after_s": 100.0,
        "shadow": False,
        "config_error": None,
        "tasks": {},
        "running_actions": [],
        "version": "x",
    }
    code, body = health_payload(**common)  # type: ignore[arg-type]
    assert code == 503
    code, body = health_payload(**common, unhealthy_status=200)  # type: ignore[arg-type]
    assert code == 200
    assert body["ok"] is False
    assert body["reasons"] == ["signal is failed recovery"]
