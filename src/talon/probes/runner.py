"""Run one cycle: every probe at once, each bounded, each class behind its own bulkhead.

A slow or hung target costs only its own timeout: the cycle's wall time is
about the slowest timeout, not the sum (F12). A class's semaphore keeps a
flood of app probes from starving infra probes (principle 3). A probe that
raises becomes an ``unknown`` result, never a dead cycle.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from talon.config.models import BulkheadConfig
from talon.config.probes import ProbeSpec
from talon.probes import container, http, k8s, redis, runtime, script, service, ssh, tcp
from talon.probes.context import ProbeContext
from talon.report import CycleReport, ErrorKind, Observation, ProbeResult, Status

ProbeFn = Callable[[Any, ProbeContext], Awaitable[Observation]]

PROBES: dict[str, ProbeFn] = {
    "http": http.probe,
    "tcp": tcp.probe,
    "redis": redis.probe,
    "script": script.probe,
    "service": service.probe,
    "launchd": service.probe,
    "systemd": service.probe,
    "k8s": k8s.probe,
    "runtime": runtime.probe,
    "container": container.probe,
    "ssh": ssh.probe,
}

# Probes bound themselves; this is the runner's own backstop above their timeout.
BACKSTOP_S = 2.0
VM_LOOKUP_TIMEOUT_S = 2.0


def _result(spec: ProbeSpec, ctx: ProbeContext, obs: Observation, latency_ms: float) -> ProbeResult:
    return ProbeResult(
        key=spec.key,
        name=spec.name,
        kind=spec.kind,
        probe_class=spec.probe_class,
        layer=spec.layer,
        critical=spec.critical,
        informational=spec.informational,
        tags=tuple(spec.tags),
        status=obs.status,
        message=obs.message,
        error_kind=obs.error_kind,
        latency_ms=latency_ms,
        endpoint_class=obs.endpoint_class,
        paths=obs.paths,
        node_id=ctx.identity.node_id,
        platform=ctx.identity.platform,
        detail=obs.detail,
    )


async def run_probe(
    spec: ProbeSpec,
    ctx: ProbeContext,
    bulkhead: asyncio.Semaphore,
    registry: Mapping[str, ProbeFn] = PROBES,
) -> ProbeResult:
    if not spec.enabled:
        return _result(spec, ctx, Observation(Status.SKIPPED, "disabled in the services file"), 0.0)
    if spec.nodes is not None and ctx.identity.node_id not in spec.nodes:
        placed = ", ".join(spec.nodes) or "no node"
        skipped = Observation(Status.SKIPPED, f"not hosted here (placed on {placed})")
        return _result(spec, ctx, skipped, 0.0)
    loop = asyncio.get_running_loop()
    async with bulkhead:
        started = loop.time()
        try:
            obs = await registry[spec.kind](spec, ctx)
        except Exception as exc:
            obs = Observation.failure(
                ErrorKind.INTERNAL, f"probe error: {exc!r}", status=Status.UNKNOWN
            )
        return _result(spec, ctx, obs, (loop.time() - started) * 1000)


async def _vm_address(ctx: ProbeContext) -> str | None:
    try:
        async with asyncio.timeout(VM_LOOKUP_TIMEOUT_S):
            return await ctx.runtime.vm_address()
    except Exception:
        return None


def start_order(probes: Sequence[ProbeSpec], last_ms: Mapping[str, float]) -> list[int]:
    """Indexes of ``probes``, the slowest of the last cycle first (``last_ms``: key → ms).

    Starting a thousand probes takes one core a fraction of a second; a probe that
    waits out its timeout should start that wait first, not last, or the cycle is its
    timeout plus the start-up of all the others (longest-first, as schedulers do).
    Ties and new probes keep the configured order.
    """
    return sorted(range(len(probes)), key=lambda i: -last_ms.get(probes[i].key, 0.0))


async def run_cycle(
    probes: Sequence[ProbeSpec],
    ctx: ProbeContext,
    *,
    bulkheads: BulkheadConfig | None = None,
    registry: Mapping[str, ProbeFn] = PROBES,
    last_ms: Mapping[str, float] | None = None,
) -> CycleReport:
    """One cycle; results in the order of ``probes``, started in ``start_order``."""
    bulkheads = bulkheads or BulkheadConfig()
    gates = {
        name: asyncio.Semaphore(getattr(bulkheads, name)) for name in ("infra", "service", "app")
    }
    started = ctx.clock()
    ctx = replace(ctx, vm_address=await _vm_address(ctx))
    order = start_order(probes, last_ms) if last_ms else range(len(probes))
    started_tasks = {
        i: asyncio.ensure_future(run_probe(probes[i], ctx, gates[probes[i].probe_class], registry))
        for i in order
    }
    tasks = [started_tasks[i] for i in range(len(probes))]
    if tasks:
        # Probes bound themselves; one backstop for the whole cycle catches a probe
        # that does not (a bug), without a timer per probe.
        deadline = max(p.timeout_secs for p in probes) + BACKSTOP_S
        _, pending = await asyncio.wait(tasks, timeout=deadline)
        for task in pending:
            task.cancel()
        if pending:  # let them unwind (close sockets, kill process groups), briefly
            await asyncio.wait(pending, timeout=BACKSTOP_S)
    results = []
    for spec, task in zip(probes, tasks, strict=True):
        if task.cancelled() or not task.done():
            overran = Observation.failure(
                ErrorKind.TIMEOUT, f"probe overran its {spec.timeout_secs:g}s timeout"
            )
            results.append(_result(spec, ctx, overran, spec.timeout_secs * 1000))
        else:
            results.append(task.result())
    identity = ctx.identity
    return CycleReport(
        identity.node_id, identity.platform, identity.arch, started, ctx.clock(), tuple(results)
    )
