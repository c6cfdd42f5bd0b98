"""Running the event loop: the one place that starts it for the CLI and the daemon."""

from __future__ import annotations

import asyncio
import resource
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
WANTED_OPEN_FILES = 65_536


def raise_open_file_limit(wanted: int = WANTED_OPEN_FILES) -> int:
    """Raise the soft limit on open files towards the hard one, as Go's runtime does.

    A cycle holds one socket per concurrent probe; the common soft limit of 1024
    would make a large cycle fail with EMFILE. Returns the soft limit in force.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            return target
        except (ValueError, OSError):
            pass
    return soft


def run(main: Coroutine[Any, Any, T], event_loop: str = "asyncio") -> T:
    """Run ``main`` on the configured loop (``event_loop``: "asyncio" or "uvloop")."""
    raise_open_file_limit()
    if event_loop == "uvloop":  # it watches its own children (libuv), no watcher to set
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(main)
    from talon.adapters.command import child_watcher

    with child_watcher():
        return asyncio.run(main)
