"""The ``k8s`` probe: API readiness, node Ready/schedulable, a daemonset, RBAC can-i,
and the kubelet path itself: a command run in a pod (``exec``) and a pod's ``logs``.

Object shapes follow the Kubernetes API reference (core/v1 Node, apps/v1
DaemonSet); the parsing is pure and tested on its own. ``exec`` and ``logs`` go
through the API server to the kubelet (pods/exec, pods/log), the path RBAC drift
on the kubelet-client identity breaks while every ``get`` still works.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import shlex
from collections.abc import Sequence
from typing import Any

from talon.adapters.kube import ClusterClient, ClusterError, ExecResult, build_cluster_client
from talon.config.probes import K8sProbe, split_host_port
from talon.probes.context import ProbeContext
from talon.probes.endpoints import Path, plan, resolve
from talon.report import ErrorKind, Observation, PathOutcome, Status


def _ready(node: dict[str, Any]) -> bool:
    conditions = node.get("status", {}).get("conditions", [])
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _unschedulable(node: dict[str, Any], tolerate: Sequence[str] | None) -> str | None:
    """Why the node takes no new pods, or None. With ``tolerate`` set, any NoSchedule taint
    whose key is not listed counts (the original Talon's rule); unset, only a cordon."""
    spec = node.get("spec", {})
    if spec.get("unschedulable", False):
        return "cordoned"
    for taint in spec.get("taints") or []:
        key = taint.get("key")
        if key == "node.kubernetes.io/unschedulable":
            return "cordoned"
        if tolerate is not None and taint.get("effect") == "NoSchedule" and key not in tolerate:
            return f"taint {key}:NoSchedule"
    return None


def judge_nodes(
    node_list: dict[str, Any],
    only: str | None,
    check: str,
    tolerate_taints: Sequence[str] | None = None,
) -> tuple[bool, str]:
    nodes = [n for n in node_list.get("items", []) if only in (None, n["metadata"]["name"])]
    if not nodes:
        return False, f"node {only!r} not found" if only else "the cluster lists no nodes"
    if check == "node_ready":
        bad = [n["metadata"]["name"] for n in nodes if not _ready(n)]
    else:
        why = {n["metadata"]["name"]: _unschedulable(n, tolerate_taints) for n in nodes}
        bad = [name + (f" ({r})" if r != "cordoned" else "") for name, r in why.items() if r]
    what = "not Ready" if check == "node_ready" else "not schedulable"
    if bad:
        return False, f"{what}: {', '.join(bad)}"
    return True, f"{len(nodes)} node(s) {'Ready' if check == 'node_ready' else 'schedulable'}"


def judge_daemonset(ds: dict[str, Any], count: str = "ready") -> tuple[bool, str]:
    """``ready``: numberReady reaches desired; ``available``: numberAvailable equals it.
    Either way a daemonset that wants no pod at all (0/0) fails."""
    status = ds.get("status", {})
    desired = status.get("desiredNumberScheduled", 0)
    field = "numberAvailable" if count == "available" else "numberReady"
    have = status.get(field, 0)
    ok = desired > 0 and (have == desired if count == "available" else have >= desired)
    name = ds.get("metadata", {}).get("name", "?")
    return ok, f"daemonset {name}: {have}/{desired} {count}"


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0][:200] if lines else ""


def judge_exec(
    ran: ExecResult, command: Sequence[str], expect: str | None
) -> tuple[bool, str, ErrorKind]:
    """A command that ran in a pod: with ``expect``, its stdout must contain it (the
    original's redis rule: contains PONG); without, it must exit 0."""
    said = _first_line(ran.stdout) or _first_line(ran.stderr)
    what = f"`{shlex.join(command)}` exited {ran.exit_code}" + (f": {said}" if said else "")
    if expect is not None:
        if expect in ran.stdout:
            return True, what, ErrorKind.BODY_MISMATCH
        kind = ErrorKind.EXIT_CODE if ran.exit_code else ErrorKind.BODY_MISMATCH
        return False, f"{what} (expected {expect!r})", kind
    return ran.exit_code == 0, what, ErrorKind.EXIT_CODE


def judge_logs(text: str, pod: str, expect: str | None) -> tuple[bool, str, ErrorKind]:
    lines = text.strip().splitlines()
    last = f": {lines[-1].strip()[:200]}" if lines else " (empty)"
    if expect is not None and expect not in text:
        return False, f"logs of {pod} lack {expect!r}{last}", ErrorKind.BODY_MISMATCH
    return True, f"logs of {pod} readable{last}", ErrorKind.BODY_MISMATCH


async def _pod_verdict(spec: K8sProbe, client: ClusterClient) -> tuple[bool, str, ErrorKind]:
    assert spec.namespace is not None  # guaranteed by the model
    assert spec.pod is not None
    where = f"{spec.namespace}/{spec.pod}"
    if spec.check == "logs":
        text = await client.logs(
            spec.namespace,
            spec.pod,
            container=spec.container,
            tail_lines=spec.tail_lines,
            timeout=spec.timeout_secs,
        )
        return judge_logs(text, where, spec.expect)
    assert spec.command is not None
    ran = await client.exec(
        spec.namespace,
        spec.pod,
        spec.command,
        container=spec.container,
        timeout=spec.timeout_secs,
    )
    ok, message, kind = judge_exec(ran, spec.command, spec.expect)
    return ok, f"exec in {where}: {message}", kind


async def _can_i(spec: K8sProbe, client: ClusterClient) -> tuple[bool, str, ErrorKind]:
    """Every verb for every identity, asked at once; all must be allowed."""
    assert spec.resource is not None  # guaranteed by the model
    asks = list(itertools.product(spec.identities, spec.verbs))
    answers = await asyncio.gather(
        *(
            client.can_i(
                verb,
                spec.resource,
                subresource=spec.subresource,
                as_user=who,
                timeout=spec.timeout_secs,
            )
            for who, verb in asks
        ),
        return_exceptions=True,
    )
    for answer in answers:
        if isinstance(answer, BaseException):
            raise answer
    resource = spec.resource + (f"/{spec.subresource}" if spec.subresource else "")
    said = zip(asks, answers, strict=True)
    denied = [f"{who or 'current user'} {verb}" for (who, verb), yes in said if not yes]
    if denied:
        return False, f"can-i {resource}: no for {', '.join(denied)}", ErrorKind.DENIED
    users = ", ".join(who or "current user" for who in spec.identities)
    return True, f"can-i {'/'.join(spec.verbs)} {resource} as {users}: yes", ErrorKind.DENIED


async def _verdict(spec: K8sProbe, client: ClusterClient) -> tuple[bool, str, ErrorKind | None]:
    timeout = spec.timeout_secs
    if spec.check == "api":
        answer = await client.readyz(timeout)
        return answer == "ok", f"readyz: {answer[:80]}", ErrorKind.NOT_READY
    if spec.check in ("node_ready", "node_schedulable"):
        nodes = await client.nodes(timeout)
        ok, message = judge_nodes(nodes, spec.node, spec.check, spec.tolerate_taints)
        return ok, message, ErrorKind.NOT_READY
    if spec.check == "daemonset":
        assert spec.namespace is not None  # guaranteed by the model
        assert spec.daemonset is not None
        ds = await client.daemonset(spec.namespace, spec.daemonset, timeout)
        ok, message = judge_daemonset(ds, spec.count)
        return ok, message, ErrorKind.NOT_READY
    if spec.check in ("exec", "logs"):
        return await _pod_verdict(spec, client)
    return await _can_i(spec, client)


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
