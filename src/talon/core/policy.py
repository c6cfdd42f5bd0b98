"""Policy: which action a fault calls for, and every gate in front of it.

Gates, each read before acting and each leaving a reason in the incident's
trail: the hold (R15), the tier's cooldown (R12), its budget per incident with
a rate-limited way back for a critical node (R16), and for a force-cycle the
confirmation of 2 unhealthy ticks within 420 s, no warmup and no hold (R13).
"""

from __future__ import annotations

from dataclasses import dataclass

from talon.core.assess import Finding
from talon.core.model import CONTROL_PATH_HEALS, ActionKind, CoreState
from talon.core.settings import CoreConfig
from talon.faults import Fault

REPAIR_HINTS = {
    Fault.REDIS_AOF_CORRUPT: (
        "redis refuses its append-only file. Do not restart it in a loop. Inspect with "
        "`redis-check-aof` (without --fix); `--fix` truncates data at the damage, so a human "
        "or the agent must decide (R27)."
    ),
    Fault.RUNTIME_CRASH_LOOP: "the VM keeps dying soon after boot; force-cycles are on hold.",
    Fault.CRASH_LOOP: "the worker exits right after start; see its stderr log.",
    Fault.PORT_CONFLICT: (
        "a process that is not an orphan holds the worker's port, so the supervisor will not "
        "kill it (R22); stop it through whoever runs it."
    ),
    Fault.NETWORK_DOWN: "every remote target is unreachable while local ones answer.",
}


def heal_for(finding: Finding, config: CoreConfig) -> ActionKind | None:
    """The tier-1 action for a root finding, or None when only escalation helps."""
    fault = finding.fault
    if fault is Fault.SPLIT_BRAIN:
        return ActionKind.BRIDGE_HEAL
    if fault is Fault.SERVICE_DOWN:
        return ActionKind.RESTART_SERVICE
    if fault is Fault.RBAC_DRIFT:
        return ActionKind.APPLY_RBAC_GUARD if config.healing.rbac_guard_manifest else None
    if fault is Fault.RUNTIME_DOWN:
        return ActionKind.HEAL_SCRIPT if config.heal_script else ActionKind.FORCE_CYCLE
    if fault in (Fault.CLUSTER_DOWN, Fault.NODE_NOT_READY):
        return ActionKind.HEAL_SCRIPT if config.heal_script else None
    return None  # aof damage, crash loops, port conflicts, network, host, app: escalate or tell


def cooldown(kind: ActionKind, config: CoreConfig) -> float:
    h = config.healing
    return {
        ActionKind.BRIDGE_HEAL: h.bridge_cooldown_secs,
        ActionKind.FORCE_CYCLE: h.force_cycle_cooldown_secs,
        ActionKind.HEAL_SCRIPT: h.heal_script_cooldown_secs,
        ActionKind.RESTART_SERVICE: h.restart_cooldown_secs,
        ActionKind.APPLY_RBAC_GUARD: h.rbac_cooldown_secs,
        ActionKind.AGENT_CLOUD: config.agent_cooldown_secs,
        ActionKind.AGENT_LOCAL: config.agent_cooldown_secs,
    }.get(kind, 0.0)


def slot(kind: ActionKind, target: str | None) -> str:
    return f"{kind.value}:{target or '-'}"


@dataclass(frozen=True)
class Gate:
    allowed: bool
    rule: str
    reason: str
    escalate: bool = False  # blocked for long (hold, budget): only a higher tier can help


def gate(
    kind: ActionKind,
    target: str | None,
    state: CoreState,
    now: float,
    config: CoreConfig,
    critical: bool = False,
) -> Gate:
    """May ``kind`` act on ``target`` now? ``critical``: in trouble past the threshold."""
    h = config.healing
    key = slot(kind, target)
    if state.hold is not None and kind in CONTROL_PATH_HEALS:
        # Tier 1 is off for the whole hold: hand over to the agent tier meanwhile.
        reason = f"hold ({state.hold.reason}) until {state.hold.until:.0f}"
        return Gate(False, "hold", reason, escalate=True)
    if kind in (ActionKind.FORCE_CYCLE, ActionKind.HEAL_SCRIPT):  # both cycle the stack
        ticks = [
            t for t in state.unhealthy_runtime_ticks if now - t <= h.force_cycle_confirm_window_secs
        ]
        if len(ticks) < h.force_cycle_confirm_ticks:
            return Gate(
                False,
                "force_cycle_confirmation",
                f"{len(ticks)} of {h.force_cycle_confirm_ticks} unhealthy ticks within "
                f"{h.force_cycle_confirm_window_secs}s (R13)",
            )
        if state.verification is not None:
            return Gate(False, "warmup", "a verification is running (R13)")
    last = state.last_action_at.get(key)
    if last is not None and now - last < cooldown(kind, config):
        left = cooldown(kind, config) - (now - last)
        return Gate(False, "cooldown", f"{key} cooling down for {left:.0f}s more (R12)")
    attempts = state.incident.attempts.get(key, 0) if state.incident else 0
    if attempts >= h.budget_per_incident:
        if critical and (last is None or now - last >= h.critical_retry_secs):
            return Gate(True, "critical_retry", "budget spent; critical node retries (R16)")
        return Gate(False, "budget", f"{attempts} attempts of {key} this incident", escalate=True)
    return Gate(True, "tier", f"attempt {attempts + 1} of {key}")
