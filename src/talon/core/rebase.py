"""``rebase(state, delta)``: every time in a state, moved by ``delta`` seconds.

The core's times are Talon's clock (monotonic, anchored to the wall clock when
the daemon starts). A state saved by one run and loaded by the next is moved
onto the new run's clock by the time that really passed in between, so a
clock jump while Talon was down (or a reboot) never ends a hold, a cooldown or
a warmup early, nor stretches one (F22). Pure: the shell measures ``delta``.
"""

from __future__ import annotations

from dataclasses import replace

from talon.core.model import CoreState, Hold, Incident, Pause, Pending, Verification


def rebase(state: CoreState, delta: float) -> CoreState:
    if delta == 0:
        return state
    return replace(
        state,
        incident=_incident(state.incident, delta),
        last_closed=_incident(state.last_closed, delta),
        last_action_at={k: t + delta for k, t in state.last_action_at.items()},
        unhealthy_runtime_ticks=tuple(t + delta for t in state.unhealthy_runtime_ticks),
        runtime_boot_at=_opt(state.runtime_boot_at, delta),
        verification=_verification(state.verification, delta),
        hold=None if state.hold is None else _hold(state.hold, delta),
        failed_recovery_at=_opt(state.failed_recovery_at, delta),
        settle_until=_opt(state.settle_until, delta),
        pauses=tuple(_pause(p, delta) for p in state.pauses),
        heal_history=tuple(replace(r, at=r.at + delta) for r in state.heal_history),
        held_heals={k: t + delta for k, t in state.held_heals.items()},
    )


def _opt(t: float | None, delta: float) -> float | None:
    return None if t is None else t + delta


def _hold(hold: Hold, delta: float) -> Hold:
    return replace(hold, since=hold.since + delta, until=hold.until + delta)


def _verification(v: Verification | None, delta: float) -> Verification | None:
    if v is None:
        return None
    return replace(
        v,
        started_at=v.started_at + delta,
        warmup_until=v.warmup_until + delta,
        durable_since=_opt(v.durable_since, delta),
    )


def _incident(incident: Incident | None, delta: float) -> Incident | None:
    if incident is None:
        return None
    return replace(
        incident,
        opened_at=incident.opened_at + delta,
        closed_at=_opt(incident.closed_at, delta),
        last_sos_at=_opt(incident.last_sos_at, delta),
        trail=tuple(replace(d, at=d.at + delta) for d in incident.trail),
        pending={k: _pending(p, delta) for k, p in incident.pending.items()},
    )


def _pending(p: Pending, delta: float) -> Pending:
    return replace(p, previous=_opt(p.previous, delta))


def _pause(pause: Pause, delta: float) -> Pause:
    return replace(pause, since=pause.since + delta, until=pause.until + delta)
