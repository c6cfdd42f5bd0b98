"""Calling a platform tool (colima, limactl, launchctl, systemctl ...): bounded, and honest.

Every adapter that shells out to a tool uses these helpers, so a missing tool
is always ``ToolMissing`` (an ``AdapterUnavailable``: the probe cannot tell,
F26), named with the PATH that was searched and the fix, and a failed call
always reads the same way in a log line: what was run, how it ended, the last
thing it said.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from talon.adapters.command import CommandResult, run_command
from talon.errors import ToolMissing


def missing(tool: str, spawn_error: str) -> str:
    """Why ``tool`` could not be run (``CommandResult.spawn_error``), and the fix (R1)."""
    name = os.path.basename(tool) or tool
    if "(PATH=" not in spawn_error:  # found, but not executable (or a path through a file)
        fix = f"make {tool} executable, or put a working {name} on [exec] path"
    elif os.sep in tool:  # a path of its own: PATH was not searched
        fix = f"install {name} at {tool}, or add its directory to [exec] path and use its name"
    else:  # not found: the PATH searched is in the error already
        fix = f"install {name}, or add its directory to [exec] path"
    return f"{tool} is not available: {spawn_error} (fix: {fix})"


async def run_tool(argv: Sequence[str], *, timeout: float, env: Mapping[str, str]) -> CommandResult:
    """Run a tool with a hard timeout; a tool that cannot be spawned is ``ToolMissing``."""
    result = await run_command(argv, timeout=timeout, env=env)
    if result.spawn_error:
        raise ToolMissing(missing(argv[0], result.spawn_error))
    return result


def failure(result: CommandResult, timeout: float) -> str:
    """Why a tool call did not succeed, in one line."""
    verb = result.argv[1:2] if result.argv[1:2] and not result.argv[1].startswith("-") else ()
    what = " ".join((result.argv[0], *verb))
    if result.timed_out:
        return f"`{what}` gave no answer within {timeout:g}s"
    lines = (result.stderr.strip() or result.stdout.strip()).splitlines()
    said = f": {lines[-1][:300]}" if lines else ""
    return f"`{what}` exited {result.exit_code}{said}"
