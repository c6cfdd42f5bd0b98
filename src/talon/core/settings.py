"""What the core needs from the configuration and the platform, as plain values.

The translation from the TOML models (and from the adapters' declared
capabilities) lives in ``talon.core_config``, outside the core: the core
imports neither the configuration nor pydantic.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from talon.capabilities import ALL, Capability
from talon.faults import Fault


@dataclass(frozen=True)
class ProbePolicy:
    key: str
    kind: str
    probe_class: str
    layer: str
    critical: bool
    informational: bool
    threshold: int  # failures in a row before it escalates (debounce, R2)
    witness_for: str | None = None
    classify_as: Fault | None = None
    check: str | None = None  # the k8s check
    restart_target: str | None = None  # what a restart of this service acts on
    container: str | None = None  # the container a container probe watches
    restart_container: bool = False  # may a heal restart it when it runs unhealthy
    verify: bool = True  # part of the verification gate (the control path a heal must hold)

    @property
    def heals(self) -> bool:
        """App-class and informational probes never trigger a heal (R3, R4)."""
        return not self.informational and self.probe_class != "app"


@dataclass(frozen=True)
class Healing:
    """The decision core's windows, cooldowns and budgets (``[healing]``), in seconds."""

    warmup_secs: float = 120
    durability_checks: int = 6
    durability_window_secs: float = 90
    hold_secs: float = 1800
    force_cycle_confirm_ticks: int = 2
    force_cycle_confirm_window_secs: float = 420
    force_cycle_cooldown_secs: float = 900
    bridge_cooldown_secs: float = 300
    heal_script_cooldown_secs: float = 900
    restart_cooldown_secs: float = 120
    rbac_cooldown_secs: float = 300
    budget_per_incident: int = 3
    critical_retry_secs: float = 1800
    runtime_min_uptime_secs: float = 120
    runtime_crash_loop_cycles: int = 2
    worker_crash_loop_restarts: int = 5
    gate_patience_secs: float = 600  # a waiting gate escalates after this (never blocks forever)
    recurrence_heals: int = 3  # done heals of one slot within the window before it is held
    recurrence_window_secs: float = 21_600
    rbac_guard: bool = False  # is a guard manifest configured


@dataclass(frozen=True)
class Platform:
    """What this node's adapters declared they can do (``talon.capabilities``).

    ``engine_service`` names the native container engine as a service of the
    process manager (a unit, a label): a dead engine is restarted through it.
    """

    can: frozenset[Capability] = ALL
    runtime: str = "runtime"
    process_manager: str = "process manager"
    engine_service: str | None = None

    def __contains__(self, capability: object) -> bool:
        return capability in self.can


@dataclass(frozen=True)
class CoreConfig:
    node_id: str = "node"
    probes: Mapping[str, ProbePolicy] = field(default_factory=dict)
    healing: Healing = field(default_factory=Healing)
    platform: Platform = field(default_factory=Platform)
    agent_cooldown_secs: float = 600
    sos_cooldown_secs: float = 14_400
    critical_threshold_secs: float = 900
    heal_script: bool = False  # is a heal script configured
    cloud_agent: bool = False
    local_agent: bool = False

    def policy(self, key: str) -> ProbePolicy | None:
        return self.probes.get(key)
