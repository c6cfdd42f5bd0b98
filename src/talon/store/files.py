"""Crash-safe file writes (R31): write a temp file, fsync, rename, fsync the directory."""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


class StoreError(Exception):
    """A write failed (full disk, permissions): reported by the caller, never fatal."""


def atomic_write(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Replace ``path`` with ``data``: readers see the old file or the new one, never a part.

    ``durable=False`` skips the fsyncs, for a view rewritten every cycle
    (``last-probe.json``): after a power cut it may be the previous one, or empty.
    """
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
        if durable:
            _fsync_dir(path.parent)
    except OSError as exc:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise StoreError(f"cannot write {path}: {exc.strerror or exc}") from exc


def append_line(path: Path, line: bytes) -> None:
    """Append one record and fsync it; a torn last line is skipped by readers."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "ab") as f:
            f.write(line.rstrip(b"\n") + b"\n")
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        raise StoreError(f"cannot append to {path}: {exc.strerror or exc}") from exc


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An advisory lock other writers (the daemon, `talon hold clear`) also take."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
