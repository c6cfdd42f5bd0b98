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
from talon.core.model import (
    ActionKind,
    ActionStatus,
    Finding,
    Hold,
    Incident,
    NodeState,
    Report,
    Verification,
)
from talon.core.policy import CYCLES_THE_RUNTIME
from talon.faults import Fault
from talon.report import Status


def open_incident(c: Cycle) -> None:
    """Named after the cycle's stamp: a lost state file never makes an id come back (F23)."""
    if c.state.incident is None:
        name = c.stamp or f"{c.now:.0f}"
        incident = Incident(id=f"{c.config.node_id}-{name}", opened_at=c.now)
        c.state = replace(c.state, incident=incident)
        c.opened = incident


def close(c: Cycle, outcome: str) -> None:
    """A recovery is always announced when the incident had a root cause, whether or not
    a heal ran and whatever notice its opening got (one message per root cause)."""
    if outcome != "recovered" and c.incident.root_cause is not None:
        took = c.now - c.incident.opened_at
        what = "without a heal" if outcome == "resolved_without_action" else "after a heal"
        c.notify("resolved", f"resolved {what}: {c.incident.root_cause} is gone ({took:.0f}s)")
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
    # An unknown cannot tell: neither a regression nor a green check (F26).
    told = [r for r in control if r.status is not Status.UNKNOWN]
    all_green = all(green(r) for r in told)
    if c.now < v.warmup_until:
        hard = [f for f in found.roots if hard_in_warmup(c, f)]
        if hard:
            failed_recovery(c, f"hard fault during warmup: {hard[0].fault} on {hard[0].probe}")
        elif not all_green:
            c.note("verify", "noted", "warmup: transient failures tolerated")
        return False
    if not all_green:
        bad = next(r for r in told if not green(r))
        failed_recovery(c, f"{bad.key} regressed: {bad.message}")
        return False
    if len(told) < len(control):
        c.note("verify", "noted", "a control-path probe cannot tell: this check does not count")
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


def hard_in_warmup(c: Cycle, finding: Finding) -> bool:
    """Hard faults fail a verification at once, even inside the warmup (seed 000): RBAC
    drift, and the API server unreachable unless the runtime under it was just cycled
    (by this incident's heal, or a boot seen within the warmup): then the API server
    is still starting and refuses (R9)."""
    if finding.unknown:
        return False
    if finding.fault.hard:
        return True
    if finding.fault is not Fault.CLUSTER_DOWN:
        return False
    cycled = {k.value for k in CYCLES_THE_RUNTIME}
    if any(
        slot.split(":", 1)[0] in cycled and status is ActionStatus.DONE
        for slot, status in c.incident.results.items()
    ):
        return False
    boot = c.state.runtime_boot_at
    return boot is None or c.now - boot >= c.config.healing.warmup_secs


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
