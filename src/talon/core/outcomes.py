"""Outcomes first: what the actions handed out came to (DESIGN.md principle 8).

Only ``done`` starts the warmup and the durability window. ``refused`` makes that
heal unavailable for the incident, and the next one is chosen in the same cycle;
``failed``/``timeout`` cool the tier down and let a higher tier act; ``cancelled``/
``interrupted`` count as not done (the cooldown they took is given back), so a fault
that persists gets the next attempt under a new key; ``skipped`` did not run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from talon.core.cycle import Cycle
from talon.core.model import (
    HEALS,
    NOT_STARTED,
    UNSUCCESSFUL,
    ActionKind,
    ActionOutcome,
    ActionStatus,
    Incident,
    NodeState,
    Pending,
    Verification,
)
from talon.core.recurrence import record


def absorb(c: Cycle, outcomes: Sequence[ActionOutcome]) -> None:
    """What the actions handed out came to. Unknown keys (another incident's) are ignored."""
    for outcome in outcomes:
        incident = c.state.incident
        if incident is None or outcome.key not in incident.pending:
            continue
        pending = incident.pending[outcome.key]
        c.set_incident(
            replace(
                incident,
                pending={k: v for k, v in incident.pending.items() if k != outcome.key},
                results={**incident.results, pending.slot: outcome.status},
            )
        )
        if pending.kind in HEALS:
            _heal_outcome(c, pending, outcome)
        else:
            said = f"{outcome.key}: {outcome.detail}" if outcome.detail else outcome.key
            c.note(pending.kind.value, outcome.status.value, said)
            if pending.kind is ActionKind.AGENT_CLOUD and outcome.status in UNSUCCESSFUL:
                c.redecide.add(pending.slot)  # the local agent may act at once (tier 3)
    if c.state.node is NodeState.HEALING and not _heals_pending(c.state.incident):
        c.state = replace(c.state, node=NodeState.FAILED)


def _heals_pending(incident: Incident | None) -> bool:
    return incident is not None and any(p.kind in HEALS for p in incident.pending.values())


def _heal_outcome(c: Cycle, pending: Pending, outcome: ActionOutcome) -> None:
    status, kind = outcome.status, pending.kind
    detail = f": {outcome.detail}" if outcome.detail else ""
    at = outcome.at if outcome.at is not None else c.now
    if status is ActionStatus.DONE:
        record(c, pending, at)
        _start_verification(c, at)
        c.note("verify", "done", f"{kind} done{detail}; proving it over the window")
        return
    if status in NOT_STARTED:
        # Not done: the cooldown it took is given back, so the fault, if it persists,
        # gets the next attempt (under the next key) instead of a verification (F20, F21).
        stamps = dict(c.state.last_action_at)
        if pending.previous is None:
            stamps.pop(pending.slot, None)
        else:
            stamps[pending.slot] = pending.previous
        c.state = replace(c.state, last_action_at=stamps)
    if status is ActionStatus.REFUSED:
        c.set_incident(replace(c.incident, refused=c.incident.refused | {kind}))
        c.note("platform", "refused", f"{kind} cannot run on this node{detail}; next heal")
        c.redecide.add(pending.slot)
    elif status in UNSUCCESSFUL:
        c.note("heal", status.value, f"{kind}{detail}; it cools down, a higher tier may act")
        c.redecide.add(pending.slot)
    elif status in NOT_STARTED:
        c.note("heal", status.value, f"{kind} not done{detail}; next attempt if it persists")
    else:  # skipped: shadow mode, or a key the journal had seen
        c.note("heal", status.value, f"{kind} did not run{detail}")


def _start_verification(c: Cycle, at: float) -> None:
    """A heal ran to the end: the warmup counts from its end (a force-cycle takes minutes)."""
    warmup_until = at + c.config.healing.warmup_secs
    v = c.state.verification
    if v is None:
        v = Verification(at, warmup_until)
    elif warmup_until > v.warmup_until:
        v = replace(v, warmup_until=warmup_until)
    node = NodeState.HOLD if c.state.hold is not None else NodeState.VERIFYING
    c.state = replace(c.state, verification=v, node=node)
    c.set_incident(replace(c.incident, healed=True))
