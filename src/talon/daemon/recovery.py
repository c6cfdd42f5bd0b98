"""Start-up: what the actions of the last Talon came to, told to the core as outcomes.

A Talon that died (or was stopped) mid-action left ``begin`` records without an
``end`` (F14): each is closed as ``interrupted`` and never fired again under its
key. Every action the saved state still awaits gets its outcome from the journal
(``done``, ``failed``, ``cancelled`` ...), or ``interrupted`` when it never ended
or never began. The core treats what did not run to the end as not done: a fault
that persists gets the next attempt under a new key, never a verification (F21).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from talon.clock import Clock
from talon.core import ActionOutcome, ActionStatus, CoreState
from talon.store.journal import Journal

if TYPE_CHECKING:
    from talon.daemon.cycle import Watch
    from talon.daemon.outputs import Outputs

INTERRUPTED = "Talon stopped while this ran; not fired again under this key"
NEVER_BEGUN = "Talon stopped before this began"


def close_interrupted(journal: Journal, at: float) -> tuple[list[dict[str, Any]], list[str]]:
    """Mark every begun-and-never-ended entry interrupted: (entries, write errors)."""
    closed, errors = [], []
    for entry in journal.open_entries():
        error = journal.mark_interrupted(entry, at, INTERRUPTED)  # in memory on a full disk
        if error is not None:
            errors.append(error)
        closed.append(entry)
    return closed, errors


def outcomes_for(state: CoreState, journal: Journal) -> list[ActionOutcome]:
    """An outcome for each action the state awaits, from what the journal says of it."""
    incident = state.incident
    if incident is None:
        return []
    out = []
    for key in incident.pending:
        seen = journal.status(key)
        if seen is None:
            out.append(ActionOutcome(key, ActionStatus.INTERRUPTED, NEVER_BEGUN))
            continue
        said, detail = seen
        if said == "shadow":
            out.append(ActionOutcome(key, ActionStatus.SKIPPED, detail))
            continue
        try:
            status = ActionStatus(said)
        except ValueError:  # "begun": the interrupted mark could not be written
            status, detail = ActionStatus.INTERRUPTED, INTERRUPTED
        out.append(ActionOutcome(key, status, detail))
    return out


def recover(journal: Journal, watch: Watch, outputs: Outputs, log: Any, clock: Clock) -> None:
    """At start: close what the last Talon left open, tell the core what its awaited actions
    came to (at the first step), and run what an offline `talon hold clear` queued."""
    closed, errors = close_interrupted(journal, clock.wall())
    for error in errors:
        outputs.error(error)
    for entry in closed:
        log.warning("action.interrupted", key=entry["key"], kind=entry.get("kind"))
        if isinstance(entry.get("incident_id"), str):
            outputs.bundle_record(
                entry["incident_id"], "action.interrupted", key=entry["key"], detail=INTERRUPTED
            )
    watch.inbox.extend(outcomes_for(watch.state, journal))
    for action in journal.queued():
        watch.in_background(action)
