"""The ``runtime`` probe: the container runtime answers on its real control path.

The verdict is the adapter's ``is_healthy()`` (a socket or the VM's shell,
never status text, R7), bounded by the probe's timeout. ``min_uptime_secs``
turns a VM that restarted recently into a warning, so a crash loop is seen
even while each boot looks healthy. A runtime tool that is not installed is
``unknown``/``tool_missing`` (with the PATH searched and the fix); no runtime
at all is ``unknown``/``unavailable``.
"""

from __future__ import annotations

import asyncio

from talon.config.probes import RuntimeProbe
from talon.durations import approx
from talon.errors import AdapterUnavailable, ToolMissing
from talon.probes.context import ProbeContext
from talon.report import ErrorKind, Observation, Status


async def probe(spec: RuntimeProbe, ctx: ProbeContext) -> Observation:
    runtime = ctx.runtime
    detail: dict[str, object] = {"runtime": runtime.name}
    uptime: float | None = None
    why = ""
    try:
        async with asyncio.timeout(spec.timeout_secs):
            healthy = await runtime.is_healthy()
            why = str(getattr(runtime, "health_detail", "") or "")
            if healthy and spec.min_uptime_secs is not None:
                uptime = await runtime.uptime_s()
    except ToolMissing as exc:  # the runtime's own tool: this node's tooling (F26)
        return Observation(Status.UNKNOWN, str(exc), ErrorKind.TOOL_MISSING, detail=detail)
    except AdapterUnavailable as exc:
        return Observation(Status.UNKNOWN, str(exc), ErrorKind.UNAVAILABLE, detail=detail)
    except TimeoutError:
        message = f"{runtime.name}: no answer from its control path within {spec.timeout_secs:g}s"
        return Observation(Status.CRITICAL, message, ErrorKind.TIMEOUT, detail=detail)
    if why:
        detail["why"] = why
    if not healthy:
        message = f"{runtime.name} is not healthy" + (f": {why}" if why else "")
        return Observation(Status.CRITICAL, message, ErrorKind.NOT_READY, detail=detail)
    detail["uptime_s"] = uptime
    if uptime is not None and spec.min_uptime_secs is not None and uptime < spec.min_uptime_secs:
        message = (
            f"{runtime.name} is healthy but up only {approx(uptime)} "
            f"(min_uptime_secs = {spec.min_uptime_secs}): it restarted recently"
        )
        return Observation(Status.WARNING, message, ErrorKind.NOT_READY, detail=detail)
    up = f", up {approx(uptime)}" if uptime is not None else ""
    return Observation(Status.OK, f"{runtime.name} is healthy{up}", detail=detail)
