"""Crash-safe file writes (R31): write a temp file, fsync, rename, fsync the directory.

Every write says how it went to ``talon.store.health`` (F24): a full disk is
counted per file and shows on ``/health`` and ``/metrics``, never fatal. A
failed append is cut back to where it started, so a full disk never leaves a
torn line.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from talon.store.health import report


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
        error = StoreError(f"cannot write {path}: {exc.strerror or exc}")
        report(path, str(error))
        raise error from exc
    report(path, None)


def append_line(path: Path, line: bytes) -> None:
    """Append one record (or several, joined by newlines) and fsync it: all or nothing."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            start = os.lseek(fd, 0, os.SEEK_END)
            try:
                _write_all(fd, _fresh_line(fd, start) + line.rstrip(b"\n") + b"\n")
                os.fsync(fd)
            except OSError:
                _cut(fd, start)  # what did reach the file is taken back
                raise
        finally:
            os.close(fd)
    except OSError as exc:
        error = StoreError(f"cannot append to {path}: {exc.strerror or exc}")
        report(path, str(error))
        raise error from exc
    report(path, None)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _fresh_line(fd: int, size: int) -> bytes:
    """A newline first when the file ends in a torn line (a crash mid-append), or that
    line would swallow this record (F25); readers skip the torn line."""
    return b"\n" if size > 0 and os.pread(fd, 1, size - 1) != b"\n" else b""


def _cut(fd: int, size: int) -> None:
    with contextlib.suppress(OSError):
        os.ftruncate(fd, size)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An advisory lock other writers (the daemon, `talon hold clear`) also take.

    A lock file that cannot be created (a full disk) is no lock: the caller goes on
    unlocked rather than failing (its own write will fail and be reported)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        f = open(path, "a+b")  # noqa: SIM115 - closed below
    except OSError:
        f = None
    if f is None:
        yield
        return
    with f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
