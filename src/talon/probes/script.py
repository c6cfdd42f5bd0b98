"""The ``script`` probe: the Nagios plugin convention, so the whole catalogue works.

Exit 0 ok, 1 warning, 2 critical, 3 unknown. 126/127 (not executable / not
found) are reported as unknown with the shell's message, never as silence (R1).
The first line of output is kept, truncated.

With ``in_vm`` the script runs inside the VM through the runtime's shell (a
VM-side witness), passed as one word (R6). There, exit 255 is ssh's own
failure to reach the VM: unknown, not the script's verdict.
"""

from __future__ import annotations

import functools
import shutil

from talon.adapters.command import run_command
from talon.config.probes import ScriptProbe
from talon.errors import AdapterUnavailable
from talon.probes.context import ProbeContext
from talon.report import ErrorKind, Observation, Status

_EXIT_STATUS = {0: Status.OK, 1: Status.WARNING, 2: Status.CRITICAL, 3: Status.UNKNOWN}
SSH_FAILED = 255


@functools.lru_cache(maxsize=16)
def _shell(path: str) -> str | None:
    """The ``sh`` this PATH runs, found once: each spawn then execs it directly instead
    of building and trying every PATH directory (~0.05 ms of Talon's CPU a check)."""
    return shutil.which("sh", path=path)


async def probe(spec: ScriptProbe, ctx: ProbeContext) -> Observation:
    argv = ["sh", "-c", spec.command]
    shell = None if spec.in_vm else _shell(ctx.env.get("PATH", ""))
    if spec.in_vm:
        try:
            argv = ctx.runtime.ssh_command(spec.command)
        except AdapterUnavailable as exc:
            return Observation(Status.UNKNOWN, str(exc), ErrorKind.UNAVAILABLE)
    result = await run_command(argv, timeout=spec.timeout_secs, env=ctx.env, executable=shell)
    detail: dict[str, object] = {
        "exit_code": result.exit_code,
        "duration_ms": round(result.duration_s * 1000, 3),
    }
    if spec.in_vm:
        detail["in_vm"] = ctx.runtime.name
    line = result.first_line()
    if result.spawn_error:
        return Observation(Status.UNKNOWN, result.spawn_error, ErrorKind.NOT_FOUND, detail=detail)
    if result.timed_out:
        message = f"timed out after {spec.timeout_secs:g}s" + (f": {line}" if line else "")
        return Observation(Status.CRITICAL, message, ErrorKind.TIMEOUT, detail=detail)
    code = result.exit_code
    if spec.in_vm and code == SSH_FAILED:
        said = result.stderr.strip().splitlines()
        message = f"could not reach the VM's shell: {said[-1] if said else 'exit 255'}"
        return Observation(Status.UNKNOWN, message, ErrorKind.UNAVAILABLE, detail=detail)
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
