"""Properties of the core over arbitrary histories and outcome sequences (hypothesis).

Each generated tick has probe results, a time step, maybe a VM uptime, and what the
heals emitted in it come to (done, failed, timeout, refused, cancelled, interrupted,
skipped): the shell's answer is an input like any probe result (principle 8).
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from talon.core import (
    ActionKind,
    ActionStatus,
    CoreState,
    Facts,
    Incident,
    NodeState,
    Report,
    rebase,
    step,
)
from talon.core.model import HEALS, Action
from talon.errors import ErrorKind
from talon.faults import Fault
from talon.report import ProbeResult
from tests.core.sim import Sim, config, down, policy, split, up

KEYS = ("tcp.runtime", "k8s.api", "redis.redis", "http.web", "http.app")
CONFIG = config(
    policy("tcp.runtime", layer="runtime", cls="infra"),
    policy("k8s.api", layer="cluster", cls="infra", check="api", threshold=2),
    policy("redis.redis", threshold=2),
    policy("http.web", critical=False, threshold=3),
    policy("http.app", cls="app"),
    healing={"rbac_guard_manifest": "guard.yaml"},
    heal_script=True,
)
VARIANTS = {
    "up": up,
    "down": down,
    "split": split,
    "timeout": lambda k: down(k, ErrorKind.TIMEOUT),
    "denied": lambda k: down(k, ErrorKind.DENIED),
}
NOT_DONE = [s for s in ActionStatus if s is not ActionStatus.DONE]
Tick = tuple[dict[str, str], float, float | None, ActionStatus]


def ticks(statuses: list[ActionStatus], uptimes: bool = True) -> st.SearchStrategy[list[Tick]]:
    uptime = st.one_of(st.none(), st.floats(0, 1000)) if uptimes else st.none()
    tick = st.tuples(
        st.fixed_dictionaries({k: st.sampled_from(sorted(VARIANTS)) for k in KEYS}),
        st.sampled_from([1.0, 10.0, 30.0, 60.0, 300.0, 900.0]),
        uptime,
        st.sampled_from(statuses),
    )
    green = st.integers(1, 30).map(
        lambda n: [({k: "up" for k in KEYS}, 10.0, None, ActionStatus.DONE)] * n
    )
    # Random ticks interleaved with long green runs, so that recoveries really happen.
    return st.lists(st.one_of(tick.map(lambda t: [t]), green), min_size=1, max_size=12).map(
        lambda segments: [t for segment in segments for t in segment]
    )


histories = ticks(list(ActionStatus))


def _run(history: list[Tick], sim: Sim | None = None) -> list[tuple[CoreState, list[Action]]]:
    sim = sim or Sim(CONFIG)
    out = []
    for variants, dt, uptime, status in history:
        for kind in HEALS:
            sim.script[kind] = status
        results: tuple[ProbeResult, ...] = tuple(VARIANTS[v](k) for k, v in variants.items())
        actions = sim.tick(*results, facts=Facts(runtime_uptime_s=uptime), dt=dt)
        out.append((sim.state, actions))
    return out


@settings(max_examples=300, deadline=None)
@given(histories)
def test_deterministic(history: list[Tick]) -> None:
    assert _run(history) == _run(history)


@settings(max_examples=300, deadline=None)
@given(histories)
def test_no_force_cycle_or_heal_script_during_a_hold(history: list[Tick]) -> None:
    sim = Sim(CONFIG)
    for variants, dt, uptime, status in history:
        held = sim.state.hold is not None and sim.now + dt < sim.state.hold.until
        actions = _run([(variants, dt, uptime, status)], sim)[0][1]
        if held:
            assert not [
                a
                for a in actions
                if a.kind
                in (ActionKind.FORCE_CYCLE, ActionKind.HEAL_SCRIPT, ActionKind.BRIDGE_HEAL)
            ]


@settings(max_examples=300, deadline=None)
@given(histories)
def test_never_recovered_before_a_full_durability_window_after_a_done_heal(
    history: list[Tick],
) -> None:
    sim = Sim(CONFIG)
    done_at: float | None = None
    for tick in history:
        before = len(sim.outcomes)
        state, actions = _run([tick], sim)[0]
        if any(
            o.status is ActionStatus.DONE and o.key.split("/")[1].startswith("1")  # a heal
            for o in sim.outcomes[before:]
        ):
            done_at = sim.now
        if any(
            a.kind is ActionKind.NOTIFY and a.key.endswith("notify:recovered/1") for a in actions
        ):
            assert done_at is not None
            h = CONFIG.healing
            assert sim.now - done_at >= h.warmup_secs + h.durability_window_secs
            assert state.last_closed is not None
            assert state.last_closed.outcome == "recovered"


@settings(max_examples=300, deadline=None)
@given(ticks(NOT_DONE, uptimes=False))
def test_a_heal_that_was_not_done_never_verifies_holds_or_fails_a_recovery(
    history: list[Tick],
) -> None:
    """F20, F21: refused, failed, timed out, cancelled, interrupted or skipped heals are
    never verified as if they ran: no verification window, no failed recovery, no hold."""
    sim = Sim(CONFIG)
    for state, actions in _run(history, sim):
        assert state.verification is None
        assert state.hold is None
        assert state.failed_recovery_at is None
        assert state.node not in (NodeState.VERIFYING, NodeState.HOLD)
        assert not [a for a in actions if a.kind is ActionKind.PERSIST_MARKER]
        for incident in (state.incident, state.last_closed):
            assert incident is None or not incident.healed
            assert incident is None or incident.outcome != "recovered"


@settings(max_examples=300, deadline=None)
@given(histories)
def test_only_a_done_heal_opens_a_verification(history: list[Tick]) -> None:
    sim = Sim(CONFIG)
    for tick in history:
        state, _ = _run([tick], sim)[0]
        if state.verification is not None:
            assert state.incident is not None
            assert state.incident.healed
        if state.hold is not None and state.hold.reason is Fault.FAILED_RECOVERY:
            assert any(o.status is ActionStatus.DONE for o in sim.outcomes)


@settings(max_examples=300, deadline=None)
@given(histories, st.lists(st.integers(0, 40), max_size=3))
def test_no_journal_key_is_ever_issued_twice_even_across_state_loss(
    history: list[Tick], losses: list[int]
) -> None:
    """F23: state.json deleted (or quarantined) mid-life: the next incident's keys are new."""
    sim = Sim(CONFIG)
    keys: list[str] = []
    for i, tick in enumerate(history):
        if i in losses:
            sim.state = CoreState()  # the journal stays; the state is gone
        keys += [a.key for a in _run([tick], sim)[0][1]]
    assert len(keys) == len(set(keys))


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 40), st.integers(1, 20))
def test_a_burst_below_one_failed_layer_is_one_incident(n: int, count: int) -> None:
    services = [policy(f"http.s{i}") for i in range(n)]
    cfg = config(policy("tcp.runtime", layer="runtime", cls="infra"), *services)
    state, now, incidents, notified = CoreState(), 0.0, set(), 0
    for i in range(count):
        now += 10
        results = (down("tcp.runtime"), *(down(p.key) for p in services))
        done = step(state, Report(results, stamp=f"t{i}"), (), now, cfg)
        state = done.state
        incidents |= {a.incident_id for a in done.actions}
        notified += sum(
            a.kind is ActionKind.NOTIFY and "notify:opened" in a.key for a in done.actions
        )
        assert not [a for a in done.actions if a.kind is ActionKind.RESTART_SERVICE]
    assert len(incidents) <= 1
    assert notified == 1
    assert state.node is not NodeState.HEALTHY


@settings(max_examples=200, deadline=None)
@given(histories, st.integers(-7200, 7200), st.integers(0, 20))
def test_f22_a_state_rebased_onto_another_clock_decides_as_before(
    history: list[Tick], delta: int, restart_at: int
) -> None:
    """What makes re-basing a persisted state safe: the core reads only differences of
    times, so moving every time by ``delta`` (a restart onto a clock anchored elsewhere)
    moves every decision by exactly that, and changes none."""
    a, b = Sim(CONFIG), Sim(CONFIG, now=1_000_000.0 + delta)
    for i, tick in enumerate(history):
        if i == restart_at:  # b's state goes through a save and a re-based load here
            b.state = rebase(b.state, 0.0)
        acts_a, acts_b = _run([tick], a)[0][1], _run([tick], b)[0][1]
        assert [(x.kind, x.target) for x in acts_a] == [(x.kind, x.target) for x in acts_b]
        assert _timeless(rebase(a.state, float(delta))) == _timeless(b.state)


def _timeless(state: CoreState) -> CoreState:
    """Without the emitted keys: an evidence or marker key names its moment, by design."""
    from dataclasses import replace

    def bare(incident: Incident | None) -> Incident | None:
        return None if incident is None else replace(incident, emitted=frozenset())

    return replace(state, incident=bare(state.incident), last_closed=bare(state.last_closed))
