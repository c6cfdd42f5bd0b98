"""One node's watch, one cycle at a time: probe → step → execute → outcomes → step.

``Watch.run_once`` is the whole cycle, used by ``talon run``, ``talon demo``
and the tests alike. It runs every probe, reads the facts, and steps the core
with the outcomes that arrived since the last step (background actions, or a
previous Talon's actions found in the journal at start). Each step is recorded
(saved before any of its actions runs) and its actions carried out: heals
inline and bounded, notifications and agents beside the loop. The outcomes of
the inline heals go back to the core in a follow-up step of the same cycle, so
a refused heal is followed by the next one at once (F20), and only a heal that
ran to the end is verified.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

from talon.actions.outcome import DONE, FAILED, TIMEOUT, Outcome
from talon.clock import Clock, unique_name
from talon.core import (
    Action,
    ActionKind,
    ActionOutcome,
    CoreState,
    Facts,
    Report,
    Step,
    step,
)
from talon.core.model import HEALS, TIERS
from talon.daemon.tasks import cancel_all
from talon.daemon.view import CycleView
from talon.probes import run_cycle
from talon.report import CycleReport

if TYPE_CHECKING:
    from talon.daemon.wiring import Wiring

HISTORY = 30  # cycles kept in memory for evidence
MAX_ROUNDS = 4  # follow-up steps per cycle: each refusal moves one heal down the list
BACKGROUND = frozenset(
    {ActionKind.NOTIFY, ActionKind.SOS, ActionKind.AGENT_CLOUD, ActionKind.AGENT_LOCAL}
)
CHANGED_SOMETHING = frozenset({DONE, FAILED, TIMEOUT})  # worth evidence right after


class Runner(Protocol):
    """Carries out one action and says what it came to (the daemon's ``Executor``)."""

    async def run(self, action: Action, view: CycleView) -> Outcome: ...


@dataclass(frozen=True)
class Cycle:
    """What one ``run_once`` did."""

    report: CycleReport
    steps: tuple[Step, ...]
    started: float  # Talon's clock
    finished: float

    @property
    def state(self) -> CoreState:
        return self.steps[-1].state

    @property
    def actions(self) -> tuple[Action, ...]:
        return tuple(a for s in self.steps for a in s.actions)


class Watch:
    def __init__(
        self,
        *,
        state: CoreState,
        clock: Clock,
        runner: Runner,
        record: Callable[[Step, CycleReport | None], None],
        facts: Callable[[Wiring], Awaitable[Facts]],
        lock_holder: Callable[[Wiring], Awaitable[str | None]] | None = None,
        stamp: Callable[[float], str] = unique_name,
    ) -> None:
        self.state = state
        self.clock = clock
        self.runner = runner
        self.record = record  # saves and tells a step (``Outputs.step``), before it acts
        self.facts = facts
        self.lock_holder = lock_holder  # who holds the runtime lock, read before the probes
        self.stamp = stamp
        self.inbox: list[ActionOutcome] = []  # outcomes for the next step
        self.history: collections.deque[dict[str, Any]] = collections.deque(maxlen=HISTORY)
        self.last_report: CycleReport | None = None
        self._background: set[asyncio.Task[None]] = set()

    async def run_once(self, w: Wiring) -> Cycle:
        started = self.clock.now()
        last_ms = (
            {r.key: r.latency_ms for r in self.last_report.results} if self.last_report else None
        )
        # Probes that ran while someone else worked on the runtime saw a moment of that
        # work: held before them or after them, the runtime counts as busy (R19).
        held = await self.lock_holder(w) if self.lock_holder is not None else None
        report = await run_cycle(
            w.loaded.probes, w.ctx, bulkheads=w.loaded.config.bulkheads, last_ms=last_ms
        )
        facts = await self.facts(w)
        if held is not None and facts.runtime_lock_holder is None:
            facts = replace(facts, runtime_lock_holder=held)
        self.last_report = report
        self._remember(report)
        inbox, self.inbox = self.inbox, []
        core_report = Report(report.results, facts, self.stamp(self.clock.wall()))
        done = self._apply(step(self.state, core_report, inbox, self.clock.now(), w.core), report)
        steps = [done]
        for _ in range(MAX_ROUNDS):
            outcomes = await self._execute(done.actions, report)
            if not outcomes:
                break
            done = self._apply(step(self.state, None, outcomes, self.clock.now(), w.core), None)
            steps.append(done)
        return Cycle(report, tuple(steps), started, self.clock.now())

    def apply(self, done: Step) -> Step:
        """A step taken outside a cycle (an operator's command): recorded like any other."""
        return self._apply(done, None)

    def _apply(self, done: Step, report: CycleReport | None) -> Step:
        self.state = done.state
        self.record(done, report)
        return done

    async def _execute(
        self, actions: Sequence[Action], report: CycleReport | None
    ) -> list[ActionOutcome]:
        """Carry out one step's actions; the outcomes of the inline heals, for the core."""
        view = CycleView(self.state, report, tuple(self.history))
        outcomes = []
        for action in actions:
            if action.kind in BACKGROUND:
                self.in_background(action, view)
                continue
            outcome = await self._run(action, view)
            if action.kind in TIERS:
                outcomes.append(self._reported(action, outcome))
            if action.kind in HEALS and outcome.status in CHANGED_SOMETHING:
                await self._after(action, view)
        return outcomes

    async def _run(self, action: Action, view: CycleView) -> Outcome:
        """The runner's outcome; a bug in it is a failed action, never a missing outcome
        (the core would await the key for ever). Cancellation (a stop) propagates."""
        try:
            return await self.runner.run(action, view)
        except Exception as exc:
            return Outcome(FAILED, f"internal error while running it: {exc!r}")

    def _reported(self, action: Action, outcome: Outcome) -> ActionOutcome:
        return ActionOutcome(action.key, outcome.status, outcome.detail, self.clock.now())

    async def _after(self, action: Action, view: CycleView) -> None:
        """Evidence right after every change (R25): what the heal left behind."""
        capture = Action(
            ActionKind.CAPTURE_EVIDENCE,
            f"{action.key}/after",
            action.incident_id,
            f"after {action.kind.value}",
        )
        await self._run(capture, view)

    def in_background(self, action: Action, view: CycleView | None = None) -> None:
        """Run beside the loop; a tracked action's outcome reaches the next step."""
        view = view or CycleView(self.state, self.last_report, tuple(self.history))

        async def run() -> None:
            outcome = await self._run(action, view)
            if action.kind in TIERS:
                self.inbox.append(self._reported(action, outcome))

        task = asyncio.create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def aclose(self) -> None:
        """Cancel what runs in the background (each journals its cancellation, R30)."""
        await cancel_all(self._background)

    def _remember(self, report: CycleReport) -> None:
        self.history.append(
            {
                "at": report.finished_at,
                "failing": {
                    r.key: {
                        "status": r.status.value,
                        "endpoint_class": r.endpoint_class,
                        "message": r.message,
                    }
                    for r in report.results
                    if r.failed
                },
            }
        )
