"""The runtime lock (R19): one file lock around every action on the container runtime.

Anything else that starts or stops the VM takes the same lock (``flock PATH
cmd`` in a shell works). A heal script Talon runs inherits the locked file
descriptor, so the lock stays held while the script lives, even if Talon
itself dies mid-heal; the script learns the path from TALON_RUNTIME_LOCK.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

POLL_S = 0.1


class LockTimeout(Exception):
    pass


def holder(path: Path) -> str:
    """Who holds (or last held) the lock, as its holder wrote it."""
    try:
        return path.read_text().strip() or "unknown"
    except OSError:
        return "unknown"


def held_by(path: Path) -> str | None:
    """Who holds the lock now (a heal that outlived a Talon, another healer), else None.

    Never blocks: the lock is taken and dropped at once when it is free."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None  # no lock file: nobody ever took it
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return holder(path)
    finally:
        os.close(fd)
    return None


@contextlib.asynccontextmanager
async def runtime_lock(path: Path, *, timeout: float, who: str) -> AsyncIterator[int]:
    """Hold the lock; yields the locked fd (to hand to a helper script)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockTimeout(
                        f"the runtime lock {path} is held by {holder(path)} (waited {timeout:g}s)"
                    ) from None
                await asyncio.sleep(POLL_S)
        with contextlib.suppress(OSError):  # only a diagnostic
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps({"pid": os.getpid(), "who": who}).encode(), 0)
        yield fd
    finally:
        os.close(fd)  # closing our descriptor releases the lock unless a child still has it
