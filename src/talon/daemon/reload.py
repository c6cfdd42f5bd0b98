"""Hot reload (R28, F13, F30): watch both files and SIGHUP; swap in a new config only when valid.

A changed or signalled file is loaded into a new object; an invalid one leaves
the last good configuration running, with a loud error (log, /health, status,
metrics) until a valid file replaces it. A valid one waits in ``pending``
until the loop takes it at a cycle boundary.

A file is "changed" when its content is (a hash), not only its mtime: a fix saved
within the same mtime tick as the bad edit before it is still picked up. Nothing a
load raises stops the watcher: an exception the loader could not explain is logged
like an invalid file, and the last good configuration stays.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from talon.config import LoadedConfig, load
from talon.errors import ConfigError
from talon.node import NodeIdentity

WATCH_EVERY_S = 1.0
READ_AT_MOST = 64 * 1024 * 1024  # a config larger than this is hashed by its first bytes

Fingerprint = tuple[int, int, str] | str


def mtime(path: Path) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def fingerprint(path: Path) -> Fingerprint:
    """(mtime, size, content hash) of a file, or why it cannot be read: two saves within
    one mtime tick differ by their content."""
    try:
        with path.open("rb") as file:
            info = os.fstat(file.fileno())
            digest = hashlib.blake2b(file.read(READ_AT_MOST), digest_size=16).hexdigest()
    except (OSError, ValueError) as exc:  # missing, a directory, a name the OS refuses
        return f"unreadable: {type(exc).__name__}: {getattr(exc, 'errno', '')}"
    return (info.st_mtime_ns, info.st_size, digest)


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
        loader: Callable[..., LoadedConfig] = load,
    ) -> None:
        self.config_path = config_path
        self.identity = identity
        self.current = current
        self.allow_insecure = allow_insecure
        self.log = log
        self.metrics = metrics
        self.on_change = on_change  # wake the loop; refresh the status file
        self.loader = loader
        self.pending: LoadedConfig | None = None
        self.error: str | None = None
        self._now = asyncio.Event()
        # what the files held when last loaded (or tried): kept across a restart of watch()
        self._seen: dict[Path, Fingerprint] | None = None
        # files the last failed load named (a services file not created yet): watched too
        self._named: tuple[Path, ...] = ()

    def signal(self) -> None:
        """SIGHUP: reload now, whether or not the files changed."""
        self._now.set()

    def take(self) -> LoadedConfig | None:
        pending, self.pending = self.pending, None
        return pending

    def _watched(self) -> dict[Path, Fingerprint]:
        loaded = self.pending or self.current()
        paths = (self.config_path, loaded.config_path, loaded.services_path, *self._named)
        return {path: fingerprint(path) for path in dict.fromkeys(paths)}

    def baseline(self) -> None:
        """Remember the files as they are now (the config running was loaded from them)."""
        if self._seen is None:
            self._seen = self._watched()

    async def watch(self) -> None:
        self.baseline()
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(WATCH_EVERY_S):
                    await self._now.wait()
            forced = self._now.is_set()
            self._now.clear()
            self.poll(forced=forced)

    def poll(self, *, forced: bool = False) -> bool:
        """One look at the files: reload when forced or when either file's content changed
        since the last load (good or bad). Never raises; True when a load was tried."""
        try:
            now = self._watched()  # before the load: a save during it is seen next time
            if not forced and now == self._seen:
                return False
            self._seen = now
            self.try_reload("SIGHUP" if forced else "changed on disk")
        except Exception as exc:  # the watcher outlives any file
            with contextlib.suppress(Exception):
                self._failed("watch", f"{type(exc).__name__}: {exc}", forced=True)
        return True

    def try_reload(self, why: str) -> None:
        try:
            loaded = self.loader(
                self.config_path, identity=self.identity, allow_insecure=self.allow_insecure
            )
        except ConfigError as exc:
            self._named = tuple(dict.fromkeys(p.file for p in exc.problems))
            self._failed(why, "; ".join(p.render() for p in exc.problems), forced=why == "SIGHUP")
            return
        except Exception as exc:  # a loader bug must not end hot reload
            self._failed(
                why,
                f"{self.config_path}: could not be loaded: {type(exc).__name__}: {exc} "
                "(fix: correct the file; an exception here is also a Talon bug to report)",
                forced=True,
            )
            return
        self._named = ()
        self.error = None
        self.metrics.set_config_error(False)
        self.pending = loaded
        self.log.info("config.reloaded", why=why, probes=len(loaded.probes))
        self.on_change()

    def _failed(self, why: str, error: str, *, forced: bool) -> None:
        """Keep the last good config and say why; the same error again (the watch on a
        file the failed load named, a touch) is not logged twice unless asked (SIGHUP)."""
        if error == self.error and not forced:
            return
        self.error = error
        self.metrics.set_config_error(True)
        self.log.error("config.invalid", why=why, error=self.error, kept="last good")
        self.on_change()
