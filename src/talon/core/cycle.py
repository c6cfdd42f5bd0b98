"""What one step accumulates: the state being built, its actions, and what changed.

Every action carries an idempotency key (incident, tier, target, attempt), and a key
once emitted is never emitted again (replay-safe). Every decision, taken or blocked,
leaves a line in the incident's trail.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from talon.core import policy
from talon.core.model import (
    TIERS,
    Action,
    ActionKind,
    Changes,
    CoreState,
    Decision,
    Hold,
    Incident,
    Pending,
    Step,
)
from talon.core.settings import CoreConfig

TRAIL_LIMIT = 200


@dataclass
class Cycle:
    """One step in the making."""

    state: CoreState
    now: float
    config: CoreConfig
    stamp: str = ""  # the cycle's unique name: a new incident is named after it
    lock_holder: str | None = None
    actions: list[Action] = field(default_factory=list)
    decisions: list[tuple[str, Decision]] = field(default_factory=list)
    opened: Incident | None = None
    closed: Incident | None = None
    redecide: set[str] = field(default_factory=set)  # slots whose outcome asks for a new choice

    @property
    def incident(self) -> Incident:
        assert self.state.incident is not None
        return self.state.incident

    def note(self, rule: str, outcome: str, reason: str, once: bool = False) -> None:
        """A line in the incident's trail; ``once``: not again if the trail has it."""
        if self.state.incident is None:
            return
        if once and any(
            (d.rule, d.outcome, d.reason) == (rule, outcome, reason) for d in self.incident.trail
        ):
            return
        decision = Decision(self.now, rule, outcome, reason)
        trail = (*self.incident.trail, decision)[-TRAIL_LIMIT:]
        self.decisions.append((self.incident.id, decision))
        self.set_incident(replace(self.incident, trail=trail))

    def emit(
        self,
        kind: ActionKind,
        reason: str,
        target: str | None = None,
        detail: str = "",
        slot: str | None = None,
    ) -> bool:
        """Emit once per key; returns False when this key was already handed out."""
        incident = self.incident
        slot = slot or policy.slot(kind, target)
        attempt = incident.attempts.get(slot, 0) + 1 if kind in TIERS else 1
        key = f"{incident.id}/{TIERS.get(kind, kind.value)}/{slot}/{attempt}"
        if key in incident.emitted:
            return False
        self.actions.append(Action(kind, key, incident.id, reason, target, TIERS.get(kind), detail))
        attempts, pending = dict(incident.attempts), dict(incident.pending)
        if kind in TIERS:
            attempts[slot] = attempt
            pending[key] = Pending(slot, kind, self.state.last_action_at.get(slot))
            stamps = {**self.state.last_action_at, slot: self.now}
            self.state = replace(self.state, last_action_at=stamps)
        emitted = incident.emitted | {key}
        self.set_incident(replace(incident, emitted=emitted, attempts=attempts, pending=pending))
        return True

    def evidence(self, moment: str, once: bool = False) -> None:
        """Ask the shell to keep what is seen now (R25); ``once`` per incident."""
        slot = f"evidence:{moment}" + ("" if once else f":{self.now:.0f}")
        self.emit(ActionKind.CAPTURE_EVIDENCE, moment, slot=slot)

    def notify(self, event: str, message: str) -> None:
        """One notification per incident and event (F18)."""
        self.emit(ActionKind.NOTIFY, message, slot=f"notify:{event}")

    def set_incident(self, incident: Incident) -> None:
        self.state = replace(self.state, incident=incident)

    def finish(self, before: CoreState) -> Step:
        after = self.state
        opened = self.opened  # as the step left it (root cause, faults), not as it was born
        if opened is not None:
            opened = next(
                (i for i in (after.incident, self.closed) if i is not None and i.id == opened.id),
                opened,
            )
        changes = Changes(
            node=None if before.node is after.node else (before.node, after.node),
            opened=opened,
            closed=self.closed,
            decisions=tuple(self.decisions),
            hold_started=after.hold if _new_hold(before.hold, after.hold) else None,
            hold_ended=before.hold if _new_hold(after.hold, before.hold) else None,
        )
        return Step(after, tuple(self.actions), changes)


def _new_hold(old: Hold | None, new: Hold | None) -> bool:
    """``new`` is a hold that ``old`` was not (a changed reason counts as a new hold)."""
    if new is None:
        return False
    return old is None or (old.since, old.reason) != (new.since, new.reason)
