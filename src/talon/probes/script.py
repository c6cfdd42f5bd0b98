"""The ``script`` probe: the Nagios plugin convention, so the whole catalogue works.

Exit 0 ok, 1 warning, 2 critical, 3 unknown (the plugin could not tell).
126/127 (not executable / not found) say the plugin itself is missing: unknown,
``tool_missing`` (this node's tooling, never the target: F26), with the
shell's message and the fix, never silence (R1). So is a shell that cannot be
spawned. The first line of output is kept, truncated.

A script that overruns its timeout is ``critical``/``timeout``: from outside,
Talon cannot tell a hung plugin from a plugin waiting on a hung target, and a
plugin is expected to bound its own checks (``check_http -t``) and say
``unknown`` itself when it cannot tell.

With ``in_vm`` the script runs inside the VM through the runtime's shell (a
VM-side witness), passed as one word (R6). There, exit 255 is ssh's own
failure to reach the VM: unknown, not the script's verdict.
"""

from __future__ import annotations

import functools
import shutil

from talon.adapters.command import CommandResult, run_command
from talon.adapters.tool import missing
from talon.config.probes import ScriptProbe
from talon.errors import AdapterUnavailable
from talon.probes.context import ProbeContext
from talon.report import ErrorKind, Observation, Status

_EXIT_STATUS = {0: Status.OK, 1: Status.WARNING, 2: Status.CRITICAL, 3: Status.UNKNOWN}
SSH_FAILED = 255
NOT_EXECUTABLE, NOT_FOUND = 126, 127


@functools.lru_cache(maxsize=16)
def _shell(path: str) -> str | None:
    """The ``sh`` this PATH runs, found once: each spawn then execs it directly instead
    of building and trying every PATH directory (~0.05 ms of Talon's CPU a check)."""
    return shutil.which("sh", path=path)


def not_runnable(result: CommandResult, path: str, in_vm: bool) -> str:
    """Exit 126/127: the shell's own words, and the fix."""
    said = result.stderr.strip().splitlines()
    code = result.exit_code
    words = said[-1][:200] if said else result.first_line()
    words = words or f"exit {code}: command not found or not executable"
    if code == NOT_EXECUTABLE:
        fix = "make it executable (chmod +x)" + (" in the VM" if in_vm else "")
    elif in_vm:
        fix = "install it in the VM, or use its full path there"
    else:
        fix = f"install it, or use its full path, or add its directory to [exec] path (PATH={path})"
    return f"{words} (fix: {fix})"


async def probe(spec: ScriptProbe, ctx: ProbeContext) -> Observation:
    argv = ["sh", "-c", spec.command]
    path = ctx.env.get("PATH", "")
    shell = None if spec.in_vm else _shell(path)
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
    if result.spawn_error:  # the shell (or the runtime's tool) itself cannot be run
        message = missing(argv[0], result.spawn_error)
        return Observation(Status.UNKNOWN, message, ErrorKind.TOOL_MISSING, detail=detail)
    if result.timed_out:
        message = f"timed out after {spec.timeout_secs:g}s" + (f": {line}" if line else "")
        return Observation(Status.CRITICAL, message, ErrorKind.TIMEOUT, detail=detail)
    code = result.exit_code
    if spec.in_vm and code == SSH_FAILED:
        said = result.stderr.strip().splitlines()
        message = f"could not reach the VM's shell: {said[-1] if said else 'exit 255'}"
        return Observation(Status.UNKNOWN, message, ErrorKind.UNAVAILABLE, detail=detail)
    if code in (NOT_EXECUTABLE, NOT_FOUND):
        message = not_runnable(result, path, spec.in_vm)
        return Observation(Status.UNKNOWN, message, ErrorKind.TOOL_MISSING, detail=detail)
    status = _EXIT_STATUS.get(code if code is not None else -1, Status.CRITICAL)
    if spec.exit_codes == "zero_ok" and code != 0:  # the original's rule: non-zero fails
        status = Status.CRITICAL
    message = line or f"exit {code}"
    return Observation(
        status, message, None if status is Status.OK else ErrorKind.EXIT_CODE, detail=detail
    )
