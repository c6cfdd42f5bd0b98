"""Is the state directory taking writes? Fed by every write ``talon.store.files`` makes (F24).

``atomic_write`` and ``append_line`` tell every registered ``StorageHealth`` how
each write went; one counts only the paths under its own directory (so two
daemons in one process, as in tests, never mix), under a bounded label: the
file's name for a file of the directory itself (``state.json``,
``journal.jsonl``), ``bundles`` for anything under ``incidents/``, else the
first directory (``commands``). A label is failing from a failed write until
the next write to it succeeds: nothing to reset by hand when space returns.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BUNDLES = "bundles"
_WATCHERS: weakref.WeakSet[StorageHealth] = weakref.WeakSet()


@dataclass
class FileHealth:
    errors: int = 0  # failed writes since start
    last_error: str | None = None  # None: the last write succeeded
    last_ok: float | None = None  # wall time of the last good write


class StorageHealth:
    """Per file label: failed writes, the last error (until a write succeeds), the last ok."""

    def __init__(
        self, root: Path, *, on_change: Callable[[str, str | None], None] | None = None
    ) -> None:
        self.root = root.absolute()
        self.files: dict[str, FileHealth] = {}
        self.on_change = on_change  # (label, error or None), after every write
        self._lock = threading.Lock()
        _WATCHERS.add(self)

    def close(self) -> None:
        _WATCHERS.discard(self)

    def label(self, path: Path) -> str | None:
        """The label of ``path``, or None when it is not under this directory."""
        try:
            parts = path.absolute().relative_to(self.root).parts
        except ValueError:
            return None
        if not parts:
            return None
        if len(parts) == 1:
            return parts[0]
        return BUNDLES if parts[0] == "incidents" else parts[0]

    def wrote(self, path: Path, error: str | None) -> None:
        label = self.label(path)
        if label is None:
            return
        with self._lock:
            entry = self.files.setdefault(label, FileHealth())
            if error is None:
                entry.last_error, entry.last_ok = None, time.time()
            else:
                entry.errors += 1
                entry.last_error = error
        if self.on_change is not None:
            self.on_change(label, error)

    def failing(self) -> dict[str, str]:
        with self._lock:
            return {k: v.last_error for k, v in sorted(self.files.items()) if v.last_error}

    def errors(self) -> dict[str, int]:
        with self._lock:
            return {k: v.errors for k, v in sorted(self.files.items()) if v.errors}

    def view(self, **extra: Any) -> dict[str, Any]:
        """``/health``'s ``storage``: ok, what fails now and why, errors per file so far."""
        failing = self.failing()
        return {"ok": not failing, "failing": failing, "errors": self.errors(), **extra}


def report(path: Path, error: str | None) -> None:
    """How a write to ``path`` went, to every ``StorageHealth`` watching its directory."""
    for watcher in list(_WATCHERS):
        watcher.wrote(path, error)
