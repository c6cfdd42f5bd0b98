"""The ``service`` probe (``launchd.*`` in the original format): ask the ProcessManager.

Nagios semantics (F26, F28): running is ok; on its way up or down is a warning
(look again next cycle); stopped cleanly through the manager is an operator's
stop, a warning with ``error_kind = stopped`` that the core reports and never
restarts, and the message gives the manager's own start command; failed,
killed or unknown to the manager is critical; a manager whose tool is missing,
or that cannot tell, is unknown.
"""

from __future__ import annotations

from talon.adapters.process import ServiceState, ServiceStatus
from talon.config.probes import ServiceProbe
from talon.errors import AdapterUnavailable, ToolMissing
from talon.probes.context import ProbeContext
from talon.report import ErrorKind, Observation, Status

_VERDICT = {
    ServiceState.RUNNING: (Status.OK, None),
    ServiceState.CHANGING: (Status.WARNING, ErrorKind.NOT_READY),
    ServiceState.STOPPED: (Status.WARNING, ErrorKind.STOPPED),
    ServiceState.FAILED: (Status.CRITICAL, ErrorKind.NOT_READY),
    ServiceState.NOT_FOUND: (Status.CRITICAL, ErrorKind.NOT_FOUND),
    ServiceState.UNKNOWN: (Status.UNKNOWN, ErrorKind.UNAVAILABLE),
}


def describe(label: str, status: ServiceStatus, manager: str) -> str:
    detail = f" ({status.detail})" if status.detail else ""
    if status.state is ServiceState.STOPPED:
        start = f"`{status.start_command}`" if status.start_command else f"its manager ({manager})"
        return (
            f"{label}: stopped by an operator{detail}; Talon does not restart it: "
            f"start it with {start}"
        )
    if status.state is ServiceState.CHANGING:
        return f"{label}: in transition{detail}"
    return f"{label}: {status.state.value}{detail}"


async def probe(spec: ServiceProbe, ctx: ProbeContext) -> Observation:
    manager = ctx.process_manager.name
    try:
        status = await ctx.process_manager.inspect(spec.label)
    except ToolMissing as exc:  # this node's tooling, not the service (F26)
        return Observation(
            Status.UNKNOWN,
            f"{spec.label}: {exc}",
            ErrorKind.TOOL_MISSING,
            detail={"manager": manager},
        )
    except AdapterUnavailable as exc:  # the manager refuses or cannot be reached: say so
        return Observation(
            Status.UNKNOWN,
            f"{spec.label}: {exc}",
            ErrorKind.UNAVAILABLE,
            detail={"manager": manager},
        )
    verdict, error = _VERDICT[status.state]
    detail = {"manager": manager, "pid": status.pid, "domain": status.domain}
    return Observation(verdict, describe(spec.label, status, manager), error, detail=detail)
