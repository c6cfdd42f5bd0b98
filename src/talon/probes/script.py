"""The ``script`` probe: the Nagios plugin convention, so the whole catalogue works.

Exit 0 ok, 1 warning, 2 critical, 3 unknown. 126/127 (not executable / not
found) are reported as unknown with the shell's message, never as silence (R1).
The first line of output is kept, truncated.
"""

from __future__ import annotations

from talon.adapters.command import run_command
from talon.config.probes import ScriptProbe
from talon.probes.context import ProbeContext
from talon.report import ErrorKind, Observation, Status

_EXIT_STATUS = {0: Status.OK, 1: Status.WARNING, 2: Status.CRITICAL, 3: Status.UNKNOWN}


async def probe(spec: ScriptProbe, ctx: ProbeContext) -> Observation:
    result = await run_command(["sh", "-c", spec.command], timeout=spec.timeout_secs, env=ctx.env)
    detail = {"exit_code": result.exit_code, "duration_ms": round(result.duration_s * 1000, 3)}
    line = result.first_line()
    if result.spawn_error:
        return Observation(Status.UNKNOWN, result.spawn_error, ErrorKind.NOT_FOUND, detail=detail)
    if result.timed_out:
        message = f"timed out after {spec.timeout_secs:g}s" + (f": {line}" if line else "")
        return Observation(Status.CRITICAL, message, ErrorKind.TIMEOUT, detail=detail)
    code = result.exit_code
    if code in (126, 127):
        return Observation(
            Status.UNKNOWN,
            line or f"exit {code}: command not found or not executable",
            ErrorKind.NOT_FOUND,
            detail=detail,
        )
    status = _EXIT_STATUS.get(code if code is not None else -1, Status.CRITICAL)
    message = line or f"exit {code}"
    return Observation(
        status, message, None if status is Status.OK else ErrorKind.EXIT_CODE, detail=detail
    )
