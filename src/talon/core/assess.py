"""Assessment: debounce each probe, classify what escalates, let lower layers explain higher ones.

Order matters (R11): runtime faults, then in-cluster faults (RBAC drift, node
not Ready, API down), then split-brain and service faults. A fault in the
runtime or cluster layer explains the failures above it: they are recorded as
explained, not healed separately (one incident, root cause first).

A container probe is a runtime probe while the engine does not answer; when the
engine answers and the container is the one not well (``not_ready``,
``not_found``), it is that container's service being down, at the service layer.
Only a container that runs while its own health check says unhealthy may be
restarted; any other is a finding no heal acts on, and it says why (``no_heal``):
a container that is not running may have been stopped on purpose, and only the
engine knows (``talon.adapters.runtime.engine.not_restartable`` has the evidence).

Nagios semantics (F26): WARNING informs and never fails a probe here (a service an
operator stopped through its manager is a warning, F28); UNKNOWN is a failure that
cannot tell: a finding marked ``unknown``, reported and escalated, never the sole
ground for a heal, and never an explanation of the layers above it. An UNKNOWN
because the probe's own tool is missing is this node's tooling (``node_tooling``),
never the cluster's or the service's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from talon.core.model import Facts, Finding
from talon.core.settings import CoreConfig, ProbePolicy
from talon.errors import ErrorKind
from talon.faults import Fault
from talon.report import ProbeResult, Status

LAYERS = ("host", "runtime", "cluster", "service", "app")
# Lower layers whose failure explains the layers above them. A host probe (disk,
# load) explains nothing by itself: it is reported, not assumed to be the cause.
EXPLAINING_LAYERS = ("runtime", "cluster")
PRIORITY = (
    Fault.RUNTIME_CRASH_LOOP,
    Fault.RUNTIME_DOWN,
    Fault.RBAC_DRIFT,
    Fault.CLUSTER_DOWN,  # the API server down explains every node and daemonset check
    Fault.NODE_NOT_READY,
    Fault.REDIS_AOF_CORRUPT,
    Fault.SPLIT_BRAIN,
    Fault.SERVICE_DOWN,
    Fault.NETWORK_DOWN,
    Fault.NODE_TOOLING,
    Fault.HOST_FAULT,
    Fault.PORT_CONFLICT,
    Fault.CRASH_LOOP,
    Fault.APP_FAILURE,
    Fault.PROBE_FAILED,
)
PRIORITY_RANKS = {fault: rank for rank, fault in enumerate(PRIORITY)}
_UNREACHABLE = {
    ErrorKind.REFUSED,
    ErrorKind.TIMEOUT,
    ErrorKind.EMPTY_REPLY,
    ErrorKind.RESET,
    ErrorKind.UNREACHABLE,
    ErrorKind.DNS,
    ErrorKind.TLS,
}


# Faults healed at the level of a layer, not of the probe that saw them.
_TARGETS = {
    Fault.SPLIT_BRAIN: "runtime",
    Fault.RUNTIME_DOWN: "runtime",
    Fault.CLUSTER_DOWN: "cluster",
    Fault.NODE_NOT_READY: "cluster",
    Fault.RBAC_DRIFT: "rbac",
}


# A runtime that is down, or a bridge that is broken, or the cluster on it down: one
# unhealthy tick for the confirmation of a heal that cycles the runtime (R13).
RUNTIME_UNHEALTHY = frozenset(
    {Fault.RUNTIME_DOWN, Fault.SPLIT_BRAIN, Fault.CLUSTER_DOWN, Fault.NODE_NOT_READY}
)
# A container probe's failure kinds that come from an engine that answered.
ENGINE_ANSWERED = frozenset({ErrorKind.NOT_READY, ErrorKind.NOT_FOUND})
_NOT_RUNNING = {
    "paused": "only an operator pauses a container",
    "restarting": "the engine's restart policy is at work",
}


def rank(finding: Finding) -> int:
    return PRIORITY_RANKS[finding.fault]


@dataclass(frozen=True)
class Assessment:
    failing: tuple[str, ...]  # failed this cycle, debounced or not
    findings: tuple[Finding, ...]  # escalated, root causes first, explained ones last
    # The runtime's control path failed this cycle, debounced or not: one unhealthy tick
    # for the force-cycle's confirmation (R13), which the debounce does not replace.
    runtime_unhealthy: bool = False

    @property
    def roots(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if not f.explained)

    @property
    def healthy(self) -> bool:
        return not self.failing and not self.findings


def _failed_on_localhost(result: ProbeResult) -> bool:
    return any(p.tried and not p.ok and p.path_class == "localhost" for p in result.paths)


def bridge_broken(result: ProbeResult) -> bool:
    """Answered, but only through a fallback: the forwarded localhost path is dead (F1/F2)."""
    return result.degraded


def failing(result: ProbeResult) -> bool:
    """Critical, unknown, or answered only through a fallback; a warning only informs."""
    return result.status in (Status.CRITICAL, Status.UNKNOWN) or bridge_broken(result)


def update_counters(counters: Mapping[str, int], results: Sequence[ProbeResult]) -> dict[str, int]:
    """Consecutive failures per probe; a pass (or skip) resets (R2)."""
    return {r.key: (counters.get(r.key, 0) + 1 if failing(r) else 0) for r in results}


def _classify(result: ProbeResult, policy: ProbePolicy, witnessed: set[str]) -> tuple[Fault, str]:
    """(fault, layer) of one escalated probe."""
    if result.error_kind is ErrorKind.TOOL_MISSING:  # says nothing about its target
        return Fault.NODE_TOOLING, "host"
    if policy.classify_as is not None:
        return policy.classify_as, policy.layer
    if not policy.heals:
        return Fault.APP_FAILURE, "app"
    if policy.container is not None and result.error_kind in ENGINE_ANSWERED:
        return Fault.SERVICE_DOWN, "service"  # the engine is fine; its container is not
    # A path that answered "denied" reached the server: that is authorization, never a
    # broken forward, even when another path said yes (RBAC seen mid-change). An ssh key
    # or host key refused is not the cluster's RBAC: never apply a manifest for it.
    denied = result.error_kind is ErrorKind.DENIED or any(
        p.error_kind is ErrorKind.DENIED for p in result.paths
    )
    if denied and policy.layer in ("cluster", "service") and policy.kind != "ssh":
        return Fault.RBAC_DRIFT, "cluster"
    # Split-brain only when the failing path is the forwarded one (R11).
    vm_answered = any(p.ok and p.path_class == "vm" for p in result.paths)
    if _failed_on_localhost(result) and (vm_answered or result.key in witnessed):
        return Fault.SPLIT_BRAIN, policy.layer
    # A pod's own answer through exec/logs (redis-cli ping without PONG) is that service,
    # not the cluster: the path worked (a denied exec is rbac_drift, above).
    if policy.check in ("exec", "logs") and result.error_kind in (
        ErrorKind.EXIT_CODE,
        ErrorKind.BODY_MISMATCH,
    ):
        return Fault.SERVICE_DOWN, policy.layer
    if policy.kind == "k8s":
        if policy.check in ("node_ready", "node_schedulable", "daemonset"):
            return Fault.NODE_NOT_READY, "cluster"
        return Fault.CLUSTER_DOWN, "cluster"
    if policy.layer == "runtime":
        return Fault.RUNTIME_DOWN, "runtime"
    if policy.layer == "host":
        return Fault.HOST_FAULT, "host"
    if policy.layer == "cluster":
        return Fault.CLUSTER_DOWN, "cluster"
    if policy.layer == "app":
        return Fault.APP_FAILURE, "app"
    return Fault.SERVICE_DOWN, policy.layer


def _container(result: ProbeResult, policy: ProbePolicy) -> tuple[str | None, str]:
    """(target, why no heal) of a container the engine reports as not well.

    ``state`` and ``health`` are the engine's words the probe keeps in its detail.
    """
    name = policy.container
    state, health = result.detail.get("state"), result.detail.get("health")
    if result.error_kind not in ENGINE_ANSWERED:
        return None, f"the engine did not answer about {name}: restarting {name} cannot help"
    if result.error_kind is ErrorKind.NOT_FOUND or state is None:
        return None, f"no container {name}: Talon never creates one"
    if state == "running" and health == "unhealthy":
        if policy.restart_container:
            return name, ""
        return None, f"{name} is unhealthy; {policy.key} says restart_unhealthy = false"
    if state == "running":
        return None, f"{name} runs, health {health or 'not checked'}: not restarted"
    why = _NOT_RUNNING.get(
        str(state),
        "Talon never starts a stopped container: it may have been stopped on purpose, "
        "and the engine's restart policy restarts crashed ones",
    )
    return None, f"{name} is {state}, not restarted: {why}"


def _network_down(results: Sequence[ProbeResult], escalated: set[str]) -> set[str] | None:
    """Remote probes, if every one of them failed while some local probe passed."""
    remote = {r.key for r in results if any(p.path_class == "remote" for p in r.paths)}
    local_ok = any(
        r.passed and r.paths and all(p.path_class != "remote" for p in r.paths) for r in results
    )
    if remote and local_ok and remote <= escalated:
        failed_remote = [r for r in results if r.key in remote]
        if all(r.error_kind in _UNREACHABLE for r in failed_remote):
            return remote
    return None


def _fact_findings(facts: Facts, short_boots: int, config: CoreConfig) -> list[Finding]:
    found = []
    if short_boots >= config.healing.runtime_crash_loop_cycles:
        found.append(Finding(Fault.RUNTIME_CRASH_LOOP, "runtime", "fact:runtime_uptime", "runtime"))
    if facts.worker_quick_exits >= config.healing.worker_crash_loop_restarts:
        found.append(Finding(Fault.CRASH_LOOP, "app", "fact:worker_exits", "worker"))
    if facts.port_holder_pid is not None:
        found.append(
            Finding(Fault.PORT_CONFLICT, "app", "fact:port_holder", str(facts.port_holder_pid))
        )
    return found


def assess(
    results: Sequence[ProbeResult],
    counters: Mapping[str, int],
    facts: Facts,
    short_boots: int,
    config: CoreConfig,
) -> Assessment:
    policies = {r.key: config.policy(r.key) for r in results}
    failed = tuple(r.key for r in results if failing(r) and policies[r.key] is not None)
    escalated = {
        k
        for k in failed
        if counters.get(k, 0) >= policies[k].threshold  # type: ignore[union-attr]
    }
    witnessed = {
        p.witness_for
        for r in results
        if (p := policies[r.key]) is not None and p.witness_for and r.passed
    }
    findings = _fact_findings(facts, short_boots, config)
    remote = _network_down(results, escalated) or set()
    if remote:
        findings.append(Finding(Fault.NETWORK_DOWN, "host", "network", None))
    runtime_unhealthy = False
    for r in results:
        policy = policies[r.key]
        if r.key not in failed or r.key in remote or policy is None:
            continue
        if policy.witness_for is not None:
            continue  # a witness failing says nothing the witnessed probe does not
        fault, layer = _classify(r, policy, witnessed)
        unknown = r.status is Status.UNKNOWN and not bridge_broken(r)
        runtime_unhealthy = runtime_unhealthy or (fault in RUNTIME_UNHEALTHY and not unknown)
        if r.key in escalated:
            target, no_heal = _TARGETS.get(fault, policy.restart_target), ""
            if fault is Fault.SERVICE_DOWN and policy.container is not None:
                target, no_heal = _container(r, policy)
            elif fault is Fault.SERVICE_DOWN and target is None:
                no_heal = (
                    f'{r.key} names no service to restart (add restart = "LABEL", or a '
                    f"[service.{policy.key.split('.', 1)[-1]}] probe of the same name): escalating"
                )
            if fault is Fault.NODE_TOOLING:
                target, no_heal = None, f"{r.message} (this node's tooling, not its target)"
            findings.append(Finding(fault, layer, r.key, target, no_heal=no_heal, unknown=unknown))
    # A classifying probe that fails, even under its debounce, already rules out the
    # wrong heal: debounce delays acting, never the evidence that prevents acting.
    pending = {p.classify_as for k in failed if (p := policies[k]) is not None and p.classify_as}
    # The API server's own check failing, even under its debounce, explains every other
    # cluster check that asks that API server (F27): they wait for it as the headline.
    api = {
        r.key
        for r in results
        if r.key in failed
        and (p := policies[r.key]) is not None
        and p.kind == "k8s"
        and p.check == "api"
        and r.status is Status.CRITICAL
    }
    return Assessment(failed, _explain(findings, pending, api), runtime_unhealthy)


def _explain(findings: list[Finding], pending: set[Fault], api: set[str]) -> tuple[Finding, ...]:
    """Mark findings above a failed runtime/cluster layer as explained; roots first.

    A damaged AOF also explains redis itself being down: restarting it would only
    loop (F10).
    """
    # A split-brain is a broken bridge, not a failed layer: the layer answers on the
    # VM, so it explains nothing above it (F1 is split-brain for every service).
    # An unknown explains nothing either: it cannot tell whether its layer is down.
    base = [
        LAYERS.index(f.layer)
        for f in findings
        if f.layer in EXPLAINING_LAYERS and f.fault is not Fault.SPLIT_BRAIN and not f.unknown
    ]
    lowest = min(base, default=len(LAYERS))
    # Within the cluster layer, an API server that does not answer explains every node,
    # daemonset and can-i check (they ask that API server): it is the headline (F27).
    api_down = bool(api) or any(f.fault is Fault.CLUSTER_DOWN and not f.unknown for f in findings)
    asks_api = (Fault.NODE_NOT_READY, Fault.CLUSTER_DOWN) if api else (Fault.NODE_NOT_READY,)
    aof = Fault.REDIS_AOF_CORRUPT in pending or any(
        f.fault is Fault.REDIS_AOF_CORRUPT for f in findings
    )
    marked = [
        replace(
            f,
            explained=LAYERS.index(f.layer) > lowest
            or (api_down and f.fault in asks_api and f.probe not in api and not f.unknown)
            or (aof and f.fault is not Fault.REDIS_AOF_CORRUPT and f.probe.startswith("redis.")),
        )
        for f in findings
    ]
    return tuple(sorted(marked, key=lambda f: (f.explained, rank(f), f.probe)))


def is_control_path(result: ProbeResult, config: CoreConfig) -> bool:
    """The real control path that a verification watches: heal-relevant, hosted probes."""
    policy = config.policy(result.key)
    return (
        policy is not None
        and policy.heals
        and policy.verify
        and result.status is not Status.SKIPPED
    )


def green(result: ProbeResult) -> bool:
    """Passing on the path users take: a fallback answer is not green (split-brain)."""
    return not failing(result)
