"""Calling a platform tool (colima, limactl, launchctl, systemctl ...): bounded, and honest.

Every adapter that shells out to a tool uses these two helpers, so a missing
tool is always ``AdapterUnavailable`` and a failed call always reads the same
way in a log line: what was run, how it ended, the last thing it said.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from talon.adapters.command import CommandResult, run_command
from talon.errors import AdapterUnavailable


async def run_tool(argv: Sequence[str], *, timeout: float, env: Mapping[str, str]) -> CommandResult:
    """Run a tool with a hard timeout; a tool that is not installed is AdapterUnavailable."""
    result = await run_command(argv, timeout=timeout, env=env)
    if result.spawn_error:
        raise AdapterUnavailable(f"{argv[0]} is not available: {result.spawn_error}")
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
