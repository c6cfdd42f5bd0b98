"""Core scenarios with a fake clock, one per FAULTS.md row the core covers (F1-F6, F10, F11, F17, F18)."""

from __future__ import annotations

from talon.core import ActionKind, Facts, NodeState, Signal
from talon.errors import ErrorKind
from talon.faults import Fault
from tests.core.sim import Sim, config, down, path, policy, result, split, up

SERVICES = ("redis.redis", "http.inngest", "http.typesense")


def _stack(**kw: object) -> Sim:
    policies = [
        policy("tcp.runtime", layer="runtime", cls="infra", threshold=1),
        policy("k8s.api", layer="cluster", cls="infra", check="api"),
        *(policy(s, threshold=2) for s in SERVICES),
    ]
    return Sim(config(*policies, **kw))  # type: ignore[arg-type]


def _green(sim: Sim) -> list[object]:
    return [up("tcp.runtime"), up("k8s.api"), *(up(s) for s in SERVICES)]


def test_f01_split_brain_heals_the_bridge_only() -> None:
    sim = _stack()
    for _ in range(2):
        sim.tick(up("tcp.runtime"), up("k8s.api"), *(split(s) for s in SERVICES))
    assert sim.faults == {Fault.SPLIT_BRAIN}
    heals = sim.heals()
    assert [(a.kind, a.target) for a in heals] == [(ActionKind.BRIDGE_HEAL, "runtime")]
    assert sim.state.node is NodeState.VERIFYING
    assert not sim.kinds(ActionKind.RESTART_SERVICE)
    assert not sim.kinds(ActionKind.HEAL_SCRIPT)
    assert not sim.kinds(ActionKind.FORCE_CYCLE)
    # warmup 120 s, then 6 green checks over 90 s: recovered, incident closed
    for _ in range(25):
        sim.tick(*_green(sim))
    assert sim.state.node is NodeState.HEALTHY
    assert sim.state.last_closed is not None
    assert sim.state.last_closed.outcome == "recovered"
    assert len(sim.heals()) == 1


def test_f02_a_flap_shorter_than_the_debounce_is_not_escalated() -> None:
    sim = _stack()
    sim.tick(
        up("tcp.runtime"),
        up("k8s.api"),
        split("redis.redis"),
        up("http.inngest"),
        up("http.typesense"),
    )
    assert sim.state.node is NodeState.DEGRADED
    sim.tick(*_green(sim))
    assert sim.state.node is NodeState.HEALTHY
    assert [a for a in sim.actions if a.tier] == []
    assert sim.state.last_closed is not None
    assert sim.state.last_closed.outcome == "resolved_without_action"


def test_f03_service_really_down_restarts_that_service_only() -> None:
    sim = _stack()
    for _ in range(2):
        sim.tick(
            up("tcp.runtime"),
            up("k8s.api"),
            down("redis.redis"),
            up("http.inngest"),
            up("http.typesense"),
        )
    assert sim.faults == {Fault.SERVICE_DOWN}
    assert [(a.kind, a.target) for a in sim.heals()] == [
        (ActionKind.RESTART_SERVICE, "redis.redis")
    ]


def test_f04_runtime_down_one_force_cycle_after_confirmation_then_verified() -> None:
    sim = _stack()
    sim.tick(down("tcp.runtime"), down("k8s.api"), *(down(s) for s in SERVICES))
    assert sim.faults == {Fault.RUNTIME_DOWN}  # everything above it is explained (F18)
    assert not sim.kinds(ActionKind.FORCE_CYCLE)  # one tick is not enough (R13)
    sim.tick(down("tcp.runtime"), down("k8s.api"), *(down(s) for s in SERVICES))
    assert len(sim.kinds(ActionKind.FORCE_CYCLE)) == 1
    assert sim.state.node is NodeState.VERIFYING
    # during warmup the runtime is still coming up: tolerated, no second force-cycle
    for _ in range(5):
        sim.tick(down("tcp.runtime", ErrorKind.REFUSED), *(down(s) for s in ("k8s.api", *SERVICES)))
    for _ in range(30):
        sim.tick(*_green(sim))
    assert len(sim.kinds(ActionKind.FORCE_CYCLE)) == 1
    assert sim.state.signal is Signal.STABLE


def test_f05_restart_that_regresses_is_a_failed_recovery_with_a_hold() -> None:
    sim = _stack()
    for _ in range(2):
        sim.tick(down("tcp.runtime"), *(down(s) for s in ("k8s.api", *SERVICES)))
    for _ in range(13):  # past the 120 s warmup, green
        sim.tick(*_green(sim))
    sim.tick(down("tcp.runtime"), *(down(s) for s in ("k8s.api", *SERVICES)))  # regresses
    assert sim.state.node is NodeState.HOLD
    assert sim.state.signal is Signal.FAILED_RECOVERY
    assert sim.state.failed_recovery_at == sim.now
    assert sim.kinds(ActionKind.PERSIST_MARKER)
    assert any(
        a.detail == "" and "failed recovery" in a.reason for a in sim.kinds(ActionKind.NOTIFY)
    )
    assert any(a.reason == "recovery regressed" for a in sim.kinds(ActionKind.CAPTURE_EVIDENCE))
    for _ in range(100):  # 1000 s of a dead runtime inside the 1800 s hold
        sim.tick(down("tcp.runtime"), *(down(s) for s in ("k8s.api", *SERVICES)))
    assert len(sim.kinds(ActionKind.FORCE_CYCLE)) == 1
    assert not sim.kinds(ActionKind.HEAL_SCRIPT)
    agents = sim.kinds(ActionKind.AGENT_CLOUD)  # tier 1 is held: the agent tier takes over
    assert 1 <= len(agents) <= 2  # 1000 s at a 600 s cooldown
    assert sim.state.node is NodeState.HOLD  # the hold is not lifted by handing over


def test_f04_an_api_server_still_booting_in_the_warmup_is_not_a_failed_recovery() -> None:
    """Seen in the lab: the VM is back, the API server refuses while it boots (R9)."""
    sim = _stack()
    for _ in range(2):
        sim.tick(down("tcp.runtime"), *(down(s) for s in ("k8s.api", *SERVICES)))
    assert [a.kind for a in sim.heals()] == [ActionKind.FORCE_CYCLE]
    booting = result("k8s.api", False, ErrorKind.REFUSED)
    sim.tick(up("tcp.runtime"), booting, *(down(s) for s in SERVICES))
    assert sim.state.node is NodeState.VERIFYING
    for _ in range(25):
        sim.tick(*_green(sim))
    assert sim.state.last_closed is not None
    assert sim.state.last_closed.outcome == "recovered"


def test_f06_rbac_drift_is_repaired_by_the_guard_not_a_force_cycle() -> None:
    sim = Sim(
        config(
            policy("k8s.kubelet_proxy_rbac", layer="cluster", cls="infra", check="can_i"),
            policy("redis.redis", threshold=1),
            policy("redis.witness", witness_for="redis.redis"),
            healing={"rbac_guard_manifest": "/etc/talon/rbac-guard.yaml"},
        )
    )
    sim.tick(
        result("k8s.kubelet_proxy_rbac", False, ErrorKind.DENIED),
        result("redis.redis", False, ErrorKind.DENIED, paths=()),
        up("redis.witness"),
    )
    assert sim.faults == {Fault.RBAC_DRIFT}  # before split-brain (R11)
    assert [a.kind for a in sim.heals()] == [ActionKind.APPLY_RBAC_GUARD]
    # a hard fault is not tolerated by the warmup: still denied -> failed recovery at once
    sim.tick(
        result("k8s.kubelet_proxy_rbac", False, ErrorKind.DENIED),
        up("redis.redis"),
        up("redis.witness"),
    )
    assert sim.state.node is NodeState.HOLD
    assert not sim.kinds(ActionKind.FORCE_CYCLE)


def test_f10_aof_damage_escalates_with_the_repair_hint_and_never_restarts_redis() -> None:
    sim = Sim(
        config(
            policy("redis.redis", threshold=1),
            policy("script.aof_check", classify_as=Fault.REDIS_AOF_CORRUPT),
        )
    )
    for _ in range(20):
        sim.tick(down("redis.redis"), result("script.aof_check", False, ErrorKind.EXIT_CODE), dt=60)
    assert sim.faults == {Fault.REDIS_AOF_CORRUPT}
    assert not sim.kinds(ActionKind.RESTART_SERVICE)
    agents = sim.kinds(ActionKind.AGENT_CLOUD)
    assert agents
    assert "redis-check-aof" in agents[0].detail
    assert "--fix" in agents[0].detail
    assert len(agents) == 2  # 20 minutes, 600 s agent cooldown (R12)


def test_f11_vm_crash_loop_holds_force_cycles_and_escalates() -> None:
    sim = _stack()
    boots = 0
    for i in range(30):
        uptime = (i % 6) * 10.0 + 5  # a keeper restarts the VM; each boot dies after 60 s
        boots += uptime == 5
        runtime_ok = uptime < 50
        runtime = up("tcp.runtime") if runtime_ok else down("tcp.runtime")
        sim.tick(
            runtime, up("k8s.api"), *(up(s) for s in SERVICES), facts=Facts(runtime_uptime_s=uptime)
        )
    assert Fault.RUNTIME_CRASH_LOOP in {f for _, f, _ in sim.state.last_faults} or sim.state.hold
    assert sim.state.hold is not None
    assert sim.state.hold.reason is Fault.RUNTIME_CRASH_LOOP
    assert sim.state.signal is Signal.DEGRADED_HOLD
    assert len(sim.kinds(ActionKind.FORCE_CYCLE)) <= 1
    assert sim.kinds(ActionKind.AGENT_CLOUD)


def test_f17_network_down_hands_off_to_the_local_agent() -> None:
    remote = [policy(f"http.remote{i}", threshold=1) for i in range(3)]
    sim = Sim(config(*remote, policy("tcp.local", threshold=1)))
    remote_down = [
        result(
            f"http.remote{i}",
            False,
            ErrorKind.TIMEOUT,
            paths=(path("remote", False, ErrorKind.TIMEOUT),),
        )
        for i in range(3)
    ]
    local_up = result("tcp.local", True, paths=(path("localhost", True),), endpoint="localhost")
    for _ in range(10):
        sim.tick(*remote_down, local_up, dt=120)
    assert sim.faults == {Fault.NETWORK_DOWN}
    assert sim.kinds(ActionKind.AGENT_LOCAL)
    assert not sim.kinds(ActionKind.AGENT_CLOUD)
    assert not sim.heals()


def test_f18_one_layer_falling_is_one_incident_one_notification() -> None:
    sim = _stack()
    many = [policy(f"http.svc{i}", threshold=1) for i in range(12)]
    sim = Sim(config(*sim.config.probes.values(), *many))
    for _ in range(5):
        sim.tick(
            down("tcp.runtime"),
            down("k8s.api"),
            *(down(p.key) for p in many),
            *(down(s) for s in SERVICES),
        )
    assert sim.faults == {Fault.RUNTIME_DOWN}
    incidents = {a.incident_id for a in sim.actions}
    assert len(incidents) == 1
    assert len([a for a in sim.kinds(ActionKind.NOTIFY) if "opened" in a.key]) == 1


def test_f10_a_slower_aof_check_still_prevents_the_restart() -> None:
    """The AOF check escalates after 3 failures, redis after 2: no restart in between."""
    sim = Sim(
        config(
            policy("redis.redis", threshold=2),
            policy(
                "script.aof_check", critical=False, threshold=3, classify_as=Fault.REDIS_AOF_CORRUPT
            ),
        )
    )
    for _ in range(6):
        sim.tick(down("redis.redis"), result("script.aof_check", False, ErrorKind.EXIT_CODE), dt=60)
    assert not sim.kinds(ActionKind.RESTART_SERVICE)
    assert sim.faults == {Fault.REDIS_AOF_CORRUPT}
    assert sim.kinds(ActionKind.AGENT_CLOUD)


def test_f11_a_crash_loop_seen_while_verifying_ends_the_verification_in_a_hold() -> None:
    sim = _stack()
    for _ in range(2):
        sim.tick(down("tcp.runtime"), *(down(s) for s in ("k8s.api", *SERVICES)))
    assert sim.state.node is NodeState.VERIFYING
    uptimes = [5.0, 15.0, 5.0, 15.0, 5.0, 15.0]  # every boot dies young: a new one each 20 s
    for uptime in uptimes:
        sim.tick(*_green(sim), facts=Facts(runtime_uptime_s=uptime))
    assert sim.state.hold is not None
    assert sim.state.hold.reason is Fault.RUNTIME_CRASH_LOOP
    assert sim.state.signal is Signal.DEGRADED_HOLD
    assert len(sim.kinds(ActionKind.FORCE_CYCLE)) == 1


def test_f01_a_split_brain_of_the_cluster_api_explains_no_service_split_brain() -> None:
    """The API's forward died with the others: every finding is a root split-brain,
    not services "explained" by a cluster that answers fine on the VM."""
    sim = Sim(
        config(policy("k8s.api", layer="cluster", cls="infra", check="api"), policy("redis.redis"))
    )
    sim.tick(split("k8s.api"), split("redis.redis"))
    roots = {(p, f) for p, f, explained in sim.state.last_faults if not explained}
    assert roots == {("k8s.api", Fault.SPLIT_BRAIN), ("redis.redis", Fault.SPLIT_BRAIN)}
    assert [(a.kind, a.target) for a in sim.heals()] == [(ActionKind.BRIDGE_HEAL, "runtime")]


def test_f11_a_crash_loop_found_during_a_failed_recovery_hold_becomes_the_hold_reason() -> None:
    """The regression can win the race against the second short boot (seen in CI): the
    hold still ends up explained as the crash loop, and still holds force-cycles."""
    sim = _stack()
    for _ in range(2):
        sim.tick(down("tcp.runtime"), *(down(s) for s in ("k8s.api", *SERVICES)))
    for i in range(13):  # one long boot, green past the warmup
        sim.tick(*_green(sim), facts=Facts(runtime_uptime_s=500.0 + 10 * i))
    sim.tick(down("tcp.runtime"), *(down(s) for s in ("k8s.api", *SERVICES)))
    assert sim.state.hold is not None
    assert sim.state.hold.reason is Fault.FAILED_RECOVERY
    until = sim.state.hold.until
    for uptime in [5.0, 15.0, 5.0, 15.0, 5.0, 15.0]:
        sim.tick(*_green(sim), facts=Facts(runtime_uptime_s=uptime))
    assert sim.state.hold.reason is Fault.RUNTIME_CRASH_LOOP
    assert sim.state.hold.until >= until  # never shortened
    assert sim.state.signal is Signal.DEGRADED_HOLD
    assert sim.state.incident is not None
    assert {Fault.FAILED_RECOVERY, Fault.RUNTIME_CRASH_LOOP} <= set(sim.state.incident.faults)
    assert len(sim.kinds(ActionKind.FORCE_CYCLE)) == 1
