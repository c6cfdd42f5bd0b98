"""The ``service`` probe (``launchd.*`` in the original format): ask the ProcessManager."""

from __future__ import annotations

from talon.adapters.process import ServiceState
from talon.config.probes import ServiceProbe
from talon.errors import AdapterUnavailable
from talon.probes.context import ProbeContext
from talon.report import ErrorKind, Observation, Status

_VERDICT = {
    ServiceState.RUNNING: (Status.OK, None),
    ServiceState.STOPPED: (Status.CRITICAL, ErrorKind.NOT_READY),
    ServiceState.FAILED: (Status.CRITICAL, ErrorKind.NOT_READY),
    ServiceState.NOT_FOUND: (Status.CRITICAL, ErrorKind.NOT_FOUND),
    ServiceState.UNKNOWN: (Status.UNKNOWN, ErrorKind.UNAVAILABLE),
}


async def probe(spec: ServiceProbe, ctx: ProbeContext) -> Observation:
    try:
        status = await ctx.process_manager.inspect(spec.label)
    except AdapterUnavailable as exc:  # the manager's tool is missing or refuses: say so
        return Observation(
            Status.UNKNOWN,
            f"{spec.label}: {exc}",
            ErrorKind.UNAVAILABLE,
            detail={"manager": ctx.process_manager.name},
        )
    verdict, error = _VERDICT[status.state]
    message = f"{spec.label}: {status.state.value}" + (
        f" ({status.detail})" if status.detail else ""
    )
    detail = {"manager": ctx.process_manager.name, "pid": status.pid, "domain": status.domain}
    return Observation(verdict, message, error, detail=detail)
