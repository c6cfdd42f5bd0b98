"""``Watch.run_once``: the one cycle the daemon, ``talon demo`` and these tests share.

Real probes (a TCP connect to a loopback port nothing listens on), the real core, and
a scripted runner in place of the executor, so each outcome is chosen by the test."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Any

from talon.actions.outcome import Outcome
from talon.capabilities import Capability
from talon.clock import Clock
from talon.config import load
from talon.core import Action, ActionKind, ActionStatus, CoreState, Facts, NodeState, Platform, Step
from talon.daemon.cycle import Runner, Watch
from talon.daemon.view import CycleView
from talon.daemon.wiring import Wiring
from talon.lab.substrate import render_toml
from talon.node import NodeIdentity
from tests.support.procs import free_port


class Scripted:
    """A runner that answers each kind with the status the test chose (done by default)."""

    def __init__(self, script: dict[ActionKind, ActionStatus], seen: list[str]) -> None:
        self.script = script
        self.seen = seen

    async def run(self, action: Action, view: CycleView) -> Outcome:
        self.seen.append(f"run {action.kind.value}")
        return Outcome(self.script.get(action.kind, ActionStatus.DONE), "scripted")


def _wiring(identity: NodeIdentity, tmp_path: Path) -> Wiring:
    config = identity.config_dir / "config.toml"
    config.parent.mkdir(parents=True)
    settings = {
        "": {"heal_script": "true"},
        "process_manager": {"kind": "null"},
        "agent": {"cloud_command": "true"},
        "healing": {"force_cycle_confirm_ticks": 1},
    }
    config.write_text(render_toml(settings))
    (identity.config_dir / "services.toml").write_text(
        f'[tcp.runtime]\naddress = "127.0.0.1:{free_port()}"\nlayer = "runtime"\n'
        'class = "infra"\ncritical = true\ncritical_after_consecutive_failures = 1\n'
    )
    w = Wiring.build(load(config, identity=identity), tmp_path / "state", Clock())
    # this node's runtime can force-cycle (what a VM runtime adapter declares)
    w.core = replace(w.core, platform=Platform(frozenset({Capability.FORCE_CYCLE})))
    return w


async def _facts(w: Wiring) -> Facts:
    return Facts()


def _watch(runner: Runner, **kw: Any) -> Watch:
    """A fresh watch: nothing recorded unless ``record`` is given, no facts."""
    kw.setdefault("record", lambda step, report: None)
    return Watch(state=CoreState(), clock=Clock(), runner=runner, facts=_facts, **kw)


def test_a_refused_heal_is_followed_by_the_next_in_the_same_run_once(
    identity: NodeIdentity, tmp_path: Path
) -> None:
    seen: list[str] = []
    runner = Scripted({ActionKind.HEAL_SCRIPT: ActionStatus.REFUSED}, seen)

    def record(step: Step, report: object) -> None:
        seen.append("record " + ",".join(a.kind.value for a in step.actions if a.tier))

    watch = _watch(runner, record=record)
    w = _wiring(identity, tmp_path)

    async def once() -> None:
        try:
            cycle = await watch.run_once(w)
            assert len(cycle.steps) >= 2
            heals = [a.kind for a in cycle.actions if a.tier and a.tier.startswith("1")]
            assert heals == [ActionKind.HEAL_SCRIPT, ActionKind.FORCE_CYCLE]
            assert watch.state.node is NodeState.VERIFYING  # the force-cycle ran to the end
            assert ActionKind.HEAL_SCRIPT in watch.state.incident.refused  # type: ignore[union-attr]
        finally:
            await watch.aclose()
            await w.aclose()

    asyncio.run(once())
    # Each step was recorded (saved) before any of its actions ran.
    assert seen.index("record heal_script") < seen.index("run heal_script")
    assert seen.index("run heal_script") < seen.index("record force_cycle")
    assert seen.index("record force_cycle") < seen.index("run force_cycle")


def test_a_background_actions_outcome_reaches_the_next_step(
    identity: NodeIdentity, tmp_path: Path
) -> None:
    """No heal on this node (a native engine with no service): the agent, in the
    background; its outcome is in the core's trail after the next cycle."""
    seen: list[str] = []
    watch = _watch(Scripted({ActionKind.AGENT_CLOUD: ActionStatus.FAILED}, seen))
    w = _wiring(identity, tmp_path)
    w.core = replace(w.core, heal_script=False, platform=Platform(frozenset()))

    async def twice() -> None:
        try:
            first = await watch.run_once(w)
            [agent] = [a for a in first.actions if a.kind is ActionKind.AGENT_CLOUD]
            await asyncio.sleep(0.1)  # the background task ends
            assert [o.key for o in watch.inbox] == [agent.key]
            await watch.run_once(w)
            assert watch.inbox == []
            trail = watch.state.incident.trail  # type: ignore[union-attr]
            assert any(d.rule == "agent_cloud" and d.outcome == "failed" for d in trail)
        finally:
            await watch.aclose()
            await w.aclose()

    asyncio.run(twice())


def test_a_runtime_lock_held_while_the_probes_ran_makes_the_runtime_busy(
    identity: NodeIdentity, tmp_path: Path
) -> None:
    """R19: a heal that outlived a Talon released the lock during the probes: what they saw
    was a moment of that heal, so no runtime heal is chosen on it; once the lock is free,
    that heal's action gets its warmup before Talon heals (tests/core/test_outcomes.py)."""
    seen: list[str] = []
    held = ['{"pid": 4242, "who": "talon survivor"}']

    async def lock(w: Wiring) -> str | None:
        return held.pop() if held else None  # held before the probes, free after them

    watch = _watch(Scripted({}, seen), lock_holder=lock)
    w = _wiring(identity, tmp_path)

    async def once() -> None:
        try:
            cycle = await watch.run_once(w)
            assert not [a for a in cycle.actions if a.tier and a.tier.startswith("1")]
            trail = watch.state.incident.trail  # type: ignore[union-attr]
            assert any(d.rule == "runtime_busy" for d in trail)
            cycle = await watch.run_once(w)  # the lock is free now: the survivor's warmup
            assert not [a for a in cycle.actions if a.tier and a.tier.startswith("1")]
            trail = watch.state.incident.trail  # type: ignore[union-attr]
            assert any(d.rule == "warmup" and "lock was released" in d.reason for d in trail)
        finally:
            await watch.aclose()
            await w.aclose()

    asyncio.run(once())


def test_a_runner_that_raises_is_a_failed_action_never_a_missing_outcome(
    identity: NodeIdentity, tmp_path: Path
) -> None:
    """An action's outcome is a fact: even a bug in the runner reaches the core as one,
    so no key is awaited for ever and the agent tier may act."""

    class Broken:
        async def run(self, action: Action, view: CycleView) -> Outcome:
            raise RuntimeError("a bug")

    watch = _watch(Broken())
    w = _wiring(identity, tmp_path)

    async def once() -> None:
        try:
            cycle = await watch.run_once(w)
            incident = watch.state.incident
            assert incident is not None
            assert incident.pending == {} or all(
                p.kind in (ActionKind.AGENT_CLOUD, ActionKind.SOS)
                for p in incident.pending.values()
            )
            assert incident.results["heal_script:runtime"] is ActionStatus.FAILED
            assert any(a.kind is ActionKind.AGENT_CLOUD for a in cycle.actions)
            await asyncio.sleep(0.1)  # the agent, in the background, failed the same way
            assert [o.status for o in watch.inbox] == [ActionStatus.FAILED]
        finally:
            await watch.aclose()
            await w.aclose()

    asyncio.run(once())
