"""The core's vocabulary: node states, the operator's signal, its inputs, its state, its actions.

Everything here is an immutable value. The core never reads a clock, never does
I/O and never draws a random number: ``step`` gets all it needs as arguments,
including what the actions it emitted came to (their outcomes, principle 8).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from talon.faults import Fault
from talon.report import ProbeResult


class NodeState(enum.StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"  # something fails, not yet past its debounce
    FAILED = "failed"  # past the debounce: a heal is due (or none can run)
    HEALING = "healing"  # a heal was handed to the shell; its outcome is awaited
    VERIFYING = "verifying"  # a heal ran to the end: warmup, then the durability window
    INVESTIGATING = "investigating"  # handed to an agent
    CRITICAL = "critical"  # in trouble longer than critical_threshold_secs
    SOS = "sos"  # a human was called
    HOLD = "hold"  # no force-cycle or heal script until the hold ends


class Signal(enum.StrEnum):
    """The one word an operator reads."""

    STABLE = "stable"
    RECOVERING = "recovering"
    FAILED_RECOVERY = "failed recovery"
    DEGRADED_HOLD = "degraded hold"


class ActionKind(enum.StrEnum):
    BRIDGE_HEAL = "bridge_heal"  # tier 1a: restart port forwarding
    FORCE_CYCLE = "force_cycle"  # tier 1b: stop and start the runtime
    HEAL_SCRIPT = "heal_script"  # tier 1b
    RESTART_ENGINE = "restart_engine"  # tier 1b: a native engine, through its process manager
    RESTART_SERVICE = "restart_service"  # tier 1c
    RESTART_CONTAINER = "restart_container"  # tier 1c: an unhealthy container, by the engine
    APPLY_RBAC_GUARD = "apply_rbac_guard"  # tier 1d
    AGENT_CLOUD = "agent_cloud"  # tier 2
    AGENT_LOCAL = "agent_local"  # tier 3
    SOS = "sos"  # tier 4
    NOTIFY = "notify"
    CAPTURE_EVIDENCE = "capture_evidence"
    PERSIST_MARKER = "persist_marker"  # the failed-recovery marker


TIERS = {
    ActionKind.BRIDGE_HEAL: "1a",
    ActionKind.FORCE_CYCLE: "1b",
    ActionKind.HEAL_SCRIPT: "1b",
    ActionKind.RESTART_ENGINE: "1b",
    ActionKind.RESTART_SERVICE: "1c",
    ActionKind.RESTART_CONTAINER: "1c",
    ActionKind.APPLY_RBAC_GUARD: "1d",
    ActionKind.AGENT_CLOUD: "2",
    ActionKind.AGENT_LOCAL: "3",
    ActionKind.SOS: "4",
}
HEALS = frozenset(k for k, tier in TIERS.items() if tier.startswith("1"))
# Heals that act on the runtime's life (the VM, its bridge, its engine): they run under the
# runtime lock (R19), and a hold stops them (R15). Every heal waits while someone else
# holds that lock (talon.core.policy.gate).
CONTROL_PATH_HEALS = frozenset(
    {
        ActionKind.BRIDGE_HEAL,
        ActionKind.FORCE_CYCLE,
        ActionKind.HEAL_SCRIPT,
        ActionKind.RESTART_ENGINE,
    }
)


class ActionStatus(enum.StrEnum):
    """What an action came to, as the shell saw it."""

    DONE = "done"  # ran to the end and said it worked
    FAILED = "failed"  # ran and failed
    TIMEOUT = "timeout"  # killed at its bound
    REFUSED = "refused"  # the platform cannot do it here
    CANCELLED = "cancelled"  # Talon was stopped while it ran (R30)
    INTERRUPTED = "interrupted"  # begun and never ended: Talon died while it ran (F14, F21)
    SKIPPED = "skipped"  # not run: shadow mode, or its key was already journalled


# Not done, and not known to have changed anything: the next attempt may run at once.
NOT_STARTED = frozenset({ActionStatus.REFUSED, ActionStatus.CANCELLED, ActionStatus.INTERRUPTED})
# Ran and did not work: the tier cools down, and a higher tier may act meanwhile.
UNSUCCESSFUL = frozenset({ActionStatus.FAILED, ActionStatus.TIMEOUT})


@dataclass(frozen=True)
class Action:
    """Something the shell should do. ``key`` is unique per incident, tier, target and attempt."""

    kind: ActionKind
    key: str
    incident_id: str
    reason: str
    target: str | None = None
    tier: str | None = None
    detail: str = ""


@dataclass(frozen=True)
class ActionOutcome:
    """What the shell reports back for an action's key; ``at`` is when it ended (core time)."""

    key: str
    status: ActionStatus
    detail: str = ""
    at: float | None = None


@dataclass(frozen=True)
class Facts:
    """What the shell knows besides probe results."""

    runtime_uptime_s: float | None = None
    worker_quick_exits: int = 0  # consecutive exits right after start (from the supervisor)
    port_holder_pid: int | None = None  # holds the worker's port; the supervisor may not kill it
    # Who holds the runtime lock now (a heal script that outlived a Talon, another healer):
    # runtime heals wait for it instead of queueing behind it (R19).
    runtime_lock_holder: str | None = None


@dataclass(frozen=True)
class Report:
    """The core's input for one cycle.

    ``stamp`` names the cycle uniquely (the shell makes it from the wall time and a
    random suffix): an incident opened in it is named after it, so a lost state file
    can never make a new incident reuse an old id or its journal keys (F23).
    """

    results: tuple[ProbeResult, ...]
    facts: Facts = Facts()
    stamp: str = ""


@dataclass(frozen=True)
class Finding:
    fault: Fault
    layer: str
    probe: str  # the probe key, or a fact's name
    target: str | None  # what a heal acts on
    explained: bool = False
    no_heal: str = ""  # why a rule says no heal may act on it (a stopped container)
    unknown: bool = False  # its probe could not tell (Nagios UNKNOWN): never healed on alone


@dataclass(frozen=True)
class Decision:
    """One line of an incident's trail: why Talon acted, or why it did not."""

    at: float
    rule: str
    outcome: str  # "acted", "blocked", "noted", or an action's status
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"at": self.at, "rule": self.rule, "outcome": self.outcome, "reason": self.reason}


@dataclass(frozen=True)
class Pending:
    """An action handed to the shell whose outcome has not come back yet."""

    slot: str  # "kind:target"
    kind: ActionKind
    previous: float | None = None  # the slot's cooldown stamp before this attempt


@dataclass(frozen=True)
class Incident:
    id: str
    opened_at: float
    root_cause: Fault | None = None
    faults: tuple[Fault, ...] = ()
    attempts: dict[str, int] = field(default_factory=dict)  # "kind:target" -> count
    emitted: frozenset[str] = frozenset()  # idempotency keys handed to the shell
    trail: tuple[Decision, ...] = ()
    healed: bool = False  # did a tier-1 heal run to the end (done) in this incident
    severity: int = 0  # grows when the incident gets worse (R17)
    last_sos_at: float | None = None
    sos_severity: int = -1
    closed_at: float | None = None
    outcome: str | None = None  # recovered | resolved | resolved_without_action
    pending: dict[str, Pending] = field(default_factory=dict)  # key -> awaited outcome
    refused: frozenset[ActionKind] = frozenset()  # heals this node's platform refused
    results: dict[str, ActionStatus] = field(default_factory=dict)  # slot -> last outcome

    @property
    def tried(self) -> bool:
        """Was any heal handed to the shell in this incident (whatever it came to)?"""
        return any(slot.split(":", 1)[0] in HEALS for slot in self.attempts)

    def summary(self) -> dict[str, Any]:
        """The incident as plain JSON, without its trail."""
        return {
            "id": self.id,
            "opened_at": self.opened_at,
            "closed_at": self.closed_at,
            "outcome": self.outcome,
            "root_cause": self.root_cause and self.root_cause.value,
            "faults": [f.value for f in self.faults],
            "healed": self.healed,
            "attempts": self.attempts,
            "results": {slot: status.value for slot, status in self.results.items()},
            "refused": sorted(k.value for k in self.refused),
        }

    def as_dict(self, last: int | None = None) -> dict[str, Any]:
        """``summary()`` plus the trail (its ``last`` decisions, or all of it)."""
        trail = self.trail if last is None else self.trail[-last:]
        return {**self.summary(), "trail": [d.as_dict() for d in trail]}


@dataclass(frozen=True)
class Verification:
    started_at: float
    warmup_until: float
    greens: int = 0
    durable_since: float | None = None  # end of warmup, once reached


@dataclass(frozen=True)
class Hold:
    since: float
    until: float
    reason: Fault  # failed_recovery or runtime_crash_loop


@dataclass(frozen=True)
class Pause:
    """An operator's "I am working on this box" (F28): probes run and report; no heal, no
    agent and no SOS for what it covers until ``until`` (it always ends by itself) or
    ``talon resume``. ``probe``: only that probe's findings; None: the whole node."""

    since: float
    until: float
    by: str = "operator"
    probe: str | None = None

    def covers(self, probe: str | None) -> bool:
        return self.probe is None or self.probe == probe


@dataclass(frozen=True)
class HealRecord:
    """A heal that ran to the end (``done``), for the recurrence breaker (F29)."""

    at: float
    fault: Fault
    slot: str  # "kind:target"


@dataclass(frozen=True)
class CoreState:
    node: NodeState = NodeState.HEALTHY
    counters: dict[str, int] = field(default_factory=dict)  # consecutive failures per probe
    incident: Incident | None = None
    last_action_at: dict[str, float] = field(default_factory=dict)  # "kind:target" -> time
    unhealthy_runtime_ticks: tuple[float, ...] = ()  # for force-cycle confirmation (R13)
    runtime_boot_at: float | None = None  # now - uptime, at the last reading
    short_boots: int = 0  # VM boots in a row that died younger than the minimum uptime
    verification: Verification | None = None
    hold: Hold | None = None
    failed_recovery_at: float | None = None  # the persisted marker
    # Another healer held the runtime lock at the last reading (a heal script that outlived
    # a Talon, another tool): when it lets go, its action gets the warmup ours would get.
    others_busy: bool = False
    settle_until: float | None = None  # no tier-1 heal before this: that action's warmup
    last_closed: Incident | None = None  # the incident closed most recently
    findings: tuple[Finding, ...] = ()  # last cycle's assessment, root causes first
    pauses: tuple[Pause, ...] = ()  # operators' pauses, the node's and single probes'
    heal_history: tuple[HealRecord, ...] = ()  # done heals within the recurrence window
    # "kind:target" -> until: a heal the recurrence breaker holds (F29); others may run.
    held_heals: dict[str, float] = field(default_factory=dict)

    def paused(self, probe: str | None = None) -> Pause | None:
        """The pause covering ``probe`` (or the node's, for None), if any."""
        return next((p for p in self.pauses if p.covers(probe)), None)

    @property
    def last_faults(self) -> tuple[tuple[str, Fault, bool], ...]:
        """(probe, fault, explained) of the last cycle."""
        return tuple((f.probe, f.fault, f.explained) for f in self.findings)

    @property
    def roots(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if not f.explained)

    @property
    def signal(self) -> Signal:
        if self.node is NodeState.HEALTHY:
            return Signal.STABLE
        if self.held_heals:
            return Signal.FAILED_RECOVERY
        if self.node is NodeState.HOLD and self.hold is not None:
            if self.hold.reason is Fault.FAILED_RECOVERY:
                return Signal.FAILED_RECOVERY
            return Signal.DEGRADED_HOLD
        if self.node in (NodeState.CRITICAL, NodeState.SOS):
            return Signal.FAILED_RECOVERY
        return Signal.RECOVERING


@dataclass(frozen=True)
class Changes:
    """What one step changed, so that no output has to work it out again."""

    node: tuple[NodeState, NodeState] | None = None  # (before, after) when it moved
    opened: Incident | None = None  # an incident opened in this step
    closed: Incident | None = None  # an incident closed in this step
    decisions: tuple[tuple[str, Decision], ...] = ()  # (incident id, decision) added
    hold_started: Hold | None = None
    hold_ended: Hold | None = None

    @property
    def any(self) -> bool:
        return any(
            (
                self.node,
                self.opened,
                self.closed,
                self.decisions,
                self.hold_started,
                self.hold_ended,
            )
        )


@dataclass(frozen=True)
class Step:
    """``step``'s answer: the new state, the actions to carry out, and what changed."""

    state: CoreState
    actions: tuple[Action, ...] = ()
    changes: Changes = Changes()
