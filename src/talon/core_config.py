"""From the configuration and the adapters to the core's plain values (``CoreConfig``).

The core imports neither ``talon.config`` nor pydantic: this module is the one
place that translates the TOML models, and the capabilities the runtime and
process-manager adapters declare, into what ``step`` reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Protocol, runtime_checkable

from talon.capabilities import Capability
from talon.config.models import HealingConfig, TalonConfig
from talon.config.probes import ContainerProbe, K8sProbe, ProbeSpec, ServiceProbe
from talon.core.settings import CoreConfig, Healing, Platform, ProbePolicy


class Declares(Protocol):
    """An adapter that declares what it can do (``talon.capabilities``)."""

    name: str
    capabilities: frozenset[Capability]


@runtime_checkable
class ServedEngine(Protocol):
    """A native engine that knows its conventional service under a process manager."""

    def engine_service(self, process_manager: str) -> str | None: ...


def restart_target(spec: ProbeSpec, labels: Mapping[str, str]) -> str | None:
    """What a restart for this probe acts on, as the original Talon chose it (issue 20):
    a service probe its label; an explicit ``service``/``restart`` key that; an http probe
    the label of the service probe of the same name (``http.X`` -> ``launchd.X``), when
    there is one; anything else (a script, a tcp or redis check) nothing: it escalates,
    and a restart of a label that does not exist never becomes a failed recovery."""
    if isinstance(spec, ServiceProbe):
        return spec.label
    if spec.service:
        return spec.service
    if spec.kind == "http":
        return labels.get(spec.name)
    return None


def policy_of(
    spec: ProbeSpec, config: TalonConfig, labels: Mapping[str, str] | None = None
) -> ProbePolicy:
    """``labels``: the service probes' labels by probe name (for an http probe's target)."""
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
        restart_target=restart_target(spec, labels or {}),
        container=spec.container if isinstance(spec, ContainerProbe) else None,
        restart_container=isinstance(spec, ContainerProbe) and spec.restart_unhealthy,
        verify=spec.verify,
    )


def healing_of(h: HealingConfig) -> Healing:
    """The decision values of ``[healing]`` (its timeouts belong to the executor)."""
    values = {f.name: getattr(h, f.name) for f in fields(Healing) if f.name != "rbac_guard"}
    return Healing(**values, rbac_guard=bool(h.rbac_guard_manifest))


def platform_of(config: TalonConfig, runtime: Declares, process_manager: Declares) -> Platform:
    """What this node can do: the union of what its two adapters declare."""
    engine: str | None = config.runtime.engine_service
    if not engine and isinstance(runtime, ServedEngine):
        engine = runtime.engine_service(process_manager.name)
    return Platform(
        can=runtime.capabilities | process_manager.capabilities,
        runtime=runtime.name,
        process_manager=process_manager.name,
        engine_service=engine or None,
    )


def core_config(
    config: TalonConfig, node_id: str, runtime: Declares, process_manager: Declares
) -> CoreConfig:
    labels = {p.name: p.label for p in config.service_probes if isinstance(p, ServiceProbe)}
    return CoreConfig(
        node_id=node_id,
        probes={p.key: policy_of(p, config, labels) for p in config.service_probes},
        healing=healing_of(config.healing),
        platform=platform_of(config, runtime, process_manager),
        agent_cooldown_secs=config.escalation.agent_cooldown_secs,
        sos_cooldown_secs=config.escalation.sos_cooldown_secs,
        critical_threshold_secs=config.escalation.critical_threshold_secs,
        heal_script=bool(config.heal_script),
        cloud_agent=bool(config.agent.cloud_command),
        local_agent=bool(config.agent.local_command),
    )
