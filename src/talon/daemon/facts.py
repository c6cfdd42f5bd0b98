"""What the core is told besides probe results, read once per cycle, each bounded."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from talon.actions.runtime_lock import held_by
from talon.core import Facts

if TYPE_CHECKING:
    from talon.daemon.wiring import Wiring
    from talon.daemon.worker_link import WorkerLink

UPTIME_TIMEOUT_S = 2.0


async def gather_facts(w: Wiring, worker: WorkerLink, wall: float) -> Facts:
    return Facts(
        runtime_uptime_s=await _uptime(w),
        worker_quick_exits=worker.quick_exits(wall),
        port_holder_pid=worker.port_holder_pid(wall),
        runtime_lock_holder=await lock_holder(w),
    )


async def lock_holder(w: Wiring) -> str | None:
    """A heal script that outlived a Talon, or another healer, at work on the runtime.

    A non-blocking flock on a local file: no thread needed (state writes are inline too)."""
    return held_by(w.runtime_lock)


async def _uptime(w: Wiring) -> float | None:
    try:
        async with asyncio.timeout(UPTIME_TIMEOUT_S):
            return await w.ctx.runtime.uptime_s()
    except Exception:  # a runtime that cannot tell: no reading, not a failure
        return None
