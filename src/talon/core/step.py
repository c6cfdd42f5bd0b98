"""``step(state, report, outcomes, now, config) -> Step``: the whole brain, pure.

Same inputs, same outputs: no clock, no I/O, no randomness. Outcomes first:
what the actions handed out before came to (principle 8). A heal moves the
node to ``healing``; only its ``done`` starts the warmup and the durability
window; ``refused`` makes that heal unavailable for the incident and the next
one is chosen at once; ``failed``/``timeout`` cool the tier down and let a
higher tier act; ``cancelled``/``interrupted`` count as not done, so a fault
that persists gets the next attempt under a new key. Then the report, when
there is one: debounce, classify, verify, heal, escalate.

``report`` is None for a follow-up in the same cycle: only the outcomes are
new, and the last assessment (``state.findings``) is decided on again.

Every action carries an idempotency key (incident, tier, target, attempt), and
a key once emitted is never emitted again (replay-safe). Incident ids come from
the cycle's stamp, never from a counter a lost state file could reset (F23).
Every decision, taken or blocked, leaves a line in the incident's trail.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from talon.core import policy
from talon.core.assess import PRIORITY, Assessment, assess, rank, update_counters
from talon.core.cycle import Cycle
from talon.core.escalate import CLOUD_SLOT, critical, escalate, maybe_sos
from talon.core.model import (
    ActionKind,
    ActionOutcome,
    CoreState,
    Finding,
    Hold,
    NodeState,
    Report,
    Step,
)
from talon.core.operator import expire_pauses
from talon.core.outcomes import absorb
from talon.core.recurrence import expire_held_heals, recurring
from talon.core.settings import CoreConfig
from talon.core.verify import open_incident, settle, verify
from talon.faults import Fault

BOOT_JITTER_S = 2.0  # readings of one boot differ by probe latency, not by a reboot


def step(
    state: CoreState,
    report: Report | None,
    outcomes: Sequence[ActionOutcome],
    now: float,
    config: CoreConfig,
) -> Step:
    c = Cycle(state, now, config)
    if report is not None:
        c.stamp, c.lock_holder = report.stamp, report.facts.runtime_lock_holder
        _watch_other_healers(c)
    absorb(c, outcomes)
    if report is not None:
        found = _observe(c, report)
        _expire_hold(c)
        expire_held_heals(c)
        expire_pauses(c)
        if c.state.verification is not None:
            if verify(c, found, report):
                _trouble(c, found)
        elif found.healthy and c.state.hold is None:
            settle(c)
        else:
            _trouble(c, found)
    elif c.redecide and c.state.incident is not None:
        _decide_again(c)
    return c.finish(state)


# outcomes ---------------------------------------------------------------------------


def _decide_again(c: Cycle) -> None:
    """A heal (or the cloud agent) was refused or failed in this cycle: choose again for
    the findings it was for."""
    if CLOUD_SLOT in c.redecide and c.state.roots:
        escalate(c, c.state.roots)
    roots = tuple(
        f
        for f in c.state.roots
        if any(policy.slot(h.kind, h.target) in c.redecide for h in policy.heals_for(f, c.config))
    )
    if roots and not _heal(c, roots):
        escalate(c, roots)


# observation ------------------------------------------------------------------------


def _observe(c: Cycle, report: Report) -> Assessment:
    counters = update_counters(c.state.counters, report.results)
    boot_at, short_boots = _boots(c.state, report, c.now, c.config)
    found = assess(report.results, counters, report.facts, short_boots, c.config)
    ticks = c.state.unhealthy_runtime_ticks
    if found.runtime_unhealthy:
        window = c.config.healing.force_cycle_confirm_window_secs
        ticks = (*(t for t in ticks if c.now - t <= window), c.now)
    c.state = replace(
        c.state,
        counters=counters,
        runtime_boot_at=boot_at,
        short_boots=short_boots,
        findings=found.findings,
        unhealthy_runtime_ticks=ticks,
    )
    return found


def _boots(
    state: CoreState, report: Report, now: float, config: CoreConfig
) -> tuple[float | None, int]:
    """Track VM boots; a boot that died younger than the minimum uptime counts (F11)."""
    uptime = report.facts.runtime_uptime_s
    if uptime is None:
        return state.runtime_boot_at, state.short_boots
    boot_at = now - uptime
    previous = state.runtime_boot_at
    if previous is None or boot_at <= previous + BOOT_JITTER_S:
        lived_long = uptime >= config.healing.runtime_min_uptime_secs
        return (previous if previous is not None else boot_at), (
            0 if lived_long else state.short_boots
        )
    lived = boot_at - previous
    short = state.short_boots + 1 if lived < config.healing.runtime_min_uptime_secs else 0
    return boot_at, short


def _expire_hold(c: Cycle) -> None:
    hold = c.state.hold
    if hold is not None and c.now >= hold.until:
        c.state = replace(c.state, hold=None, node=NodeState.FAILED)
        c.note("hold", "ended", "hold ended by time (R15)")


# the incident -----------------------------------------------------------------------


def _trouble(c: Cycle, found: Assessment) -> None:
    open_incident(c)
    roots = found.roots
    held = c.state.hold is not None
    if not roots:
        c.state = replace(c.state, node=NodeState.HOLD if held else NodeState.DEGRADED)
        return
    _record(c, roots)
    if not held:
        c.state = replace(c.state, node=NodeState.FAILED)
    if any(f.fault is Fault.RUNTIME_CRASH_LOOP for f in roots):
        _hold_for_crash_loop(c)
    c.evidence("failure detected", once=True)
    if not _heal(c, roots):
        escalate(c, roots)
    maybe_sos(c)


def _hold_for_crash_loop(c: Cycle) -> None:
    """Hold force-cycles (F11). A failed-recovery hold that is already running takes the
    crash loop as its reason, the better explanation, and is never shortened by it."""
    hold = c.state.hold
    if hold is not None and hold.reason is Fault.RUNTIME_CRASH_LOOP:
        return
    until = c.now + c.config.healing.hold_secs
    if hold is None:
        c.state = replace(
            c.state, node=NodeState.HOLD, hold=Hold(c.now, until, Fault.RUNTIME_CRASH_LOOP)
        )
        c.note("hold", "acted", "runtime crash loop: force-cycles on hold (F11)")
        return
    c.state = replace(
        c.state, hold=Hold(hold.since, max(hold.until, until), Fault.RUNTIME_CRASH_LOOP)
    )
    c.note("hold", "acted", f"runtime crash loop: the {hold.reason} hold is now a crash-loop hold")


def _record(c: Cycle, roots: tuple[Finding, ...]) -> None:
    """The incident's faults and headline; one notice per root cause (the first opens it),
    naming the root cause first and the failures it explains."""
    faults = tuple(dict.fromkeys((*c.incident.faults, *(f.fault for f in roots))))
    severity = max(len(PRIORITY) - rank(f) for f in roots)  # lower layers weigh more
    before = c.incident.root_cause
    incident = replace(
        c.incident,
        faults=faults,
        root_cause=roots[0].fault,
        severity=max(c.incident.severity, severity),
    )
    c.set_incident(incident)
    if before is None:
        c.notify("opened", headline(roots, c.state.findings))
    elif before is not roots[0].fault:  # a new root cause: its own notice, once
        c.notify(f"root-{roots[0].fault}", f"{headline(roots, c.state.findings)} (was {before})")


def headline(roots: tuple[Finding, ...], findings: tuple[Finding, ...]) -> str:
    """Root cause first, then the other roots, then what it explains (F27, one message)."""
    root = roots[0]
    text = f"{root.fault} on {root.probe}" + (" (cannot tell: unknown)" if root.unknown else "")
    if len(roots) > 1:
        text += "; also " + ", ".join(f"{f.fault} ({f.probe})" for f in roots[1:5])
        text += f" and {len(roots) - 5} more" if len(roots) > 5 else ""
    explained = [f for f in findings if f.explained]
    if explained:
        text += "; it explains " + ", ".join(f"{f.fault} ({f.probe})" for f in explained[:8])
        text += f" and {len(explained) - 8} more" if len(explained) > 8 else ""
    return text


def _watch_other_healers(c: Cycle) -> None:
    """The runtime lock held by someone else, then released: their action's warmup starts."""
    busy = c.lock_holder is not None
    if busy and not c.state.others_busy:
        c.state = replace(c.state, others_busy=True)
    elif not busy and c.state.others_busy:
        until = c.now + c.config.healing.warmup_secs
        c.state = replace(c.state, others_busy=False, settle_until=until)
        c.note(
            "warmup",
            "noted",
            "the runtime lock was released: the action that held it gets "
            f"its warmup ({c.config.healing.warmup_secs:g}s) before any heal",
        )


def _heal(c: Cycle, roots: tuple[Finding, ...]) -> bool:
    """Tier 1 for every root that has one here; True when a heal was emitted or is waiting."""
    acted = waiting = False
    seen: set[str] = set()
    for finding in roots:
        paused = c.state.paused(finding.probe)
        if paused is not None:  # an operator is at work: no heal, and no escalation (F28)
            why = f"{finding.fault} on {finding.probe}: paused by {paused.by}"
            c.note("pause", "blocked", why, once=True)
            continue
        if finding.unknown:  # it cannot tell: reported and escalated, never healed on (F26)
            c.note(
                "unknown",
                "blocked",
                f"{finding.probe} cannot tell ({finding.fault}): an unknown is never "
                "the sole ground for a heal",
                once=True,
            )
            continue
        heal = policy.heal_for(finding, c.config, c.incident)
        if heal is None:
            if policy.heals_for(finding, c.config):
                c.note("platform", "blocked", f"{finding.fault}: {_unavailable(c, finding)}")
            elif finding.no_heal:
                c.note("no_heal", "blocked", f"{finding.probe}: {finding.no_heal}", once=True)
            continue
        key = policy.slot(heal.kind, heal.target)
        if key in seen:
            continue
        seen.add(key)
        if recurring(c, finding, key):  # healed too often: held, escalated with its history
            continue
        g = policy.gate(
            heal.kind, heal.target, c.state, c.now, c.config, critical(c), c.lock_holder
        )
        if not g.allowed:
            # No gate blocks forever: past its patience, a waiting gate lets a higher tier act.
            patient = c.now - c.incident.opened_at < c.config.healing.gate_patience_secs
            tail = "" if g.escalate or patient else "; blocked too long, escalating meanwhile"
            c.note(g.rule, "blocked", f"{heal.kind} for {finding.fault}: {g.reason}{tail}")
            waiting = waiting or (not g.escalate and patient)
            continue
        c.evidence(f"before {heal.kind}")
        # A container restart names the probe too: its socket says which engine to ask.
        probe = finding.probe if heal.kind is ActionKind.RESTART_CONTAINER else ""
        reason = f"{finding.fault} on {finding.probe}: {g.reason}"
        if c.emit(heal.kind, reason, heal.target, probe):
            c.note(g.rule, "acted", f"{heal.kind} {heal.target} for {finding.fault}")
            acted = True
    if acted:
        held = c.state.hold is not None
        c.state = replace(c.state, node=NodeState.HOLD if held else NodeState.HEALING)
    return acted or waiting


def _unavailable(c: Cycle, finding: Finding) -> str:
    """Why no heal of this finding can run here: what the platform lacks or refused."""
    platform = c.config.platform
    parts = []
    for heal in policy.heals_for(finding, c.config):
        if heal.kind in c.incident.refused:
            parts.append(f"{heal.kind} was refused")
        elif (need := policy.NEEDS.get(heal.kind)) is not None and need not in platform:
            owner = (
                platform.process_manager if need.value == "restart_service" else platform.runtime
            )
            parts.append(f"{heal.kind} needs {need}, which {owner} does not offer")
    return "no heal on this node (" + "; ".join(parts) + "): escalating"
