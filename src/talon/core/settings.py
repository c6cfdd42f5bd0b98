"""What the core needs from the configuration, as plain values."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from talon.config.models import HealingConfig, TalonConfig
from talon.config.probes import K8sProbe, ProbeSpec, ServiceProbe
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

    @property
    def heals(self) -> bool:
        """App-class and informational probes never trigger a heal (R3, R4)."""
        return not self.informational and self.probe_class != "app"


@dataclass(frozen=True)
class CoreConfig:
    node_id: str = "node"
    probes: Mapping[str, ProbePolicy] = field(default_factory=dict)
    healing: HealingConfig = field(default_factory=HealingConfig)
    agent_cooldown_secs: int = 600
    sos_cooldown_secs: int = 14_400
    critical_threshold_secs: int = 900
    heal_script: bool = False  # is a heal script configured
    cloud_agent: bool = False
    local_agent: bool = False

    def policy(self, key: str) -> ProbePolicy | None:
        return self.probes.get(key)


def policy_of(spec: ProbeSpec, config: TalonConfig) -> ProbePolicy:
    threshold = (
        spec.critical_after_consecutive_failures
        if spec.critical
        else config.probes.consecutive_failures_before_escalate
    )
    return ProbePolicy(
        key=spec.key,
        kind=spec.kind,
        probe_class=spec.probe_class,
        layer=spec.layer,
        critical=spec.critical,
        informational=spec.informational,
        threshold=threshold,
        witness_for=spec.witness_for,
        classify_as=spec.classify_as,
        check=spec.check if isinstance(spec, K8sProbe) else None,
        restart_target=spec.label if isinstance(spec, ServiceProbe) else (spec.service or spec.key),
    )


def from_config(config: TalonConfig, node_id: str) -> CoreConfig:
    return CoreConfig(
        node_id=node_id,
        probes={p.key: policy_of(p, config) for p in config.service_probes},
        healing=config.healing,
        agent_cooldown_secs=config.escalation.agent_cooldown_secs,
        sos_cooldown_secs=config.escalation.sos_cooldown_secs,
        critical_threshold_secs=config.escalation.critical_threshold_secs,
        heal_script=bool(config.heal_script),
        cloud_agent=bool(config.agent.cloud_command),
        local_agent=bool(config.agent.local_command),
    )
