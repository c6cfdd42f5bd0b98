"""Hot reload (R28, F13): watch both files and SIGHUP; swap in a new config only when valid.

A changed or signalled file is loaded into a new object; an invalid one leaves
the last good configuration running, with a loud error (log, /health, status,
metrics) until a valid file replaces it. A valid one waits in ``pending``
until the loop takes it at a cycle boundary.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from talon.config import LoadedConfig, load
from talon.errors import ConfigError
from talon.node import NodeIdentity

WATCH_EVERY_S = 1.0


def mtime(path: Path) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


class Reloader:
    def __init__(
        self,
        config_path: Path,
        identity: NodeIdentity,
        current: Callable[[], LoadedConfig],
        *,
        allow_insecure: bool,
        log: Any,
        metrics: Any,
        on_change: Callable[[], None],
    ) -> None:
        self.config_path = config_path
        self.identity = identity
        self.current = current
        self.allow_insecure = allow_insecure
        self.log = log
        self.metrics = metrics
        self.on_change = on_change  # wake the loop; refresh the status file
        self.pending: LoadedConfig | None = None
        self.error: str | None = None
        self._now = asyncio.Event()

    def signal(self) -> None:
        """SIGHUP: reload now, whether or not the files changed."""
        self._now.set()

    def take(self) -> LoadedConfig | None:
        pending, self.pending = self.pending, None
        return pending

    def _watched(self) -> tuple[int | None, ...]:
        loaded = self.pending or self.current()
        return (mtime(loaded.config_path), mtime(loaded.services_path))

    async def watch(self) -> None:
        seen = self._watched()
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(WATCH_EVERY_S):
                    await self._now.wait()
            forced = self._now.is_set()
            self._now.clear()
            now = self._watched()
            if forced or now != seen:
                seen = now
                self.try_reload("SIGHUP" if forced else "changed on disk")

    def try_reload(self, why: str) -> None:
        try:
            loaded = load(
                self.config_path, identity=self.identity, allow_insecure=self.allow_insecure
            )
        except ConfigError as exc:
            self.error = "; ".join(p.render() for p in exc.problems)
            self.metrics.set_config_error(True)
            self.log.error("config.invalid", why=why, error=self.error, kept="last good")
            self.on_change()
            return
        self.error = None
        self.metrics.set_config_error(False)
        self.pending = loaded
        self.log.info("config.reloaded", why=why, probes=len(loaded.probes))
        self.on_change()
