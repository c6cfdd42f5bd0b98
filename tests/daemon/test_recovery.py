"""What the last Talon's actions came to, told to the core at start (F14, F21), and a heal
whose journal record cannot be written (F24, R31): it runs, journalled in memory, and is
never fired twice by this process."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace

from talon.clock import Clock
from talon.core import Action, ActionKind, ActionStatus, CoreState, Incident
from talon.core.model import Pending
from talon.daemon.recovery import close_interrupted, outcomes_for
from talon.store.journal import Journal

# What Outputs reads of the wiring here: no event sink.
NO_EVENTS = SimpleNamespace(
    loaded=SimpleNamespace(config=SimpleNamespace(events=SimpleNamespace(sink=None)))
)


def _action(n: int, kind: ActionKind = ActionKind.FORCE_CYCLE) -> Action:
    return Action(kind, f"n1-a/1b/{kind.value}:runtime/{n}", "n1-a", "runtime_down", "runtime")


def test_each_awaited_action_gets_what_the_journal_says_of_it(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.jsonl")
    done, cancelled, begun, never, shadow = (_action(n) for n in range(1, 6))
    journal.begin(done, 1.0)
    journal.end(done, 2.0, ActionStatus.DONE, "force-cycled", 1.0)
    journal.begin(cancelled, 3.0)
    journal.end(cancelled, 4.0, ActionStatus.CANCELLED, "Talon is shutting down", 1.0)
    journal.begin(begun, 5.0)  # Talon died while it ran
    journal.begin(shadow, 6.0, shadow=True)
    awaited = {
        a.key: Pending("force_cycle:runtime", a.kind)
        for a in (done, cancelled, begun, never, shadow)
    }
    state = CoreState(incident=Incident("n1-a", 0.0, pending=awaited))

    closed, errors = close_interrupted(journal, 7.0)
    assert [e["key"] for e in closed] == [begun.key]
    assert errors == []
    got = {o.key: o.status for o in outcomes_for(state, Journal(journal.path))}  # a new process
    assert got == {
        done.key: ActionStatus.DONE,
        cancelled.key: ActionStatus.CANCELLED,
        begun.key: ActionStatus.INTERRUPTED,
        never.key: ActionStatus.INTERRUPTED,  # saved as awaited, but never begun
        shadow.key: ActionStatus.SKIPPED,
    }


def test_a_begin_whose_interrupted_mark_could_not_be_written_is_still_interrupted(
    tmp_path: Path,
) -> None:
    journal = Journal(tmp_path / "journal.jsonl")
    begun = _action(1)
    journal.begin(begun, 1.0)
    state = CoreState(incident=Incident("n1-a", 0.0, pending={begun.key: Pending("s", begun.kind)}))
    [outcome] = outcomes_for(state, journal)  # no close_interrupted: the disk was full
    assert outcome.status is ActionStatus.INTERRUPTED


def test_no_incident_no_outcomes(tmp_path: Path) -> None:
    assert outcomes_for(CoreState(), Journal(tmp_path / "journal.jsonl")) == []


def test_a_heal_whose_journal_record_cannot_be_written_runs_once_journalled_in_memory(
    tmp_path: Path,
) -> None:
    """F24: a full disk degrades, never blinds: the heal runs, its key is kept in memory so
    this process never fires it twice, and the write error is reported."""
    from talon.daemon.executor import Executor
    from talon.daemon.outputs import Outputs
    from talon.daemon.view import CycleView
    from talon.evidence.bundle import Bundles
    from talon.logs import get_logger
    from talon.store import StateStore
    from talon.web.metrics import TalonMetrics

    state_dir = tmp_path / "state"
    store = StateStore(state_dir)
    journal = Journal(store.journal_path)
    store.journal_path.mkdir(parents=True)  # from now on every append fails, as on a full disk
    outputs = Outputs(
        store=store,
        journal=journal,
        bundles=Bundles(state_dir / "incidents"),
        clock=Clock(),
        wiring=lambda: NO_EVENTS,  # type: ignore[arg-type,return-value]
        log=get_logger(),
        metrics=TalonMetrics("n1", "linux"),
        node_id="n1",
        platform="linux",
    )
    ran: list[str] = []

    class Watching(Executor):
        async def _dispatch(self, action: Action, view: CycleView) -> object:  # type: ignore[override]
            ran.append(action.kind.value)
            from talon.actions.outcome import DONE, Outcome

            return Outcome(DONE, "ran")

    executor = Watching(wiring=lambda: None, outputs=outputs, state_dir=state_dir, clock=Clock())  # type: ignore[arg-type,return-value]
    view = CycleView(CoreState(), None)
    heal = asyncio.run(executor.run(_action(1), view))
    again = asyncio.run(executor.run(_action(1), view))
    notice = asyncio.run(executor.run(_action(1, ActionKind.NOTIFY), view))
    assert heal.status is ActionStatus.DONE
    assert again.status is ActionStatus.SKIPPED  # the same key: remembered in memory
    assert "replay-safe" in again.detail
    assert ran == ["force_cycle", "notify"]
    assert notice.status is ActionStatus.DONE
    assert any("cannot append" in e for e in outputs.write_errors)
    assert outputs.storage_view()["failing"].keys() == {"journal.jsonl"}
    assert outputs.storage_view()["journal_in_memory"] == 4  # begin, end, begin, end
