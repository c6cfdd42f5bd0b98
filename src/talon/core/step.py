"""``step(state, report, now, config) -> (state, actions)``: the whole brain, pure.

Same inputs, same outputs: no clock, no I/O, no randomness. Every action
carries an idempotency key (incident, tier, target, attempt), and a key once
emitted is never emitted again (replay-safe). Every decision, taken or
blocked, leaves a line in the incident's trail.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from talon.core import policy
from talon.core.assess import (
    PRIORITY,
    Assessment,
    Finding,
    assess,
    green,
    is_control_path,
    update_counters,
)
from talon.core.model import (
    TIERS,
    Action,
    ActionKind,
    CoreState,
    Decision,
    Hold,
    Incident,
    NodeState,
    Report,
    Verification,
)
from talon.core.settings import CoreConfig
from talon.faults import Fault

TRAIL_LIMIT = 200
BOOT_JITTER_S = 2.0  # readings of one boot differ by probe latency, not by a reboot


@dataclass
class _Cycle:
    """What one step accumulates: the state being built, its actions, its trail."""

    state: CoreState
    now: float
    config: CoreConfig
    actions: list[Action] = field(default_factory=list)

    @property
    def incident(self) -> Incident:
        assert self.state.incident is not None
        return self.state.incident

    def note(self, rule: str, outcome: str, reason: str) -> None:
        if self.state.incident is None:
            return
        trail = (*self.incident.trail, Decision(self.now, rule, outcome, reason))[-TRAIL_LIMIT:]
        self._set_incident(replace(self.incident, trail=trail))

    def emit(
        self,
        kind: ActionKind,
        reason: str,
        target: str | None = None,
        detail: str = "",
        slot: str | None = None,
    ) -> bool:
        """Emit once per key; returns False when this key was already handed out."""
        incident = self.incident
        slot = slot or policy.slot(kind, target)
        attempt = incident.attempts.get(slot, 0) + 1 if kind in TIERS else 1
        key = f"{incident.id}/{TIERS.get(kind, kind.value)}/{slot}/{attempt}"
        if key in incident.emitted:
            return False
        self.actions.append(Action(kind, key, incident.id, reason, target, TIERS.get(kind), detail))
        attempts = dict(incident.attempts)
        if kind in TIERS:
            attempts[slot] = attempt
            self.state = replace(
                self.state, last_action_at={**self.state.last_action_at, slot: self.now}
            )
        self._set_incident(replace(incident, emitted=incident.emitted | {key}, attempts=attempts))
        return True

    def evidence(self, moment: str, once: bool = False) -> None:
        """Ask the shell to keep what is seen now (R25); ``once`` per incident."""
        slot = f"evidence:{moment}" + ("" if once else f":{self.now:.0f}")
        self.emit(ActionKind.CAPTURE_EVIDENCE, moment, slot=slot)

    def notify(self, event: str, message: str) -> None:
        """One notification per incident and event (F18)."""
        self.emit(ActionKind.NOTIFY, message, slot=f"notify:{event}")

    def _set_incident(self, incident: Incident) -> None:
        self.state = replace(self.state, incident=incident)


def step(
    state: CoreState, report: Report, now: float, config: CoreConfig
) -> tuple[CoreState, list[Action]]:
    counters = update_counters(state.counters, report.results)
    boot_at, short_boots = _boots(state, report, now, config)
    found = assess(report.results, counters, report.facts, short_boots, config)
    cycle = _Cycle(
        replace(
            state,
            counters=counters,
            runtime_boot_at=boot_at,
            short_boots=short_boots,
            last_faults=tuple((f.probe, f.fault, f.explained) for f in found.findings),
        ),
        now,
        config,
    )
    _expire_hold(cycle)
    if cycle.state.verification is not None:
        _verify(cycle, found, report)
    elif found.healthy and cycle.state.hold is None:
        _settle(cycle)
    else:
        _trouble(cycle, found)
    return cycle.state, cycle.actions


def clear_hold(
    state: CoreState, now: float, who: str = "operator"
) -> tuple[CoreState, list[Action]]:
    """``talon hold clear``: an operator ends a hold early. It is recorded like any action."""
    if state.hold is None:
        return state, []
    cycle = _Cycle(replace(state, hold=None, node=NodeState.FAILED), now, CoreConfig())
    if cycle.state.incident is None:
        return replace(cycle.state, node=NodeState.HEALTHY), []
    cycle.note("hold", "cleared", f"hold cleared by {who}")
    cycle.notify(f"hold-cleared-{now:.0f}", f"hold cleared by {who}")
    return cycle.state, cycle.actions


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


def _expire_hold(c: _Cycle) -> None:
    hold = c.state.hold
    if hold is not None and c.now >= hold.until:
        c.state = replace(c.state, hold=None, node=NodeState.FAILED)
        c.note("hold", "ended", "hold ended by time (R15)")


def _open(c: _Cycle) -> None:
    if c.state.incident is None:
        seq = c.state.incident_seq + 1
        incident = Incident(id=f"{c.config.node_id}-{seq}", opened_at=c.now)
        c.state = replace(c.state, incident=incident, incident_seq=seq)


def _close(c: _Cycle, outcome: str) -> None:
    c.note("incident", "closed", outcome)
    closed = replace(c.incident, closed_at=c.now, outcome=outcome)
    c.state = replace(
        c.state,
        incident=None,
        node=NodeState.HEALTHY,
        verification=None,
        unhealthy_runtime_ticks=(),
        last_closed=closed,
    )


def _settle(c: _Cycle) -> None:
    """Everything passes and nothing is being verified."""
    if c.state.incident is not None:
        if c.incident.healed:  # a heal must be verified, never assumed (principle 4)
            c.state = replace(
                c.state, node=NodeState.VERIFYING, verification=Verification(c.now, c.now)
            )
            c.note("verify", "noted", "green again after a heal: proving it over the window")
            return
        _close(c, "resolved_without_action")
    c.state = replace(c.state, node=NodeState.HEALTHY)


def _verify(c: _Cycle, found: Assessment, report: Report) -> None:
    v = c.state.verification
    assert v is not None
    h = c.config.healing
    done = report.facts.heal_finished_at
    if done is not None and done >= v.started_at and done + h.warmup_secs > v.warmup_until:
        v = replace(v, warmup_until=done + h.warmup_secs)  # the heal outlasted its decision
        c.state = replace(c.state, verification=v)
    if any(f.fault is Fault.RUNTIME_CRASH_LOOP for f in found.roots):
        c.state = replace(c.state, verification=None)
        c.note("verify", "failed", "the VM is crash-looping: nothing to verify until it holds")
        return _trouble(c, found)
    control = [r for r in report.results if is_control_path(r, c.config)]
    all_green = all(green(r) for r in control)
    if c.now < v.warmup_until:
        hard = [f for f in found.roots if f.fault.hard]
        if hard:
            return _failed_recovery(c, f"hard fault during warmup: {hard[0].fault}")
        if not all_green:
            c.note("verify", "noted", "warmup: transient failures tolerated")
        return
    if not all_green:
        bad = next(r for r in control if not green(r))
        return _failed_recovery(c, f"{bad.key} regressed: {bad.message}")
    since = v.durable_since if v.durable_since is not None else c.now
    v = replace(v, greens=v.greens + 1, durable_since=since)
    c.state = replace(c.state, verification=v)
    if v.greens >= h.durability_checks and c.now - since >= h.durability_window_secs:
        c.evidence("recovery verified")
        c.notify("recovered", f"recovered: green for {c.now - since:.0f}s over {v.greens} checks")
        _close(c, "recovered")
        if not found.healthy:
            _trouble(c, found)


def _failed_recovery(c: _Cycle, why: str) -> None:
    h = c.config.healing
    c.state = replace(
        c.state,
        verification=None,
        node=NodeState.HOLD,
        failed_recovery_at=c.now,
        hold=Hold(c.now, c.now + h.hold_secs, Fault.FAILED_RECOVERY),
    )
    c._set_incident(replace(c.incident, faults=tuple({*c.incident.faults, Fault.FAILED_RECOVERY})))
    c.note("verify", "failed", why)
    c.emit(ActionKind.PERSIST_MARKER, why, slot=f"marker:{c.now:.0f}")
    c.evidence("recovery regressed")
    c.notify(f"failed-recovery-{c.now:.0f}", f"failed recovery: {why}; hold for {h.hold_secs}s")


def _trouble(c: _Cycle, found: Assessment) -> None:
    _open(c)
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
    healed = _heal(c, roots)
    if not healed:
        _escalate(c, roots)
    _maybe_sos(c)


def _hold_for_crash_loop(c: _Cycle) -> None:
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


def _record(c: _Cycle, roots: tuple[Finding, ...]) -> None:
    faults = tuple(dict.fromkeys((*c.incident.faults, *(f.fault for f in roots))))
    severity = max(len(PRIORITY) - f.rank for f in roots)  # lower layers weigh more
    incident = replace(
        c.incident,
        faults=faults,
        root_cause=roots[0].fault,
        severity=max(c.incident.severity, severity),
    )
    c._set_incident(incident)
    if any(f.fault is Fault.RUNTIME_DOWN for f in roots):
        window = c.config.healing.force_cycle_confirm_window_secs
        ticks = tuple(t for t in c.state.unhealthy_runtime_ticks if c.now - t <= window)
        c.state = replace(c.state, unhealthy_runtime_ticks=(*ticks, c.now))
    c.notify(
        "opened",
        f"{roots[0].fault} ({roots[0].probe})"
        + (f" and {len(roots) - 1} more" if len(roots) > 1 else ""),
    )


def _heal(c: _Cycle, roots: tuple[Finding, ...]) -> bool:
    """Tier 1 for every root that has one; True when a heal was emitted or is waiting."""
    acted = waiting = False
    seen: set[str] = set()
    for finding in roots:
        kind = policy.heal_for(finding, c.config)
        if kind is None or policy.slot(kind, finding.target) in seen:
            continue
        seen.add(policy.slot(kind, finding.target))
        g = policy.gate(kind, finding.target, c.state, c.now, c.config, _critical(c))
        if not g.allowed:
            c.note(g.rule, "blocked", f"{kind} for {finding.fault}: {g.reason}")
            waiting = waiting or not g.escalate
            continue
        c.evidence(f"before {kind}")
        if c.emit(kind, f"{finding.fault} on {finding.probe}: {g.reason}", finding.target):
            c.note(g.rule, "acted", f"{kind} {finding.target} for {finding.fault}")
            acted = True
    if acted:
        h = c.config.healing
        boot = c.state.runtime_boot_at or c.now
        c.state = replace(
            c.state,
            node=NodeState.VERIFYING,
            verification=Verification(c.now, max(c.now, boot) + h.warmup_secs),
        )
        c._set_incident(replace(c.incident, healed=True))
    return acted or waiting


def _escalate(c: _Cycle, roots: tuple[Finding, ...]) -> None:
    """Tier 2 (cloud agent) or 3 (local agent, when the network is down)."""
    hints = "; ".join(policy.REPAIR_HINTS[f.fault] for f in roots if f.fault in policy.REPAIR_HINTS)
    if all(f.fault in (Fault.APP_FAILURE, Fault.HOST_FAULT) for f in roots):
        return  # visible and notified; never a reason for an agent or a heal (R3)
    local = any(f.fault is Fault.NETWORK_DOWN for f in roots)
    kind = ActionKind.AGENT_LOCAL if local else ActionKind.AGENT_CLOUD
    configured = c.config.local_agent if local else c.config.cloud_agent
    if not configured:
        c.note(
            "agent", "blocked", f"no {'local' if local else 'cloud'} agent command is configured"
        )
        return
    g = policy.gate(kind, "incident", c.state, c.now, c.config, _critical(c))
    if g.allowed and c.emit(kind, f"{roots[0].fault}: tier 1 cannot help", "incident", hints):
        c.note("agent", "acted", f"{kind} for {roots[0].fault}")
        if c.state.hold is None:
            c.state = replace(c.state, node=NodeState.INVESTIGATING)
    elif not g.allowed:
        c.note(g.rule, "blocked", f"{kind}: {g.reason}")


def _critical(c: _Cycle) -> bool:
    return c.now - c.incident.opened_at >= c.config.critical_threshold_secs


def _maybe_sos(c: _Cycle) -> None:
    """Tier 4 after critical_threshold_secs in trouble; then per cooldown, or when worse (R17)."""
    if not _critical(c):
        return
    incident = c.incident
    last = incident.last_sos_at
    worse = incident.severity > incident.sos_severity
    due = last is None or c.now - last >= c.config.sos_cooldown_secs
    reason = f"in trouble for {c.now - incident.opened_at:.0f}s: {incident.root_cause}"
    if (due or worse) and c.emit(ActionKind.SOS, reason, slot="sos"):
        c._set_incident(replace(c.incident, last_sos_at=c.now, sos_severity=incident.severity))
        c.note("sos", "acted", "SOS" + (" (the incident got worse)" if worse and not due else ""))
    if c.state.node not in (NodeState.HOLD, NodeState.VERIFYING):
        sent = c.incident.last_sos_at is not None
        c.state = replace(c.state, node=NodeState.SOS if sent else NodeState.CRITICAL)
