"""Core states for the web tests, built by the real core (``talon.core.step``) on a fake clock."""

from __future__ import annotations

from talon.core import NodeState, Signal
from talon.report import ProbeResult
from tests.core.sim import Sim, config, down, policy, up

STACK = ("tcp.runtime", "k8s.api", "redis.redis", "http.inngest")


def stack() -> Sim:
    return Sim(
        config(
            policy("tcp.runtime", layer="runtime", cls="infra"),
            policy("k8s.api", layer="cluster", cls="infra", check="api"),
            policy("redis.redis", threshold=2),
            policy("http.inngest", threshold=2),
        )
    )


def green() -> tuple[ProbeResult, ...]:
    return tuple(up(key) for key in STACK)


def red() -> tuple[ProbeResult, ...]:
    return tuple(down(key) for key in STACK)


def stable() -> Sim:
    sim = stack()
    sim.tick(*green())
    assert sim.state.signal is Signal.STABLE
    return sim


def recovering() -> Sim:
    """The runtime went down, one force-cycle ran: verifying."""
    sim = stack()
    for _ in range(2):
        sim.tick(*red())
    assert sim.state.node is NodeState.VERIFYING
    assert sim.state.signal is Signal.RECOVERING
    return sim


def failed_recovery() -> Sim:
    """The force-cycle looked green past its warmup, then regressed: a hold (F5)."""
    sim = recovering()
    for _ in range(13):
        sim.tick(*green())
    sim.tick(*red())
    assert sim.state.signal is Signal.FAILED_RECOVERY
    assert sim.state.hold is not None
    return sim
