"""The ``k8s`` probe: API readiness, node Ready/schedulable, a daemonset, an RBAC can-i.

Object shapes follow the Kubernetes API reference (core/v1 Node, apps/v1
DaemonSet); the parsing is pure and tested on its own.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from talon.adapters.kube import ClusterClient, ClusterError, build_cluster_client
from talon.config.probes import K8sProbe, split_host_port
from talon.probes.context import ProbeContext
from talon.probes.endpoints import Path, plan, resolve
from talon.report import ErrorKind, Observation, PathOutcome, Status


def _ready(node: dict[str, Any]) -> bool:
    conditions = node.get("status", {}).get("conditions", [])
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _schedulable(node: dict[str, Any]) -> bool:
    spec = node.get("spec", {})
    taints = spec.get("taints") or []
    cordoned = any(t.get("key") == "node.kubernetes.io/unschedulable" for t in taints)
    return not spec.get("unschedulable", False) and not cordoned


def judge_nodes(node_list: dict[str, Any], only: str | None, check: str) -> tuple[bool, str]:
    nodes = [n for n in node_list.get("items", []) if only in (None, n["metadata"]["name"])]
    if not nodes:
        return False, f"node {only!r} not found" if only else "the cluster lists no nodes"
    test = _ready if check == "node_ready" else _schedulable
    bad = [n["metadata"]["name"] for n in nodes if not test(n)]
    what = "not Ready" if check == "node_ready" else "not schedulable"
    if bad:
        return False, f"{what}: {', '.join(bad)}"
    return True, f"{len(nodes)} node(s) {'Ready' if check == 'node_ready' else 'schedulable'}"


def judge_daemonset(ds: dict[str, Any]) -> tuple[bool, str]:
    status = ds.get("status", {})
    desired = status.get("desiredNumberScheduled", 0)
    ready = status.get("numberReady", 0)
    name = ds.get("metadata", {}).get("name", "?")
    return desired > 0 and ready >= desired, f"daemonset {name}: {ready}/{desired} ready"


async def _verdict(spec: K8sProbe, client: ClusterClient) -> tuple[bool, str, ErrorKind | None]:
    timeout = spec.timeout_secs
    if spec.check == "api":
        answer = await client.readyz(timeout)
        return answer == "ok", f"readyz: {answer[:80]}", ErrorKind.NOT_READY
    if spec.check in ("node_ready", "node_schedulable"):
        ok, message = judge_nodes(await client.nodes(timeout), spec.node, spec.check)
        return ok, message, ErrorKind.NOT_READY
    if spec.check == "daemonset":
        assert spec.namespace is not None  # guaranteed by the model
        assert spec.daemonset is not None
        ok, message = judge_daemonset(
            await client.daemonset(spec.namespace, spec.daemonset, timeout)
        )
        return ok, message, ErrorKind.NOT_READY
    assert spec.verb is not None
    assert spec.resource is not None
    allowed = await client.can_i(
        spec.verb,
        spec.resource,
        subresource=spec.subresource,
        as_user=spec.as_user,
        timeout=timeout,
    )
    what = f"{spec.as_user or 'current user'} {spec.verb} {spec.resource}" + (
        f"/{spec.subresource}" if spec.subresource else ""
    )
    return allowed, f"can-i {what}: {'yes' if allowed else 'no'}", ErrorKind.DENIED


def client_for(spec: K8sProbe, ctx: ProbeContext, server: str | None) -> ClusterClient:
    """The cluster client a probe (or the RBAC guard, with the probe's settings) uses."""
    return build_cluster_client(
        env=ctx.env, kubeconfig=spec.kubeconfig, context=spec.context, server=server
    )


async def attempt(spec: K8sProbe, ctx: ProbeContext, path: Path) -> PathOutcome:
    """One path: the same kubeconfig and credentials, the API at this path's address."""
    started = asyncio.get_running_loop().time()
    try:
        ok, message, kind = await _verdict(spec, client_for(spec, ctx, f"https://{path.target}"))
    except ClusterError as exc:
        ok, message, kind = False, str(exc), exc.kind
    latency = (asyncio.get_running_loop().time() - started) * 1000
    return PathOutcome(path.path_class, path.target, ok, latency, None if ok else kind, message)


async def probe(spec: K8sProbe, ctx: ProbeContext) -> Observation:
    if spec.server is not None:
        host, port = split_host_port(spec.server)
        paths = plan(host, port, spec.endpoint, ctx.vm_address)
        return await resolve(paths, functools.partial(attempt, spec, ctx))
    try:
        ok, message, kind = await _verdict(spec, client_for(spec, ctx, None))
    except ClusterError as exc:
        return Observation.failure(exc.kind, str(exc))
    return (
        Observation(Status.OK, message)
        if ok
        else Observation.failure(kind or ErrorKind.PROTOCOL, message)
    )
