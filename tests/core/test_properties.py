"""Properties of the core over arbitrary histories (hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from talon.core import ActionKind, CoreState, Facts, NodeState, Report, step
from talon.core.model import Action
from talon.errors import ErrorKind
from talon.report import ProbeResult
from tests.core.sim import config, down, policy, split, up

KEYS = ("tcp.runtime", "k8s.api", "redis.redis", "http.web", "http.app")
CONFIG = config(
    policy("tcp.runtime", layer="runtime", cls="infra"),
    policy("k8s.api", layer="cluster", cls="infra", check="api", threshold=2),
    policy("redis.redis", threshold=2),
    policy("http.web", critical=False, threshold=3),
    policy("http.app", cls="app"),
    healing={"rbac_guard_manifest": "guard.yaml"},
)
VARIANTS = {
    "up": up,
    "down": down,
    "split": split,
    "timeout": lambda k: down(k, ErrorKind.TIMEOUT),
    "denied": lambda k: down(k, ErrorKind.DENIED),
}
tick = st.tuples(
    st.fixed_dictionaries({k: st.sampled_from(sorted(VARIANTS)) for k in KEYS}),
    st.sampled_from([1.0, 10.0, 30.0, 60.0, 300.0, 900.0]),
    st.one_of(st.none(), st.floats(0, 1000)),
)
green_run = st.integers(1, 30).map(lambda n: [({k: "up" for k in KEYS}, 10.0, None)] * n)
# Random ticks interleaved with long green runs, so that recoveries really happen.
histories = st.lists(st.one_of(tick.map(lambda t: [t]), green_run), min_size=1, max_size=12).map(
    lambda segments: [t for segment in segments for t in segment]
)


def _run(
    history: list[tuple[dict[str, str], float, float | None]],
) -> list[tuple[CoreState, list[Action], float]]:
    state, now, out = CoreState(), 1_000_000.0, []
    for variants, dt, uptime in history:
        now += dt
        results: tuple[ProbeResult, ...] = tuple(VARIANTS[v](k) for k, v in variants.items())
        state, actions = step(state, Report(results, Facts(runtime_uptime_s=uptime)), now, CONFIG)
        out.append((state, actions, now))
    return out


@settings(max_examples=300, deadline=None)
@given(histories)
def test_deterministic(history: list[tuple[dict[str, str], float, float | None]]) -> None:
    assert _run(history) == _run(history)


@settings(max_examples=300, deadline=None)
@given(histories)
def test_no_force_cycle_or_heal_script_during_a_hold(
    history: list[tuple[dict[str, str], float, float | None]],
) -> None:
    previous = CoreState()
    for state, actions, now in _run(history):
        held = previous.hold is not None and now < previous.hold.until
        if held:
            assert not [
                a
                for a in actions
                if a.kind
                in (ActionKind.FORCE_CYCLE, ActionKind.HEAL_SCRIPT, ActionKind.BRIDGE_HEAL)
            ]
        previous = state


@settings(max_examples=300, deadline=None)
@given(histories)
def test_never_recovered_before_a_full_durability_window(
    history: list[tuple[dict[str, str], float, float | None]],
) -> None:
    heal_at: float | None = None
    for state, actions, now in _run(history):
        if any(a.tier and a.tier.startswith("1") for a in actions):
            heal_at = now
        if any(
            a.kind is ActionKind.NOTIFY and a.key.endswith("notify:recovered/1") for a in actions
        ):
            assert heal_at is not None
            assert (
                now - heal_at >= CONFIG.healing.warmup_secs + CONFIG.healing.durability_window_secs
            )
            assert state.last_closed is not None
            assert state.last_closed.outcome == "recovered"


@settings(max_examples=300, deadline=None)
@given(histories)
def test_at_most_one_action_per_idempotency_key(
    history: list[tuple[dict[str, str], float, float | None]],
) -> None:
    keys = [a.key for _, actions, _ in _run(history) for a in actions]
    assert len(keys) == len(set(keys))


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 40), st.integers(1, 20))
def test_a_burst_below_one_failed_layer_is_one_incident(n: int, ticks: int) -> None:
    services = [policy(f"http.s{i}") for i in range(n)]
    cfg = config(policy("tcp.runtime", layer="runtime", cls="infra"), *services)
    state, now, incidents, notified = CoreState(), 0.0, set(), 0
    for _ in range(ticks):
        now += 10
        results = (down("tcp.runtime"), *(down(p.key) for p in services))
        state, actions = step(state, Report(results), now, cfg)
        incidents |= {a.incident_id for a in actions}
        notified += sum(a.kind is ActionKind.NOTIFY and "notify:opened" in a.key for a in actions)
        assert not [a for a in actions if a.kind is ActionKind.RESTART_SERVICE]
    assert len(incidents) <= 1
    assert notified == 1
    assert state.node is not NodeState.HEALTHY
