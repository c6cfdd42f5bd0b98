"""What an operator tells the core (F28): end a hold, pause healing, resume it.

Each is a pure function of (state, now, what was asked) returning a ``Step``, applied
by the running daemon at a cycle boundary (``talon.daemon.commands``) or, with no
daemon, by the CLI under the state lock. Each leaves a line in an open incident's trail.
"""

from __future__ import annotations

from dataclasses import replace

from talon.core.cycle import Cycle
from talon.core.model import CoreState, NodeState, Pause, Step
from talon.core.settings import CoreConfig


def clear_hold(state: CoreState, now: float, who: str = "operator") -> Step:
    """``talon hold clear``: an operator ends a hold early. It is recorded like any action."""
    if state.hold is None and not state.held_heals:
        return Step(state)
    node = state.node if state.incident is None else NodeState.FAILED
    # A recurrence hold's history goes with it: the operator asks for a fresh attempt.
    history = tuple(r for r in state.heal_history if r.slot not in state.held_heals)
    cleared = replace(state, hold=None, held_heals={}, heal_history=history, node=node)
    c = Cycle(cleared, now, CoreConfig())
    if c.state.incident is None:
        c.state = replace(c.state, node=NodeState.HEALTHY)
        return c.finish(state)
    c.note("hold", "cleared", f"hold cleared by {who}")
    c.notify(f"hold-cleared-{now:.0f}", f"hold cleared by {who}")
    return c.finish(state)


def pause(
    state: CoreState, now: float, until: float, who: str = "operator", probe: str | None = None
) -> Step:
    """``talon pause [--for D] [--probe NAME]``: a new pause replaces one of the same scope."""
    kept = tuple(p for p in state.pauses if p.probe != probe)
    c = Cycle(replace(state, pauses=(*kept, Pause(now, until, who, probe))), now, CoreConfig())
    what = f"healing of {probe}" if probe else "healing and SOS"
    c.note("pause", "acted", f"{what} paused by {who} for {until - now:.0f}s")
    return c.finish(state)


def resume(state: CoreState, now: float, who: str = "operator", probe: str | None = None) -> Step:
    """``talon resume [--probe NAME]``: end that pause (or, without a probe, every pause)."""
    kept = tuple(p for p in state.pauses if probe is not None and p.probe != probe)
    if len(kept) == len(state.pauses):
        return Step(state)
    c = Cycle(replace(state, pauses=kept), now, CoreConfig())
    c.note("pause", "ended", f"{'healing of ' + probe if probe else 'healing'} resumed by {who}")
    return c.finish(state)


def expire_pauses(c: Cycle) -> None:
    """A pause ends by itself: an operator who forgets it never leaves the node unguarded."""
    ended = [p for p in c.state.pauses if c.now >= p.until]
    if ended:
        c.state = replace(c.state, pauses=tuple(p for p in c.state.pauses if c.now < p.until))
        for p in ended:
            c.note("pause", "ended", f"the pause by {p.by} ended by time")
