"""Supervised internal tasks (R29): a task that dies is visible, logged, and restarted.

Each task is a coroutine factory. When one returns or raises while the daemon
runs, its state says "dead: why" (so /health answers 503 and /metrics shows
``talon_task_up 0``) until the restart, which backs off 1 s, 2 s, 4 s ... 60 s.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

MAX_BACKOFF_S = 60.0


async def cancel_all(tasks: set[asyncio.Task[Any]]) -> None:
    """Cancel every task of ``tasks`` and wait for each to unwind (each records its end)."""
    pending = list(tasks)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)


class TaskSupervisor:
    def __init__(self, on_change: Callable[[str, bool, str], None]) -> None:
        self._on_change = on_change
        self.state: dict[str, str] = {}
        self.deaths: dict[str, int] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._stopping = False

    def start(self, name: str, factory: Callable[[], Awaitable[Any]]) -> None:
        self._tasks[name] = asyncio.create_task(self._keep(name, factory), name=f"talon:{name}")

    async def _keep(self, name: str, factory: Callable[[], Awaitable[Any]]) -> None:
        backoff = 1.0
        while not self._stopping:
            self.state[name] = "running"
            self._on_change(name, True, "")
            try:
                await factory()
                why = "returned"
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                why = f"{type(exc).__name__}: {exc}"
            if self._stopping:
                return
            self.deaths[name] = self.deaths.get(name, 0) + 1
            self.state[name] = f"dead: {why}"
            self._on_change(name, False, why)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_S)

    async def stop(self) -> None:
        self._stopping = True
        for task in self._tasks.values():
            task.cancel()
        for task in self._tasks.values():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
