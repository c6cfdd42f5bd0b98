"""A restart is not recovery (principle 4): the incident's opening, its verification
after a heal that ran to the end, a failed recovery and its hold, and its close.

A verification starts only from a ``done`` heal (talon.core.outcomes): the warmup
tolerates transient failures, hard faults fail at once; then the durability window must
stay green on the control path. A regression is a failed recovery: the marker, a hold,
the evidence, a notice.
"""

from __future__ import annotations

from dataclasses import replace

from talon.core.assess import Assessment, green, is_control_path
from talon.core.cycle import Cycle
from talon.core.model import ActionKind, Hold, Incident, NodeState, Report, Verification
from talon.faults import Fault


def open_incident(c: Cycle) -> None:
    """Named after the cycle's stamp: a lost state file never makes an id come back (F23)."""
    if c.state.incident is None:
        name = c.stamp or f"{c.now:.0f}"
        incident = Incident(id=f"{c.config.node_id}-{name}", opened_at=c.now)
        c.state = replace(c.state, incident=incident)
        c.opened = incident


def close(c: Cycle, outcome: str) -> None:
    c.note("incident", "closed", outcome)
    closed = replace(c.incident, closed_at=c.now, outcome=outcome)
    c.closed = closed
    c.state = replace(
        c.state,
        incident=None,
        node=NodeState.HEALTHY,
        verification=None,
        unhealthy_runtime_ticks=(),
        last_closed=closed,
    )


def settle(c: Cycle) -> None:
    """Everything passes and nothing is being verified."""
    if c.state.incident is not None:
        if c.incident.healed:  # a heal must be verified, never assumed (principle 4)
            c.state = replace(
                c.state, node=NodeState.VERIFYING, verification=Verification(c.now, c.now)
            )
            c.note("verify", "noted", "green again after a heal: proving it over the window")
            return
        # No heal ran to the end: nothing to verify. Say whether one was tried.
        close(c, "resolved" if c.incident.tried else "resolved_without_action")
    c.state = replace(c.state, node=NodeState.HEALTHY)


def verify(c: Cycle, found: Assessment, report: Report) -> bool:
    """One check of a running verification; True when what was found is trouble to act
    on now (a crash loop ends the verification; a recovery closed while something else
    fails)."""
    v = c.state.verification
    assert v is not None
    h = c.config.healing
    if any(f.fault is Fault.RUNTIME_CRASH_LOOP for f in found.roots):
        c.state = replace(c.state, verification=None)
        c.note("verify", "failed", "the VM is crash-looping: nothing to verify until it holds")
        return True
    control = [r for r in report.results if is_control_path(r, c.config)]
    all_green = all(green(r) for r in control)
    if c.now < v.warmup_until:
        hard = [f for f in found.roots if f.fault.hard]
        if hard:
            failed_recovery(c, f"hard fault during warmup: {hard[0].fault}")
        elif not all_green:
            c.note("verify", "noted", "warmup: transient failures tolerated")
        return False
    if not all_green:
        bad = next(r for r in control if not green(r))
        failed_recovery(c, f"{bad.key} regressed: {bad.message}")
        return False
    since = v.durable_since if v.durable_since is not None else c.now
    v = replace(v, greens=v.greens + 1, durable_since=since)
    c.state = replace(c.state, verification=v)
    if v.greens >= h.durability_checks and c.now - since >= h.durability_window_secs:
        c.evidence("recovery verified")
        c.notify("recovered", f"recovered: green for {c.now - since:.0f}s over {v.greens} checks")
        close(c, "recovered")
        return not found.healthy
    return False


def failed_recovery(c: Cycle, why: str) -> None:
    """Only reachable from a verification, which only a ``done`` heal starts."""
    h = c.config.healing
    c.state = replace(
        c.state,
        verification=None,
        node=NodeState.HOLD,
        failed_recovery_at=c.now,
        hold=Hold(c.now, c.now + h.hold_secs, Fault.FAILED_RECOVERY),
    )
    faults = tuple(dict.fromkeys((*c.incident.faults, Fault.FAILED_RECOVERY)))
    c.set_incident(replace(c.incident, faults=faults))
    c.note("verify", "failed", why)
    c.emit(ActionKind.PERSIST_MARKER, why, slot=f"marker:{c.now:.0f}")
    c.evidence("recovery regressed")
    c.notify(f"failed-recovery-{c.now:.0f}", f"failed recovery: {why}; hold for {h.hold_secs:g}s")
