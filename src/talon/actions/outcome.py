"""What an action came to, and the one wrapper that bounds every action."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from talon.adapters.command import CommandResult
from talon.core.model import ActionStatus
from talon.errors import ActionFailed, AdapterUnavailable

DONE = ActionStatus.DONE
FAILED = ActionStatus.FAILED
TIMEOUT = ActionStatus.TIMEOUT
CANCELLED = ActionStatus.CANCELLED
REFUSED = ActionStatus.REFUSED  # the platform cannot do it here (AdapterUnavailable)
SKIPPED = ActionStatus.SKIPPED


@dataclass(frozen=True)
class Outcome:
    status: ActionStatus
    detail: str
    output: str = ""  # command output, kept in the incident's bundle
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == DONE


async def bounded(
    work: Callable[[], Awaitable[str | Outcome]], timeout: float, what: str
) -> Outcome:
    """Run ``work`` under ``timeout``; adapter refusals and failures become outcomes.

    Cancellation (shutdown) propagates: the caller journals it (R30).
    """
    started = time.monotonic()
    try:
        async with asyncio.timeout(timeout):
            result = await work()
    except TimeoutError:
        return Outcome(TIMEOUT, f"{what} did not finish within {timeout:g}s", "", _since(started))
    except AdapterUnavailable as exc:
        return Outcome(REFUSED, f"{what}: {exc}", "", _since(started))
    except ActionFailed as exc:
        return Outcome(FAILED, f"{what}: {exc}", "", _since(started))
    except Exception as exc:  # an adapter bug must not kill the loop
        return Outcome(FAILED, f"{what}: {type(exc).__name__}: {exc}", "", _since(started))
    if isinstance(result, Outcome):
        return Outcome(result.status, result.detail, result.output, _since(started))
    return Outcome(DONE, result, "", _since(started))


def from_command(result: CommandResult, what: str, timeout: float) -> Outcome:
    """A child's run as an outcome: its exit (and first line), its output for the bundle."""
    output = command_output(result)
    if result.timed_out:
        return Outcome(TIMEOUT, f"{what} killed after {timeout:g}s", output)
    if result.spawn_error:
        return Outcome(FAILED, f"{what} did not start: {result.spawn_error}", output)
    first = result.first_line()
    said = f"{what} exited {result.exit_code}" + (f": {first}" if first else "")
    return Outcome(DONE if result.ok else FAILED, said, output)


def command_output(result: CommandResult) -> str:
    """What a child printed, as the incident's bundle keeps it."""
    parts = (("stdout", result.stdout), ("stderr", result.stderr))
    return "\n".join(f"--- {name}\n{text}" for name, text in parts if text)


def _since(started: float) -> float:
    return time.monotonic() - started
