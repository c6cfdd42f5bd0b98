"""The REGRESSIONS.md rules the core owns (R2-R5, R10-R18), one test each."""

from __future__ import annotations

from talon.core import (
    ActionKind,
    ActionOutcome,
    ActionStatus,
    CoreState,
    NodeState,
    Report,
    clear_hold,
    step,
)
from talon.errors import ErrorKind
from talon.faults import Fault
from tests.core.sim import Sim, config, down, path, policy, result, up

RUNTIME = "tcp.runtime"


def _runtime_sim(**kw: object) -> Sim:
    return Sim(config(policy(RUNTIME, layer="runtime", cls="infra"), policy("http.svc"), **kw))  # type: ignore[arg-type]


def test_r02_one_transient_miss_triggers_nothing() -> None:
    sim = Sim(config(policy("http.svc", threshold=2)))
    sim.tick(down("http.svc"))
    sim.tick(up("http.svc"))
    sim.tick(down("http.svc"))
    assert [a for a in sim.actions if a.tier] == []


def test_r03_non_critical_failures_are_visible_and_escalate_only_after_their_threshold() -> None:
    sim = Sim(config(policy("http.svc", critical=False, threshold=3), policy("http.ok")))
    for _ in range(2):
        sim.tick(down("http.svc"), up("http.ok"))
    assert sim.state.node is NodeState.DEGRADED  # not healthy: every enabled probe must pass
    assert sim.state.incident is not None
    assert not sim.heals()
    sim.tick(down("http.svc"), up("http.ok"))
    assert [a.kind for a in sim.heals()] == [ActionKind.RESTART_SERVICE]


def test_r03_r04_app_and_informational_probes_never_trigger_a_heal() -> None:
    sim = Sim(config(policy("http.app", cls="app"), policy("script.witness", informational=True)))
    for _ in range(20):
        sim.tick(down("http.app"), down("script.witness"), dt=60)
    assert not sim.heals()
    assert not sim.kinds(ActionKind.AGENT_CLOUD)
    assert sim.faults == {Fault.APP_FAILURE}
    assert len(sim.kinds(ActionKind.NOTIFY)) >= 1


def test_r04_a_probe_not_hosted_here_is_skipped_not_down() -> None:
    from talon.report import Status

    sim = Sim(config(policy("http.elsewhere")))
    sim.tick(result("http.elsewhere", False, status=Status.SKIPPED))
    assert sim.state.node is NodeState.HEALTHY


def test_r10_a_failure_confined_to_one_service_restarts_only_that_service() -> None:
    sim = Sim(
        config(
            policy("http.a", restart_target="a"),
            policy("http.b", restart_target="b"),
            policy(RUNTIME, layer="runtime", cls="infra"),
        )
    )
    sim.tick(down("http.a"), up("http.b"), up(RUNTIME))
    assert [(a.kind, a.target) for a in sim.heals()] == [(ActionKind.RESTART_SERVICE, "a")]


def test_r12_every_tier_reads_its_cooldown() -> None:
    sim = Sim(
        config(
            policy("http.svc"),
            healing={
                "restart_cooldown_secs": 300,
                "warmup_secs": 1,
                "durability_checks": 1,
                "durability_window_secs": 1,
            },
        )
    )
    for _ in range(30):  # 300 s of a service that stays down
        sim.tick(down("http.svc"))
    restarts = sim.kinds(ActionKind.RESTART_SERVICE)
    assert len(restarts) == 1  # the failed verification holds it; cooldown stops a re-run


def test_r13_force_cycle_needs_two_unhealthy_ticks_within_420_s() -> None:
    sim = _runtime_sim()
    sim.tick(down(RUNTIME))
    sim.tick(up(RUNTIME), dt=10)
    sim.tick(down(RUNTIME), dt=500)  # the first tick is outside the window now
    assert not sim.kinds(ActionKind.FORCE_CYCLE)
    sim.tick(down(RUNTIME), dt=60)
    assert len(sim.kinds(ActionKind.FORCE_CYCLE)) == 1


def test_r13_force_cycle_cooldown_is_900_s() -> None:
    sim = _runtime_sim(
        healing={
            "warmup_secs": 1,
            "durability_checks": 1,
            "durability_window_secs": 1,
            "hold_secs": 1,
        }
    )
    for _ in range(2):
        sim.tick(down(RUNTIME))
    assert len(sim.kinds(ActionKind.FORCE_CYCLE)) == 1
    for _ in range(80):  # 800 s down: the hold (1 s) ends but the cooldown (900 s) holds
        sim.tick(down(RUNTIME))
    assert len(sim.kinds(ActionKind.FORCE_CYCLE)) == 1
    for _ in range(20):
        sim.tick(down(RUNTIME))
    assert len(sim.kinds(ActionKind.FORCE_CYCLE)) == 2


def test_r14_never_recovered_before_the_full_durability_window() -> None:
    sim = Sim(config(policy("http.svc")))
    sim.tick(down("http.svc"))
    assert sim.state.node is NodeState.VERIFYING
    started = sim.now
    while sim.state.node is NodeState.VERIFYING:
        sim.tick(up("http.svc"))
    assert sim.state.node is NodeState.HEALTHY
    assert sim.now - started >= 120 + 90  # warmup, then the whole window green


def test_r15_the_hold_ignores_unrelated_passes_and_ends_by_time_or_operator() -> None:
    sim = _runtime_sim()
    for _ in range(2):
        sim.tick(down(RUNTIME))
    for _ in range(13):
        sim.tick(up(RUNTIME), up("http.svc"))
    sim.tick(down(RUNTIME))
    assert sim.state.hold is not None
    hold_until = sim.state.hold.until
    for _ in range(20):  # everything passes again: the hold stays
        sim.tick(up(RUNTIME), up("http.svc"))
    assert sim.state.hold is not None
    state, actions = (done := clear_hold(sim.state, sim.now)).state, done.actions
    assert state.hold is None
    assert actions
    assert "operator" in actions[0].reason
    assert any(d.reason == "hold cleared by operator" for d in state.incident.trail)  # type: ignore[union-attr]
    sim.state = sim.state  # unchanged: now let time end it
    sim.tick(up(RUNTIME), up("http.svc"), dt=hold_until - sim.now + 1)
    assert sim.state.hold is None


def test_r16_a_critical_node_keeps_a_rate_limited_path_back_to_healing() -> None:
    sim = Sim(
        config(
            policy("http.svc"),
            healing={
                "budget_per_incident": 1,
                "critical_retry_secs": 1800,
                "hold_secs": 60,
                "warmup_secs": 1,
            },
        )
    )
    for _ in range(200):  # 2000 s down
        sim.tick(down("http.svc"))
    restarts = sim.kinds(ActionKind.RESTART_SERVICE)
    assert sim.state.node in (
        NodeState.SOS,
        NodeState.CRITICAL,
        NodeState.HOLD,
        NodeState.VERIFYING,
    )
    assert 2 <= len(restarts) <= 3  # the budget of 1, then a retry per 1800 s while critical


def test_r17_one_sos_per_incident_per_four_hours_unless_worse() -> None:
    sim = Sim(
        config(
            policy("http.svc"),
            policy(RUNTIME, layer="runtime", cls="infra"),
            healing={"hold_secs": 86_400},
        )
    )
    for _ in range(6 * 60):  # six hours, a tick a minute
        sim.tick(down("http.svc"), up(RUNTIME), dt=60)
    assert len(sim.kinds(ActionKind.SOS)) == 2  # at 15 min, and 4 h later
    sim.tick(down("http.svc"), down(RUNTIME), dt=60)  # worse: the runtime falls too
    sim.tick(down("http.svc"), down(RUNTIME), dt=60)
    assert len(sim.kinds(ActionKind.SOS)) == 3


def test_r18_one_incident_from_first_failure_to_verified_recovery() -> None:
    sim = Sim(config(policy("http.svc", threshold=2)))
    for _ in range(10):
        sim.tick(down("http.svc", ErrorKind.TIMEOUT))
    for _ in range(25):
        sim.tick(up("http.svc"))
    assert len({a.incident_id for a in sim.actions}) == 1
    assert sim.state.last_closed is not None
    assert sim.state.last_closed.outcome == "recovered"


def test_green_again_after_a_hold_is_proven_then_closed_not_stuck() -> None:
    """After a failed recovery's hold ends, green probes lead to a verified close."""
    sim = _runtime_sim(healing={"hold_secs": 100})
    for _ in range(2):
        sim.tick(down(RUNTIME))
    for _ in range(13):
        sim.tick(up(RUNTIME), up("http.svc"))
    sim.tick(down(RUNTIME))
    assert sim.state.node is NodeState.HOLD
    for _ in range(30):
        sim.tick(up(RUNTIME), up("http.svc"))
    assert sim.state.node is NodeState.HEALTHY
    assert sim.state.last_closed is not None
    assert sim.state.last_closed.outcome == "recovered"
    assert len(sim.kinds(ActionKind.FORCE_CYCLE)) == 1


def test_the_warmup_counts_from_when_the_heal_finished_not_from_its_decision() -> None:
    """A heal that takes 100 s (a force-cycle can take minutes) still gets its full warmup:
    the done outcome carries when it ended."""
    cfg = config(policy("http.svc"))
    decided = 1_000.0
    emitted = step(CoreState(), Report((down("http.svc"),), stamp="t1"), (), decided, cfg)
    [restart] = [a for a in emitted.actions if a.kind is ActionKind.RESTART_SERVICE]
    assert emitted.state.node is NodeState.HEALING  # handed out, not yet verified
    assert emitted.state.verification is None
    done = ActionOutcome(restart.key, ActionStatus.DONE, "restarted", at=decided + 100)
    state = step(emitted.state, None, [done], decided + 100, cfg).state
    assert state.node is NodeState.VERIFYING
    assert state.verification is not None
    assert state.verification.warmup_until == decided + 100 + 120
    sim = Sim(cfg, now=decided + 100, state=state)
    sim.tick(down("http.svc"), dt=30)  # 130 s after the decision
    assert sim.state.node is NodeState.VERIFYING, "still warming up: a transient is tolerated"
    sim.tick(down("http.svc"), dt=100)  # warmup over and still down
    assert sim.state.node is NodeState.HOLD


def test_a_second_heal_done_later_extends_the_warmup_never_shortens_it() -> None:
    cfg = config(policy("http.a", restart_target="a"), policy("http.b", restart_target="b"))
    emitted = step(
        CoreState(), Report((down("http.a"), down("http.b")), stamp="t1"), (), 1_000.0, cfg
    )
    a, b = [x for x in emitted.actions if x.kind is ActionKind.RESTART_SERVICE]
    late = ActionOutcome(b.key, ActionStatus.DONE, at=1_050.0)
    early = ActionOutcome(a.key, ActionStatus.DONE, at=1_010.0)
    state = step(emitted.state, None, [late, early], 1_050.0, cfg).state
    assert state.verification is not None
    assert state.verification.warmup_until == 1_050.0 + 120


def test_a_path_denied_while_another_allowed_is_rbac_drift_not_split_brain() -> None:
    """RBAC seen mid-change: localhost says 'no', the VM path (asked a moment apart) 'yes'.
    The API answered on both paths, so no forward is broken: no bridge heal."""
    sim = Sim(
        config(
            policy("k8s.can_create", layer="cluster", cls="infra", check="can_i"),
            healing={"rbac_guard_manifest": "/etc/talon/rbac-guard.yaml"},
        )
    )
    seen = result(
        "k8s.can_create",
        True,
        paths=(path("localhost", False, ErrorKind.DENIED), path("vm", True)),
        endpoint="vm",
    )
    sim.tick(seen)
    assert sim.faults == {Fault.RBAC_DRIFT}
    assert [a.kind for a in sim.heals()] == [ActionKind.APPLY_RBAC_GUARD]
