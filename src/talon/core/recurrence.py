"""The recurrence breaker (F29): a fault "healed" again and again is not healed.

Every heal that runs to the end is recorded (``CoreState.heal_history``, in
state.json, so it survives restarts). When the same heal (kind and target, so
the same fault class on the same target) has run ``recurrence_heals`` times
within ``recurrence_window_secs``, its next occurrence is a failed recovery: that
heal is held for ``hold_secs`` (other heals still run), the failed-recovery
marker is written, evidence is kept, the agent tier takes over, and the notice
carries the history. ``talon hold clear`` ends the hold and forgets the history.
"""

from __future__ import annotations

from dataclasses import replace

from talon.core.cycle import Cycle
from talon.core.model import ActionKind, Finding, HealRecord, Pending
from talon.durations import approx
from talon.faults import Fault


def record(c: Cycle, pending: Pending, at: float) -> None:
    """A heal ran to the end: one more in its slot's history (older ones fall out)."""
    window = c.config.healing.recurrence_window_secs
    fault = c.incident.root_cause or Fault.PROBE_FAILED
    kept = tuple(r for r in c.state.heal_history if c.now - r.at <= window)
    c.state = replace(c.state, heal_history=(*kept, HealRecord(at, fault, pending.slot)))


def history(c: Cycle, slot: str) -> tuple[HealRecord, ...]:
    window = c.config.healing.recurrence_window_secs
    return tuple(r for r in c.state.heal_history if r.slot == slot and c.now - r.at <= window)


def recurring(c: Cycle, finding: Finding, slot: str) -> bool:
    """True when ``slot`` may not heal now: it is held, or this occurrence trips the breaker."""
    if slot in c.state.held_heals:
        c.note("recurrence", "blocked", f"{slot} is held: it kept recurring", once=True)
        return True
    past = history(c, slot)
    h = c.config.healing
    if len(past) < h.recurrence_heals:
        return False
    ago = ", ".join(f"{approx(c.now - r.at)} ago" for r in past)
    why = (
        f"{finding.fault} on {finding.target or finding.probe} is back after {len(past)} "
        f"heal{'s' if len(past) > 1 else ''} "
        f"by {slot} within {approx(h.recurrence_window_secs)} ({ago}): the heal does not hold"
    )
    held = {**c.state.held_heals, slot: c.now + h.hold_secs}
    c.state = replace(c.state, held_heals=held, failed_recovery_at=c.now)
    faults = tuple(dict.fromkeys((*c.incident.faults, Fault.FAILED_RECOVERY)))
    c.set_incident(replace(c.incident, faults=faults))
    c.note("recurrence", "failed", f"{why}; {slot} held for {h.hold_secs:g}s")
    c.emit(ActionKind.PERSIST_MARKER, why, slot=f"marker:{c.now:.0f}")
    c.evidence("recurrence")
    c.notify(f"recurrence-{slot}", f"failed recovery (recurrence): {why}; escalating")
    return True


def expire_held_heals(c: Cycle) -> None:
    ended = [slot for slot, until in c.state.held_heals.items() if c.now >= until]
    if ended:
        held = {k: v for k, v in c.state.held_heals.items() if k not in ended}
        c.state = replace(c.state, held_heals=held)
        for slot in ended:
            c.note("recurrence", "ended", f"the recurrence hold of {slot} ended by time")
