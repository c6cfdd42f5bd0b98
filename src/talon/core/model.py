"""The core's vocabulary: node states, the operator's signal, its input, its state, its actions.

Everything here is an immutable value. The core never reads a clock, never does
I/O and never draws a random number: ``step`` gets all it needs as arguments.
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
    FAILED = "failed"  # past the debounce: a heal is due
    VERIFYING = "verifying"  # a heal ran: warmup, then the durability window
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
    RESTART_SERVICE = "restart_service"  # tier 1c
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
    ActionKind.RESTART_SERVICE: "1c",
    ActionKind.APPLY_RBAC_GUARD: "1d",
    ActionKind.AGENT_CLOUD: "2",
    ActionKind.AGENT_LOCAL: "3",
    ActionKind.SOS: "4",
}
CONTROL_PATH_HEALS = frozenset(
    {ActionKind.BRIDGE_HEAL, ActionKind.FORCE_CYCLE, ActionKind.HEAL_SCRIPT}
)


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
class Facts:
    """What the shell knows besides probe results."""

    runtime_uptime_s: float | None = None
    worker_quick_exits: int = 0  # consecutive exits right after start (from the supervisor)
    port_holder_pid: int | None = None  # holds the worker's port; the supervisor may not kill it
    # When the last tier-1 heal the shell ran finished: the warmup counts from then, not
    # from the decision, so a slow heal (a force-cycle can take minutes) gets its full warmup.
    heal_finished_at: float | None = None


@dataclass(frozen=True)
class Report:
    """The core's input for one cycle."""

    results: tuple[ProbeResult, ...]
    facts: Facts = Facts()


@dataclass(frozen=True)
class Decision:
    """One line of an incident's trail: why Talon acted, or why it did not."""

    at: float
    rule: str
    outcome: str  # "acted", "blocked", "noted"
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"at": self.at, "rule": self.rule, "outcome": self.outcome, "reason": self.reason}


@dataclass(frozen=True)
class Incident:
    id: str
    opened_at: float
    root_cause: Fault | None = None
    faults: tuple[Fault, ...] = ()
    attempts: dict[str, int] = field(default_factory=dict)  # "kind:target" -> count
    emitted: frozenset[str] = frozenset()  # idempotency keys handed to the shell
    trail: tuple[Decision, ...] = ()
    healed: bool = False  # did any tier-1 action run in this incident
    severity: int = 0  # grows when the incident gets worse (R17)
    last_sos_at: float | None = None
    sos_severity: int = -1
    closed_at: float | None = None
    outcome: str | None = None  # recovered | resolved_without_action

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
class CoreState:
    node: NodeState = NodeState.HEALTHY
    counters: dict[str, int] = field(default_factory=dict)  # consecutive failures per probe
    incident: Incident | None = None
    incident_seq: int = 0
    last_action_at: dict[str, float] = field(default_factory=dict)  # "kind:target" -> time
    unhealthy_runtime_ticks: tuple[float, ...] = ()  # for force-cycle confirmation (R13)
    runtime_boot_at: float | None = None  # now - uptime, at the last reading
    short_boots: int = 0  # VM boots in a row that died younger than the minimum uptime
    verification: Verification | None = None
    hold: Hold | None = None
    failed_recovery_at: float | None = None  # the persisted marker
    last_closed: Incident | None = None  # the incident closed most recently
    last_faults: tuple[tuple[str, Fault, bool], ...] = ()  # (probe, fault, explained) last cycle

    @property
    def signal(self) -> Signal:
        if self.node is NodeState.HEALTHY:
            return Signal.STABLE
        if self.node is NodeState.HOLD and self.hold is not None:
            if self.hold.reason is Fault.FAILED_RECOVERY:
                return Signal.FAILED_RECOVERY
            return Signal.DEGRADED_HOLD
        if self.node in (NodeState.CRITICAL, NodeState.SOS):
            return Signal.FAILED_RECOVERY
        return Signal.RECOVERING
