"""The container heal (docs/docker.md): a container that runs while its own HEALTHCHECK
says unhealthy is restarted through the engine, under the gates, cooldowns, outcomes
and verification of any heal; a container that is not running is never started (an
operator may have stopped it on purpose; only the engine knows)."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest

from talon.capabilities import Capability
from talon.core import ActionKind, ActionStatus, NodeState, Platform, Report, diagnose
from talon.errors import ErrorKind
from talon.faults import Fault
from talon.report import ProbeResult, Status
from tests.core.sim import Sim, config, down, policy, result, up

KEY = "container.web"
QUICK = {"warmup_secs": 10, "durability_checks": 2, "durability_window_secs": 10}


def seen(
    state: str | None,
    health: str | None = None,
    error: ErrorKind | None = ErrorKind.NOT_READY,
    key: str = KEY,
) -> ProbeResult:
    """What the container probe reports: the engine's words in ``detail``."""
    ok = error is None
    status = Status.WARNING if health == "starting" else None
    r = result(key, ok, error, status=status)
    detail = {} if state is None else {"state": state, "health": health}
    return replace(r, layer="runtime", probe_class="infra", detail=detail)


def healthy() -> ProbeResult:
    return seen("running", "healthy", error=None)


def _sim(
    *,
    restart: bool = True,
    platform: Platform | None = None,
    healing: dict[str, float] | None = None,
    **kw: object,
) -> Sim:
    policies = [
        policy(
            KEY,
            layer="runtime",
            cls="infra",
            threshold=2,
            container="web",
            restart_container=restart,
        ),
        policy("http.api", threshold=2),
    ]
    cfg = config(*policies, healing={**QUICK, **(healing or {})}, **kw)  # type: ignore[arg-type]
    return Sim(replace(cfg, platform=platform or cfg.platform))


def _trail(sim: Sim, rule: str) -> list[str]:
    incident = sim.state.incident or sim.state.last_closed
    assert incident is not None
    return [d.reason for d in incident.trail if d.rule == rule]


def test_an_unhealthy_container_is_restarted_once_and_verified() -> None:
    sim = _sim()
    sim.tick(seen("running", "unhealthy"), up("http.api"))
    assert sim.heals() == []  # debounce: 1 of 2
    sim.tick(seen("running", "unhealthy"), up("http.api"))
    (heal,) = sim.heals()
    assert (heal.kind, heal.target, heal.tier, heal.detail) == (
        ActionKind.RESTART_CONTAINER,
        "web",
        "1c",
        KEY,
    )
    assert sim.faults == {Fault.SERVICE_DOWN}  # the engine answered: not runtime_down
    assert sim.state.unhealthy_runtime_ticks == ()
    assert sim.state.node is NodeState.VERIFYING
    for _ in range(4):
        sim.tick(healthy(), up("http.api"))
    assert sim.state.incident is None
    assert sim.state.last_closed is not None
    assert sim.state.last_closed.outcome == "recovered"
    assert len(sim.kinds(ActionKind.RESTART_CONTAINER)) == 1
    assert not sim.kinds(ActionKind.FORCE_CYCLE)
    assert not sim.kinds(ActionKind.RESTART_ENGINE)
    assert not sim.kinds(ActionKind.RESTART_SERVICE)


@pytest.mark.parametrize(
    ("state", "health", "error", "words"),
    [
        ("exited", None, ErrorKind.NOT_READY, "web is exited, not restarted: Talon never starts"),
        ("exited", "unhealthy", ErrorKind.NOT_READY, "web is exited, not restarted"),
        ("created", None, ErrorKind.NOT_READY, "web is created, not restarted"),
        ("dead", None, ErrorKind.NOT_READY, "web is dead, not restarted"),
        ("paused", "unhealthy", ErrorKind.NOT_READY, "only an operator pauses a container"),
        ("restarting", None, ErrorKind.NOT_READY, "the engine's restart policy is at work"),
        (None, None, ErrorKind.NOT_FOUND, "no container web: Talon never creates one"),
    ],
)
def test_a_container_that_is_not_running_unhealthy_is_never_restarted(
    state: str | None, health: str | None, error: ErrorKind, words: str
) -> None:
    sim = _sim()
    for _ in range(5):
        sim.tick(seen(state, health, error), up("http.api"))
    assert sim.heals() == []
    assert sim.faults == {Fault.SERVICE_DOWN}
    (why,) = _trail(sim, "no_heal")  # said once, not every cycle
    assert why.startswith(f"{KEY}: ")
    assert words in why
    (agent,) = sim.kinds(ActionKind.AGENT_CLOUD)  # a human's (or the agent's) call
    assert words in agent.detail


def test_a_container_whose_health_check_is_starting_is_a_warning_that_only_informs() -> None:
    """The probe says WARNING (the engine's health check has not decided yet): Nagios
    semantics, a warning never heals and opens no incident (F26's neighbour)."""
    sim = _sim()
    for _ in range(5):
        sim.tick(seen("running", "starting"), up("http.api"))
    assert sim.heals() == []
    assert sim.faults == set()
    assert sim.state.incident is None


def test_an_engine_that_does_not_answer_is_the_runtime_not_a_container() -> None:
    sim = _sim()
    for _ in range(2):
        sim.tick(seen(None, error=ErrorKind.REFUSED), down("http.api"))
    assert Fault.RUNTIME_DOWN in sim.faults
    assert Fault.SERVICE_DOWN not in sim.faults  # http.api is explained by the runtime
    assert len(sim.state.unhealthy_runtime_ticks) == 2
    assert not sim.kinds(ActionKind.RESTART_CONTAINER)


def test_restart_unhealthy_false_leaves_it_to_a_human() -> None:
    sim = _sim(restart=False)
    for _ in range(3):
        sim.tick(seen("running", "unhealthy"), up("http.api"))
    assert sim.heals() == []
    assert _trail(sim, "no_heal") == [
        f"{KEY}: web is unhealthy; {KEY} says restart_unhealthy = false"
    ]


def test_a_platform_without_the_capability_says_so_and_escalates() -> None:
    null = Platform(frozenset({Capability.RESTART_SERVICE}), runtime="null", process_manager="x")
    sim = _sim(platform=null)
    for _ in range(2):
        sim.tick(seen("running", "unhealthy"), up("http.api"))
    assert sim.heals() == []
    (why,) = set(_trail(sim, "platform"))
    assert "restart_container needs restart_container, which null does not offer" in why
    assert sim.kinds(ActionKind.AGENT_CLOUD)


def test_a_refused_restart_is_not_tried_again_in_the_incident() -> None:
    """Removed or stopped between the probe and the heal: the engine adapter refuses."""
    sim = _sim()
    sim.script[ActionKind.RESTART_CONTAINER] = ActionStatus.REFUSED
    for _ in range(6):
        sim.tick(seen("running", "unhealthy"), up("http.api"))
    assert len(sim.kinds(ActionKind.RESTART_CONTAINER)) == 1
    assert sim.state.verification is None
    assert sim.state.incident is not None
    assert ActionKind.RESTART_CONTAINER in sim.state.incident.refused
    assert not sim.state.incident.healed
    assert sim.kinds(ActionKind.AGENT_CLOUD)  # the next tier, in the same cycle


def test_a_failed_restart_cools_down_then_retries_within_the_budget() -> None:
    sim = _sim(healing={"restart_cooldown_secs": 30})
    sim.script[ActionKind.RESTART_CONTAINER] = ActionStatus.FAILED
    times = []
    for _ in range(14):
        actions = sim.tick(seen("running", "unhealthy"), up("http.api"), dt=10)
        times += [sim.now for a in actions if a.kind is ActionKind.RESTART_CONTAINER]
    restarts = sim.kinds(ActionKind.RESTART_CONTAINER)
    assert [a.key.rsplit("/", 1)[1] for a in restarts] == ["1", "2", "3"]  # the budget
    assert [b - a for a, b in itertools.pairwise(times)] == [30.0, 30.0]  # the cooldown
    assert sim.state.incident is not None
    assert not sim.state.incident.healed
    assert sim.state.verification is None


def test_a_restart_that_does_not_hold_is_a_failed_recovery() -> None:
    sim = _sim()
    for _ in range(2):
        sim.tick(seen("running", "unhealthy"), up("http.api"))
    assert sim.state.node is NodeState.VERIFYING
    sim.tick(seen("running", "starting"), up("http.api"), dt=5)  # warmup: tolerated
    assert sim.state.node is NodeState.VERIFYING
    sim.tick(seen("running", "unhealthy"), up("http.api"))  # after the warmup: regressed
    assert sim.state.failed_recovery_at is not None
    assert sim.state.hold is not None
    assert sim.state.hold.reason is Fault.FAILED_RECOVERY


def test_check_names_the_heal_or_why_there_is_none() -> None:
    cfg = _sim().config
    unhealthy = diagnose(Report((seen("running", "unhealthy"), up("http.api"))), 0.0, cfg)
    (finding,) = unhealthy.as_dict()["findings"]
    assert finding["heal"] == {"kind": "restart_container", "target": "web"}
    assert (finding["fault"], finding["layer"], finding["target"]) == (
        "service_down",
        "service",
        "web",
    )
    stopped = diagnose(Report((seen("exited"), up("http.api"))), 0.0, cfg)
    (finding,) = stopped.as_dict()["findings"]
    assert finding["heal"] is None
    assert finding["target"] is None
    assert "web is exited, not restarted" in finding["hint"]
