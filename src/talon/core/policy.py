"""Policy: which heal a fault calls for on this platform, and every gate in front of it.

A fault has heals in order of preference; the first one this node's platform
declared it can do, and has not refused in this incident, is chosen (F20).
Gates, each read before acting and each leaving a reason in the incident's
trail: the hold (R15), someone else holding the runtime lock (R19), the tier's
cooldown (R12), its budget per incident with a rate-limited way back for a
critical node (R16), and for a force-cycle (or anything else that cycles the
runtime) the confirmation of 2 unhealthy ticks within 420 s and no running
verification (R13).
"""

from __future__ import annotations

from dataclasses import dataclass

from talon.capabilities import Capability
from talon.core.model import (
    CONTROL_PATH_HEALS,
    UNSUCCESSFUL,
    ActionKind,
    CoreState,
    Finding,
    Incident,
)
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

# What each heal needs the platform to do; a heal not listed needs nothing of it.
NEEDS = {
    ActionKind.BRIDGE_HEAL: Capability.RESTART_FORWARDING,
    ActionKind.FORCE_CYCLE: Capability.FORCE_CYCLE,
    ActionKind.RESTART_ENGINE: Capability.RESTART_SERVICE,
    ActionKind.RESTART_SERVICE: Capability.RESTART_SERVICE,
    ActionKind.RESTART_CONTAINER: Capability.RESTART_CONTAINER,
}
# Heals that stop and start the runtime: the force-cycle's gates apply (R13).
CYCLES_THE_RUNTIME = frozenset(
    {ActionKind.FORCE_CYCLE, ActionKind.HEAL_SCRIPT, ActionKind.RESTART_ENGINE}
)


@dataclass(frozen=True)
class Heal:
    kind: ActionKind
    target: str | None


def heals_for(finding: Finding, config: CoreConfig) -> tuple[Heal, ...]:
    """Every heal for a root finding, most preferred first, before the platform is asked."""
    fault, target = finding.fault, finding.target
    engine = config.platform.engine_service
    if finding.no_heal:  # a rule says why nothing may act on it (a stopped container)
        return ()
    if fault is Fault.SPLIT_BRAIN:  # the bridge alone; else what restarts it (the VM)
        return (Heal(ActionKind.BRIDGE_HEAL, target), Heal(ActionKind.FORCE_CYCLE, target))
    if fault is Fault.SERVICE_DOWN:
        probe = config.policy(finding.probe)
        if probe is not None and probe.container is not None:  # one container, by its engine
            return (Heal(ActionKind.RESTART_CONTAINER, target),) if target else ()
        return (Heal(ActionKind.RESTART_SERVICE, target),) if target else ()
    if fault is Fault.RBAC_DRIFT:
        return (Heal(ActionKind.APPLY_RBAC_GUARD, target),) if config.healing.rbac_guard else ()
    if fault is Fault.RUNTIME_DOWN:
        heals = [Heal(ActionKind.HEAL_SCRIPT, target)] if config.heal_script else []
        heals.append(Heal(ActionKind.FORCE_CYCLE, target))
        if engine:
            heals.append(Heal(ActionKind.RESTART_ENGINE, engine))
        return tuple(heals)
    if fault in (Fault.CLUSTER_DOWN, Fault.NODE_NOT_READY):
        return (Heal(ActionKind.HEAL_SCRIPT, target),) if config.heal_script else ()
    return ()  # aof damage, crash loops, port conflicts, network, host, app: escalate or tell


def available(heal: Heal, config: CoreConfig, incident: Incident | None) -> bool:
    """Declared by the platform, and not refused by it in this incident."""
    need = NEEDS.get(heal.kind)
    if need is not None and need not in config.platform:
        return False
    return incident is None or heal.kind not in incident.refused


def heal_for(finding: Finding, config: CoreConfig, incident: Incident | None) -> Heal | None:
    """The heal this node can do for a root finding, or None when only escalation helps."""
    return next((h for h in heals_for(finding, config) if available(h, config, incident)), None)


def hint(finding: Finding) -> str | None:
    """What a human (or the agent) should know about a finding Talon will not heal."""
    return finding.no_heal or REPAIR_HINTS.get(finding.fault)


def cooldown(kind: ActionKind, config: CoreConfig) -> float:
    h = config.healing
    return {
        ActionKind.BRIDGE_HEAL: h.bridge_cooldown_secs,
        ActionKind.FORCE_CYCLE: h.force_cycle_cooldown_secs,
        ActionKind.HEAL_SCRIPT: h.heal_script_cooldown_secs,
        ActionKind.RESTART_ENGINE: h.force_cycle_cooldown_secs,
        ActionKind.RESTART_SERVICE: h.restart_cooldown_secs,
        ActionKind.RESTART_CONTAINER: h.restart_cooldown_secs,
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
    escalate: bool = False  # blocked for long, or the tier failed: a higher tier may act


def gate(
    kind: ActionKind,
    target: str | None,
    state: CoreState,
    now: float,
    config: CoreConfig,
    critical: bool = False,
    lock_holder: str | None = None,
) -> Gate:
    """May ``kind`` act on ``target`` now? ``critical``: in trouble past the threshold;
    ``lock_holder``: who else holds the runtime lock this cycle."""
    h = config.healing
    key = slot(kind, target)
    if state.hold is not None and kind in CONTROL_PATH_HEALS:
        # Tier 1 is off for the whole hold: hand over to the agent tier meanwhile.
        reason = f"hold ({state.hold.reason}) for {state.hold.until - now:.0f}s more"
        return Gate(False, "hold", reason, escalate=True)
    if lock_holder is not None:
        # A heal that outlived a Talon, or another healer, is at work on the runtime: what
        # the probes see is a moment of that work. Wait for it and look again, rather than
        # queue a second cycle of the runtime, or restart services it is bringing up.
        return Gate(False, "runtime_busy", f"the runtime lock is held by {lock_holder} (R19)")
    if state.settle_until is not None and now < state.settle_until:
        # What the lock's holder did (a VM cycle) needs the warmup our own heal would get:
        # services still coming up are not yet down.
        left = state.settle_until - now
        reason = f"another healer's runtime action just ended: its warmup, {left:.0f}s more"
        return Gate(False, "warmup", reason)
    if kind in CYCLES_THE_RUNTIME:
        ticks = [
            t for t in state.unhealthy_runtime_ticks if now - t <= h.force_cycle_confirm_window_secs
        ]
        if len(ticks) < h.force_cycle_confirm_ticks:
            return Gate(
                False,
                "force_cycle_confirmation",
                f"{len(ticks)} of {h.force_cycle_confirm_ticks} unhealthy ticks within "
                f"{h.force_cycle_confirm_window_secs:g}s (R13)",
            )
        if state.verification is not None:
            return Gate(False, "warmup", "a verification is running (R13)")
    incident = state.incident
    last = state.last_action_at.get(key)
    if last is not None and now - last < cooldown(kind, config):
        left = cooldown(kind, config) - (now - last)
        failed = incident is not None and incident.results.get(key) in UNSUCCESSFUL
        why = f"{key} cooling down for {left:.0f}s more (R12)"
        if failed:  # waiting on a tier that just failed helps nobody: escalate meanwhile
            return Gate(False, "cooldown", f"{why}; its last attempt failed", escalate=True)
        return Gate(False, "cooldown", why)
    attempts = incident.attempts.get(key, 0) if incident else 0
    if attempts >= h.budget_per_incident:
        if critical and (last is None or now - last >= h.critical_retry_secs):
            return Gate(True, "critical_retry", "budget spent; critical node retries (R16)")
        return Gate(False, "budget", f"{attempts} attempts of {key} this incident", escalate=True)
    return Gate(True, "tier", f"attempt {attempts + 1} of {key}")
