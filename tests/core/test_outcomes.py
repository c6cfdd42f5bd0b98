"""Outcomes and capabilities are inputs (FAULTS.md F20, F21, F23; R19): the core believes
only what the shell saw an action come to, and chooses heals this node's platform can do."""

from __future__ import annotations

from dataclasses import replace

from talon.capabilities import Capability
from talon.core import (
    Action,
    ActionKind,
    ActionOutcome,
    ActionStatus,
    CoreState,
    Facts,
    NodeState,
    Platform,
    Report,
    Step,
    step,
)
from talon.faults import Fault
from tests.core.sim import Sim, config, down, policy, split, up

SERVICES = ("redis.redis", "http.inngest")
COLIMA = Platform(  # colima's runtime and launchd: no forwarder-only restart
    frozenset(
        {
            Capability.FORCE_CYCLE,
            Capability.VM_SHELL,
            Capability.UPTIME,
            Capability.RESTART_SERVICE,
        }
    ),
    runtime="colima",
    process_manager="launchd",
)
ENGINE = Platform(
    frozenset({Capability.RESTART_SERVICE}),
    runtime="docker",
    process_manager="systemd",
    engine_service="docker.service",
)
BARE = Platform(frozenset(), runtime="docker", process_manager="null")


def _stack(platform: Platform | None = None, **kw: object) -> Sim:
    policies = [
        policy("tcp.runtime", layer="runtime", cls="infra", threshold=1),
        *(policy(s, threshold=2) for s in SERVICES),
    ]
    cfg = config(*policies, **kw)  # type: ignore[arg-type]
    return Sim(replace(cfg, platform=platform or cfg.platform))


def _split(sim: Sim) -> list[object]:
    return sim.tick(up("tcp.runtime"), *(split(s) for s in SERVICES))


def _runtime_down(sim: Sim) -> list[object]:
    return sim.tick(down("tcp.runtime"), *(down(s) for s in SERVICES))


def _kinds(sim: Sim) -> list[ActionKind]:
    return [a.kind for a in sim.heals()]


# F20: the platform cannot do a heal ---------------------------------------------------


def test_f20_split_brain_on_colima_is_healed_by_the_force_cycle_not_the_bridge() -> None:
    sim = _stack(COLIMA)
    _split(sim)
    assert not sim.heals()  # the debounce
    _split(sim)  # two unhealthy ticks by now: the confirmation is met (R13)
    assert _kinds(sim) == [ActionKind.FORCE_CYCLE]
    assert sim.faults == {Fault.SPLIT_BRAIN}
    assert sim.state.node is NodeState.VERIFYING


def test_f20_the_force_cycle_for_split_brain_keeps_its_gates() -> None:
    """A single unhealthy tick never force-cycles (R13), and a hold stops it (R15)."""
    sim = _stack(COLIMA, healing={"force_cycle_confirm_ticks": 3})
    _split(sim)
    _split(sim)
    assert not sim.heals()
    assert any(d.rule == "force_cycle_confirmation" for d in sim.state.incident.trail)  # type: ignore[union-attr]
    _split(sim)
    assert _kinds(sim) == [ActionKind.FORCE_CYCLE]


def test_f20_a_refused_bridge_heal_is_followed_in_the_same_cycle_by_the_force_cycle() -> None:
    sim = _stack()  # the platform claims it can restart the forwards ...
    sim.script[ActionKind.BRIDGE_HEAL] = ActionStatus.REFUSED  # ... and refuses at run time
    _split(sim)
    out = _split(sim)
    kinds = [a.kind for a in out if a.tier and a.tier.startswith("1")]
    assert kinds == [ActionKind.BRIDGE_HEAL, ActionKind.FORCE_CYCLE]  # one cycle, both
    incident = sim.state.incident
    assert incident is not None
    assert ActionKind.BRIDGE_HEAL in incident.refused
    assert any(d.outcome == "refused" for d in incident.trail)
    assert sim.state.node is NodeState.VERIFYING  # the force-cycle ran to the end
    assert sim.state.hold is None
    for _ in range(5):
        _split(sim)  # still split after the force-cycle: never the bridge again
    assert _kinds(sim).count(ActionKind.BRIDGE_HEAL) == 1


def test_f20_a_refused_heal_is_never_verified_nor_a_failed_recovery() -> None:
    sim = _stack(BARE)
    sim.script = {k: ActionStatus.REFUSED for k in ActionKind}
    for _ in range(30):
        _runtime_down(sim)
    assert sim.state.verification is None
    assert sim.state.hold is None
    assert sim.state.failed_recovery_at is None
    assert not sim.kinds(ActionKind.PERSIST_MARKER)


def test_f20_a_native_engine_that_is_down_is_restarted_through_its_process_manager() -> None:
    sim = _stack(ENGINE)
    _runtime_down(sim)
    assert not sim.heals()  # one unhealthy tick is not enough (R13)
    _runtime_down(sim)
    assert [(a.kind, a.target) for a in sim.heals()] == [
        (ActionKind.RESTART_ENGINE, "docker.service")
    ]
    assert not sim.kinds(ActionKind.FORCE_CYCLE)


def test_f20_a_runtime_nobody_here_can_restart_is_escalated_at_once() -> None:
    sim = _stack(BARE)
    _runtime_down(sim)
    assert not sim.heals()
    assert sim.kinds(ActionKind.AGENT_CLOUD)  # no heal exists here: the agent tier acts
    trail = sim.state.incident.trail  # type: ignore[union-attr]
    said = [d.reason for d in trail if d.rule == "platform"]
    assert said
    assert "force_cycle needs force_cycle, which docker does not offer" in said[0]


def test_f20_no_process_manager_means_no_restart_a_dead_service_escalates() -> None:
    sim = _stack(BARE)
    for _ in range(2):
        sim.tick(up("tcp.runtime"), down("redis.redis"), up("http.inngest"))
    assert not sim.kinds(ActionKind.RESTART_SERVICE)
    assert sim.kinds(ActionKind.AGENT_CLOUD)


def test_f20_a_refusal_is_remembered_for_the_incident_only() -> None:
    sim = _stack()
    sim.script[ActionKind.BRIDGE_HEAL] = ActionStatus.REFUSED
    for _ in range(2):
        _split(sim)
    assert sim.kinds(ActionKind.FORCE_CYCLE)
    for _ in range(40):  # recovered and closed
        sim.tick(up("tcp.runtime"), *(up(s) for s in SERVICES))
    assert sim.state.last_closed is not None
    assert sim.state.last_closed.outcome == "recovered"
    sim.script[ActionKind.BRIDGE_HEAL] = ActionStatus.DONE  # e.g. a fixed tool
    for _ in range(2):
        _split(sim)
    assert sim.state.incident is not None
    assert sim.kinds(ActionKind.BRIDGE_HEAL)[-1].incident_id == sim.state.incident.id


# failed, timed out: an attempt, not a failed recovery ----------------------------------


def test_a_failed_heal_cools_down_escalates_and_is_not_a_failed_recovery() -> None:
    sim = Sim(config(policy("http.svc"), healing={"restart_cooldown_secs": 300}))
    sim.script[ActionKind.RESTART_SERVICE] = ActionStatus.FAILED
    out = sim.tick(down("http.svc"))
    assert [
        a.kind for a in out if a.kind in (ActionKind.RESTART_SERVICE, ActionKind.AGENT_CLOUD)
    ] == [
        ActionKind.RESTART_SERVICE,
        ActionKind.AGENT_CLOUD,  # the tier failed: a higher tier may act in the same cycle
    ]
    for _ in range(20):  # 200 s: inside the 300 s cooldown
        sim.tick(down("http.svc"))
    assert len(sim.kinds(ActionKind.RESTART_SERVICE)) == 1
    assert sim.state.hold is None
    assert sim.state.failed_recovery_at is None
    assert sim.state.node is not NodeState.VERIFYING


def test_a_timed_out_force_cycle_is_an_attempt_with_its_cooldown() -> None:
    sim = _stack(COLIMA)
    sim.script[ActionKind.FORCE_CYCLE] = ActionStatus.TIMEOUT
    for _ in range(60):  # 600 s of a dead runtime, a 900 s force-cycle cooldown
        _runtime_down(sim)
    assert len(sim.kinds(ActionKind.FORCE_CYCLE)) == 1
    assert sim.state.verification is None
    assert sim.state.hold is None


# F21: Talon stopped mid-heal -----------------------------------------------------------


RUNTIME_ONLY = config(policy("tcp.runtime", layer="runtime", cls="infra"))
RED = Report((down("tcp.runtime"),), stamp="t1")


def _force_cycle_handed_out() -> tuple[Step, Action]:
    """Two red cycles: the force-cycle is handed to the shell; its outcome is awaited."""
    s1 = step(CoreState(), RED, (), 1_000.0, RUNTIME_ONLY)
    s2 = step(s1.state, replace(RED, stamp="t2"), (), 1_010.0, RUNTIME_ONLY)
    [cycle] = [a for a in s2.actions if a.kind is ActionKind.FORCE_CYCLE]
    return s2, cycle


def test_f21_an_interrupted_heal_is_issued_again_under_a_new_key_if_the_fault_persists() -> None:
    s2, cycle = _force_cycle_handed_out()
    assert s2.state.node is NodeState.HEALING
    # Talon was SIGKILLed while it ran; the next Talon found its begin without an end.
    lost = ActionOutcome(cycle.key, ActionStatus.INTERRUPTED, "Talon stopped while this ran")
    s3 = step(s2.state, replace(RED, stamp="t3"), [lost], 1_060.0, RUNTIME_ONLY)
    [again] = [a for a in s3.actions if a.kind is ActionKind.FORCE_CYCLE]
    assert again.key != cycle.key
    assert again.key.endswith("/2")  # the next attempt, not the same key
    assert s3.state.verification is None  # nothing to verify: it never ran to the end
    assert any(d.outcome == "interrupted" for d in s3.state.incident.trail)  # type: ignore[union-attr]


def test_f21_a_cancelled_heal_whose_fault_is_gone_closes_as_resolved_not_recovered() -> None:
    s2, cycle = _force_cycle_handed_out()
    cancelled = ActionOutcome(cycle.key, ActionStatus.CANCELLED, "Talon is shutting down")
    green = Report((up("tcp.runtime"),), stamp="t3")
    s3 = step(s2.state, green, [cancelled], 1_060.0, RUNTIME_ONLY)
    assert s3.state.incident is None
    assert s3.changes.closed is not None
    assert s3.changes.closed.outcome == "resolved"  # a heal was tried; none was verified
    assert not s3.changes.closed.healed


def test_f21_a_runtime_heal_waits_while_another_holds_the_runtime_lock() -> None:
    """R19: a heal script that outlived a SIGKILLed Talon still holds the lock."""
    sim = _stack(COLIMA)
    busy = Facts(runtime_lock_holder='{"pid": 4242, "who": "talon n1-t2/1b/force_cycle/1"}')
    for _ in range(5):
        sim.tick(down("tcp.runtime"), *(down(s) for s in SERVICES), facts=busy)
    assert not sim.heals()
    assert not sim.kinds(ActionKind.AGENT_CLOUD)  # waiting on a heal at work: no escalation
    rules = {d.rule for d in sim.state.incident.trail}  # type: ignore[union-attr]
    assert "runtime_busy" in rules
    warmup = sim.config.healing.warmup_secs
    _runtime_down(sim)  # the lock is free again: what its holder did gets a warmup first
    assert not sim.heals()
    sim.tick(down("tcp.runtime"), *(down(s) for s in SERVICES), dt=warmup)
    assert _kinds(sim) == [ActionKind.FORCE_CYCLE]  # still down after it: our turn


def test_services_still_coming_up_after_another_healers_cycle_are_not_restarted() -> None:
    """F14's neighbour, measured on a loaded box: the survivor's force-cycle ends, the VM
    answers, its services need a cycle or two more. They are not down: no restart, and an
    incident that turns green closes without a heal of ours."""
    sim = _stack(COLIMA)
    busy = Facts(runtime_lock_holder='{"pid": 4242, "who": "talon n1-t2/1b/heal_script/1"}')
    for _ in range(3):
        sim.tick(down("tcp.runtime"), *(down(s) for s in SERVICES), facts=busy)
    for _ in range(3):  # the lock is free, the VM is up, its services not yet
        sim.tick(up("tcp.runtime"), *(down(s) for s in SERVICES), dt=5.0)
    assert not sim.heals()
    trail = sim.state.incident.trail  # type: ignore[union-attr]
    assert any(d.rule == "warmup" and d.outcome == "blocked" for d in trail)
    sim.tick(up("tcp.runtime"), *(up(s) for s in SERVICES))
    assert sim.state.last_closed is not None
    assert sim.state.last_closed.outcome == "resolved_without_action"


def test_a_service_still_down_after_that_warmup_is_restarted() -> None:
    sim = _stack(COLIMA)
    sim.tick(up("tcp.runtime"), *(up(s) for s in SERVICES), facts=Facts(runtime_lock_holder="x"))
    sim.tick(up("tcp.runtime"), down("redis.redis"), up("http.inngest"))
    sim.tick(up("tcp.runtime"), down("redis.redis"), up("http.inngest"))
    assert not sim.heals()  # within the warmup of the action that held the lock
    sim.tick(up("tcp.runtime"), down("redis.redis"), up("http.inngest"), dt=120)
    assert _kinds(sim) == [ActionKind.RESTART_SERVICE]


def test_a_runtime_lock_held_elsewhere_holds_a_service_restart_too() -> None:
    """Measured (F14 on a loaded box): the survivor's force-cycle had the VM answering and
    its services not yet up, and three service restarts went into the middle of it."""
    sim = _stack(COLIMA)
    busy = Facts(runtime_lock_holder="someone")
    for _ in range(4):
        sim.tick(up("tcp.runtime"), down("redis.redis"), up("http.inngest"), facts=busy)
    assert not sim.heals()
    assert not sim.kinds(ActionKind.AGENT_CLOUD)  # waiting on work in progress
    trail = sim.state.incident.trail  # type: ignore[union-attr]
    assert any(d.rule == "runtime_busy" and "restart_service" in d.reason for d in trail)


def test_a_skipped_heal_is_not_verified() -> None:
    """Shadow mode, or a heal not run because its journal record could not be written."""
    sim = Sim(config(policy("http.svc")))
    sim.script[ActionKind.RESTART_SERVICE] = ActionStatus.SKIPPED
    for _ in range(3):
        sim.tick(down("http.svc"))
    assert sim.state.verification is None
    sim.tick(up("http.svc"))
    assert sim.state.last_closed is not None
    assert sim.state.last_closed.outcome == "resolved"


# F23: state lost ---------------------------------------------------------------------


def test_f23_after_state_loss_a_new_incident_has_a_new_id_and_new_keys() -> None:
    sim = Sim(config(policy("http.svc")))
    sim.tick(down("http.svc"))
    first = sim.state.incident
    assert first is not None
    keys = {a.key for a in sim.actions}
    sim.state = CoreState()  # state.json deleted, or quarantined (F15)
    sim.tick(down("http.svc"))
    second = sim.state.incident
    assert second is not None
    assert second.id != first.id
    assert not keys & {a.key for a in sim.actions[len(keys) :]}
    assert any(a.kind is ActionKind.NOTIFY for a in sim.actions[len(keys) :])
    assert any(a.kind is ActionKind.RESTART_SERVICE for a in sim.actions[len(keys) :])


# what a step changed -------------------------------------------------------------------


def test_a_step_says_what_it_changed() -> None:
    cfg = config(policy("http.svc"))
    opened = step(CoreState(), Report((down("http.svc"),), stamp="a"), (), 100.0, cfg)
    assert opened.changes.opened is not None
    assert opened.changes.opened.id == "n1-a"
    assert opened.changes.node == (NodeState.HEALTHY, NodeState.HEALING)
    assert [d.rule for _, d in opened.changes.decisions]
    quiet = step(opened.state, None, (), 101.0, cfg)
    assert not quiet.changes.any
    assert quiet.state == opened.state
