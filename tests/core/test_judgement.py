"""Judgement at the edges (issue 19), one test per FAULTS.md row F26-F29 and their
neighbours: a probe that cannot tell, the API server down behind a live forward, an
operator's intent, a fault healed again and again, and who is told what."""

from __future__ import annotations

from dataclasses import replace

from talon.core import ActionKind, ActionStatus, Facts, NodeState, Signal, clear_hold, pause, resume
from talon.errors import ErrorKind
from talon.faults import Fault
from talon.report import ProbeResult, Status
from tests.core.sim import Sim, config, down, policy, result, up

DAY = 86_400.0
BOOT = 1_000_000.0 - DAY  # the VM of these scenarios booted a day before they start


def vm_up(sim: Sim, dt: float = 10.0) -> Facts:
    """The VM's uptime as the next tick reads it: the same boot, a little older."""
    return Facts(runtime_uptime_s=sim.now + dt - BOOT)


def unknown(key: str, error: ErrorKind = ErrorKind.EXIT_CODE) -> ProbeResult:
    return replace(result(key, False, error, status=Status.UNKNOWN), message="UNKNOWN - no idea")


def warning(key: str, error: ErrorKind = ErrorKind.EXIT_CODE) -> ProbeResult:
    return result(key, False, error, status=Status.WARNING)


def _notices(sim: Sim) -> list[str]:
    return [a.reason for a in sim.kinds(ActionKind.NOTIFY)]


def _trail(sim: Sim, rule: str) -> list[str]:
    incident = sim.state.incident or sim.state.last_closed
    assert incident is not None
    return [d.reason for d in incident.trail if d.rule == rule]


# F26: a probe that cannot tell ---------------------------------------------------------


def test_f26_a_plugin_that_exits_unknown_is_reported_and_escalated_never_restarted() -> None:
    sim = Sim(config(policy("script.web", threshold=2), critical_threshold_secs=DAY))
    for _ in range(20):
        sim.tick(unknown("script.web"))
    assert sim.heals() == []
    assert sim.faults == {Fault.SERVICE_DOWN}
    assert sim.state.findings[0].unknown
    assert "cannot tell" in _notices(sim)[0]  # notified, and said for what it is
    assert sim.kinds(ActionKind.AGENT_CLOUD)  # escalated: a human or the agent looks
    assert any("never the sole ground" in why for why in _trail(sim, "unknown"))


def test_f26_an_unknown_is_not_the_sole_ground_but_a_critical_beside_it_still_heals() -> None:
    policies = [
        policy("script.web", threshold=2, restart_target="web"),
        policy("http.web", threshold=2, restart_target="web"),
    ]
    sim = Sim(config(*policies))
    for _ in range(2):
        sim.tick(unknown("script.web"), down("http.web"))
    assert [(a.kind, a.target) for a in sim.heals()] == [(ActionKind.RESTART_SERVICE, "web")]


def test_f26_a_sustained_warning_informs_and_never_heals() -> None:
    sim = Sim(config(policy("script.web", threshold=1)))
    for _ in range(30):
        actions = sim.tick(warning("script.web"))
        assert not [a for a in actions if a.tier]
    assert sim.state.incident is None
    assert sim.state.node is NodeState.HEALTHY


def test_f26_a_missing_kubectl_is_this_nodes_tooling_never_the_clusters() -> None:
    policies = [
        policy("k8s.api", layer="cluster", cls="infra", check="api"),
        policy("k8s.node", layer="cluster", cls="infra", check="node_ready"),
        policy("http.web", threshold=2),
    ]
    sim = Sim(config(*policies, heal_script=True, critical_threshold_secs=DAY))
    missing = ErrorKind.TOOL_MISSING
    for _ in range(30):
        sim.tick(unknown("k8s.api", missing), unknown("k8s.node", missing), up("http.web"))
    assert sim.faults == {Fault.NODE_TOOLING}
    assert not sim.kinds(ActionKind.HEAL_SCRIPT)
    assert sim.heals() == []
    (agent,) = sim.kinds(ActionKind.AGENT_CLOUD)
    assert "UNKNOWN - no idea" in agent.detail  # the probe's own words: which tool, which PATH


def test_f26_a_runtime_probe_that_cannot_tell_never_force_cycles() -> None:
    sim = Sim(config(policy("runtime.vm", layer="runtime", cls="infra")))
    for _ in range(20):
        sim.tick(unknown("runtime.vm", ErrorKind.UNAVAILABLE))
    assert not sim.kinds(ActionKind.FORCE_CYCLE)
    assert sim.state.unhealthy_runtime_ticks == ()


def test_f26_an_unknown_during_the_durability_window_is_no_regression() -> None:
    quick = {"warmup_secs": 10, "durability_checks": 2, "durability_window_secs": 10}
    sim = Sim(config(policy("http.web"), policy("script.web"), healing=quick))
    sim.tick(down("http.web"), up("script.web"))
    assert sim.state.node is NodeState.VERIFYING
    for _ in range(3):
        sim.tick(up("http.web"), unknown("script.web"))
    assert sim.state.hold is None
    assert sim.state.node is NodeState.VERIFYING  # nor a green check: it cannot tell
    for _ in range(3):
        sim.tick(up("http.web"), up("script.web"))
    assert sim.state.last_closed is not None
    assert sim.state.last_closed.outcome == "recovered"


# F27: the API server down behind a live forward ----------------------------------------

CLUSTER = (
    policy("runtime.vm", layer="runtime", cls="infra"),
    policy("k8s.api", layer="cluster", cls="infra", check="api", threshold=2),
    policy("k8s.node", layer="cluster", cls="infra", check="node_ready", threshold=2),
    policy("k8s.flannel", layer="cluster", cls="infra", check="daemonset", threshold=2),
    policy("http.web", threshold=2),
)


def _api_down(sim: Sim) -> None:
    eof = ErrorKind.EMPTY_REPLY  # the forward accepts; nothing behind it answers
    sim.tick(
        up("runtime.vm"),
        down("k8s.api", eof),
        down("k8s.node", eof),
        down("k8s.flannel", eof),
        down("http.web"),
        facts=vm_up(sim),
    )


def test_f27_the_api_server_down_is_the_headline_and_explains_node_and_daemonset() -> None:
    sim = Sim(config(*CLUSTER))
    for _ in range(2):
        _api_down(sim)
    roots = sim.state.roots
    assert [f.fault for f in roots] == [Fault.CLUSTER_DOWN]
    explained = {f.probe for f in sim.state.findings if f.explained}
    assert explained == {"k8s.node", "k8s.flannel", "http.web"}
    (opened,) = _notices(sim)
    assert opened.startswith("cluster_down on k8s.api")
    assert "node_not_ready (k8s.node)" in opened.split("explains", 1)[1]


def test_f27_with_a_heal_script_the_api_server_down_runs_it() -> None:
    sim = Sim(config(*CLUSTER, heal_script=True, cloud_agent=False, local_agent=False))
    for _ in range(4):
        _api_down(sim)
    assert [(a.kind, a.target) for a in sim.heals()] == [(ActionKind.HEAL_SCRIPT, "cluster")]


def test_f27_without_a_heal_script_the_agent_tier_runs() -> None:
    sim = Sim(config(*CLUSTER))
    for _ in range(3):
        _api_down(sim)
    assert sim.heals() == []
    assert sim.kinds(ActionKind.AGENT_CLOUD)


def test_f27_the_api_server_unreachable_is_a_hard_fault_inside_warmup() -> None:
    """A service restart ran to the end; the VM under the API server has been up for a day:
    the API server unreachable now fails the recovery at once, warmup or not (seed 000)."""
    sim = Sim(config(*CLUSTER))
    for _ in range(2):
        sim.tick(
            up("runtime.vm"),
            up("k8s.api"),
            up("k8s.node"),
            up("k8s.flannel"),
            down("http.web"),
            facts=vm_up(sim),
        )
    assert sim.state.node is NodeState.VERIFYING
    for _ in range(2):
        _api_down(sim)
    assert sim.state.hold is not None
    assert sim.state.hold.reason is Fault.FAILED_RECOVERY
    assert any("hard fault during warmup: cluster_down" in r for r in _trail(sim, "verify"))


def test_f27_neighbour_after_a_vm_boot_the_api_server_still_starting_is_tolerated() -> None:
    sim = Sim(config(*CLUSTER))
    sim.tick(down("runtime.vm"), facts=vm_up(sim))
    assert sim.kinds(ActionKind.FORCE_CYCLE) == []  # one tick is not confirmation (R13)
    sim.tick(down("runtime.vm"), facts=vm_up(sim))
    assert sim.kinds(ActionKind.FORCE_CYCLE)
    for i in range(3):
        sim.tick(
            up("runtime.vm"),
            down("k8s.api"),
            down("k8s.node"),
            down("k8s.flannel"),
            down("http.web"),
            facts=Facts(runtime_uptime_s=20 + 10 * i),  # a fresh boot, growing older
        )
    assert sim.state.hold is None
    assert sim.state.node is NodeState.VERIFYING


# F28: an operator's intent -------------------------------------------------------------


def test_f28_a_pause_stops_heals_agents_and_sos_and_ends_by_itself() -> None:
    sim = Sim(config(policy("http.web", threshold=2), critical_threshold_secs=60))
    sim.state = pause(sim.state, sim.now, sim.now + 600, "ops@box").state
    while sim.now < 1_000_000 + 590:
        sim.tick(down("http.web"))
    assert [a for a in sim.actions if a.tier] == []  # no heal, no agent, no SOS
    assert sim.state.incident is not None  # but the failure is seen and recorded
    assert any("paused by ops@box" in r for r in _trail(sim, "pause"))
    for _ in range(3):
        sim.tick(down("http.web"))
    assert sim.state.pauses == ()
    assert sim.kinds(ActionKind.RESTART_SERVICE)  # the pause ended: healing resumed


def test_f28_a_probe_pause_covers_that_probe_only() -> None:
    sim = Sim(config(policy("http.web"), policy("http.api")))
    sim.state = pause(sim.state, sim.now, sim.now + 3600, "ops", probe="http.web").state
    sim.tick(down("http.web"), down("http.api"))
    assert [a.target for a in sim.heals()] == ["http.api"]


def test_f28_resume_ends_a_pause_at_once() -> None:
    sim = Sim(config(policy("http.web")))
    sim.state = pause(sim.state, sim.now, sim.now + 3600, "ops", probe="http.web").state
    for _ in range(3):
        sim.tick(down("http.web"))
    assert sim.heals() == []
    sim.state = resume(sim.state, sim.now, "ops").state
    assert sim.state.pauses == ()
    sim.tick(down("http.web"))
    assert [a.target for a in sim.heals()] == ["http.web"]


def test_f28_a_service_an_operator_stopped_is_not_restarted() -> None:
    sim = Sim(config(policy("service.web")))
    stopped = warning("service.web", ErrorKind.STOPPED)
    for _ in range(10):
        sim.tick(stopped)
    assert sim.heals() == []
    assert sim.state.incident is None


# F29: healed again and again -----------------------------------------------------------

QUICK = {"warmup_secs": 10, "durability_checks": 2, "durability_window_secs": 10}


def _outage_and_recovery(sim: Sim) -> None:
    sim.tick(down("http.web"))
    for _ in range(4):
        sim.tick(up("http.web"))
    sim.now += 3600 - 50  # an hour later


def test_f29_the_same_heal_again_and_again_becomes_a_failed_recovery_with_history() -> None:
    sim = Sim(config(policy("http.web"), healing=QUICK))
    for _ in range(3):
        _outage_and_recovery(sim)
    assert len(sim.heals()) == 3
    sim.tick(down("http.web"))
    assert len(sim.heals()) == 3  # held: not a fourth restart
    assert sim.state.held_heals.keys() == {"restart_service:http.web"}
    assert sim.state.signal is Signal.FAILED_RECOVERY
    (notice,) = [n for n in _notices(sim) if "recurrence" in n]
    assert "after 3 heals" in notice
    assert "ago" in notice  # the history is in the message
    assert sim.kinds(ActionKind.PERSIST_MARKER)
    assert sim.kinds(ActionKind.AGENT_CLOUD)
    assert any(a.reason == "recurrence" for a in sim.kinds(ActionKind.CAPTURE_EVIDENCE))


def test_f29_neighbours_other_targets_still_heal_and_hold_clear_forgets_the_history() -> None:
    sim = Sim(config(policy("http.web"), policy("http.api"), healing=QUICK))
    for _ in range(3):
        sim.tick(down("http.web"), up("http.api"))
        for _ in range(4):
            sim.tick(up("http.web"), up("http.api"))
        sim.now += 3000
    sim.tick(down("http.web"), down("http.api"))
    assert [a.target for a in sim.heals()][-1] == "http.api"
    sim.state = clear_hold(sim.state, sim.now, "ops").state
    assert sim.state.held_heals == {}
    assert [r.slot for r in sim.state.heal_history] == ["restart_service:http.api"]
    sim.now += 200  # past the restart's cooldown
    for _ in range(2):  # the api's verification ends first (web is still down)
        sim.tick(down("http.web"), up("http.api"))
    assert [a.target for a in sim.heals()][-1] == "http.web"


def test_f29_heals_spread_wider_than_the_window_never_trip_the_breaker() -> None:
    sim = Sim(config(policy("http.web"), healing={**QUICK, "recurrence_window_secs": 7200}))
    for _ in range(6):
        _outage_and_recovery(sim)
        sim.now += 3600
    assert len(sim.heals()) == 6
    assert sim.state.held_heals == {}


# who is told what, and the agents ------------------------------------------------------


def test_a_recovery_without_a_heal_is_announced_too() -> None:
    sim = Sim(config(policy("http.web", threshold=2), cloud_agent=False, local_agent=False))
    sim.script[ActionKind.RESTART_SERVICE] = ActionStatus.REFUSED
    for _ in range(2):
        sim.tick(down("http.web"))
    sim.tick(up("http.web"))
    assert sim.state.incident is None
    assert any(n.startswith("resolved") for n in _notices(sim))


def test_a_new_root_cause_in_an_open_incident_gets_its_own_notice() -> None:
    sim = Sim(config(policy("http.web"), policy("runtime.vm", layer="runtime", cls="infra")))
    sim.script[ActionKind.RESTART_SERVICE] = ActionStatus.FAILED
    sim.tick(up("runtime.vm"), down("http.web"))
    sim.tick(down("runtime.vm"), down("http.web"))
    sim.tick(down("runtime.vm"), down("http.web"))  # the same root again: no new notice
    first, second = _notices(sim)
    assert first.startswith("service_down on http.web")
    assert second.startswith("runtime_down on runtime.vm")
    assert "(was service_down)" in second


def test_the_local_agent_runs_when_the_cloud_agent_fails() -> None:
    sim = Sim(config(policy("http.web"), critical_threshold_secs=DAY))
    sim.script[ActionKind.RESTART_SERVICE] = ActionStatus.REFUSED
    sim.script[ActionKind.AGENT_CLOUD] = ActionStatus.TIMEOUT
    sim.tick(down("http.web"))
    assert sim.kinds(ActionKind.AGENT_CLOUD)
    assert not sim.kinds(ActionKind.AGENT_LOCAL)
    sim.tick(down("http.web"))  # the cloud agent's timeout comes back
    (local,) = sim.kinds(ActionKind.AGENT_LOCAL)
    assert "the cloud agent failed" in local.reason
