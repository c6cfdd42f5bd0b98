"""Above tier 1: the agents (tiers 2 and 3) and the human (tier 4, SOS).

Tier 2 is the cloud agent; tier 3, the local agent, runs when the network is down,
when the cloud agent failed or timed out in this incident, or when only the local
one is configured (as the original did). Neither runs for app-class or host faults
(R3). An operator's pause (F28) withholds both, and the SOS, for what it covers.
"""

from __future__ import annotations

from dataclasses import replace

from talon.core import policy
from talon.core.cycle import Cycle
from talon.core.model import UNSUCCESSFUL, ActionKind, Finding, NodeState
from talon.faults import Fault

CLOUD_SLOT = policy.slot(ActionKind.AGENT_CLOUD, "incident")


def escalate(c: Cycle, roots: tuple[Finding, ...]) -> None:
    roots = tuple(f for f in roots if c.state.paused(f.probe) is None)  # F28
    hints = "; ".join(h for f in roots if (h := policy.hint(f)))
    if all(f.fault in (Fault.APP_FAILURE, Fault.HOST_FAULT) for f in roots):
        return  # visible and notified; never a reason for an agent or a heal (R3)
    kind, why = _agent(c, roots)
    if kind is None:
        c.note("agent", "blocked", why, once=True)
        return
    g = policy.gate(kind, "incident", c.state, c.now, c.config, critical(c))
    reason = f"{roots[0].fault}: tier 1 cannot help" + (f" ({why})" if why else "")
    if g.allowed and c.emit(kind, reason, "incident", hints):
        c.note("agent", "acted", f"{kind} for {roots[0].fault}" + (f": {why}" if why else ""))
        if c.state.hold is None:
            c.state = replace(c.state, node=NodeState.INVESTIGATING)
    elif not g.allowed:
        c.note(g.rule, "blocked", f"{kind}: {g.reason}")


def _agent(c: Cycle, roots: tuple[Finding, ...]) -> tuple[ActionKind | None, str]:
    """Which agent, and why that one; None with the reason when none can run."""
    cloud, local = c.config.cloud_agent, c.config.local_agent
    if any(f.fault is Fault.NETWORK_DOWN for f in roots):
        if local:
            return ActionKind.AGENT_LOCAL, "the network is down"
        return None, "the network is down and no local agent command is configured"
    cloud_failed = c.incident.results.get(CLOUD_SLOT) in UNSUCCESSFUL
    if cloud and not cloud_failed:
        return ActionKind.AGENT_CLOUD, ""
    if local:
        why = "the cloud agent failed" if cloud_failed else "no cloud agent is configured"
        return ActionKind.AGENT_LOCAL, why
    if cloud:  # failed, and nothing else: the cloud agent again after its cooldown
        return ActionKind.AGENT_CLOUD, "the cloud agent failed; no local agent is configured"
    return None, "no agent command is configured"


def _paused(c: Cycle, roots: tuple[Finding, ...]) -> bool:
    return all(c.state.paused(f.probe) is not None for f in roots)


def critical(c: Cycle) -> bool:
    return c.now - c.incident.opened_at >= c.config.critical_threshold_secs


def maybe_sos(c: Cycle) -> None:
    """Tier 4 after critical_threshold_secs in trouble; then per cooldown, or when worse (R17)."""
    if not critical(c):
        return
    if _paused(c, c.state.roots):
        c.note("pause", "blocked", "SOS withheld: an operator paused healing", once=True)
        return
    incident = c.incident
    last = incident.last_sos_at
    worse = incident.severity > incident.sos_severity
    due = last is None or c.now - last >= c.config.sos_cooldown_secs
    reason = f"in trouble for {c.now - incident.opened_at:.0f}s: {incident.root_cause}"
    if (due or worse) and c.emit(ActionKind.SOS, reason, slot="sos"):
        c.set_incident(replace(c.incident, last_sos_at=c.now, sos_severity=incident.severity))
        c.note("sos", "acted", "SOS" + (" (the incident got worse)" if worse and not due else ""))
    if c.state.node not in (NodeState.HOLD, NodeState.VERIFYING, NodeState.HEALING):
        sent = c.incident.last_sos_at is not None
        c.state = replace(c.state, node=NodeState.SOS if sent else NodeState.CRITICAL)
