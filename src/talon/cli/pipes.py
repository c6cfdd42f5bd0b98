"""A reader that went away (``talon --check | head -1``) is not an error.

``guard_std_streams`` puts a guard in front of stdout and stderr: the first
write or flush that meets EPIPE sends that file descriptor to /dev/null, and the
command goes on to its end and exits with its own code, with no traceback and
nothing on stderr. Writing to a closed pipe is the reader's choice, not a failure
of the command (the original Rust Talon exited 0 there too).
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any, TextIO, cast


class PipeGuard:
    """A text stream's stand-in: everything is the stream's, but a broken pipe is silence.

    Deliberately not an ``io`` subclass: those define ``encoding`` and ``buffer``
    themselves, and click would then write to the buffer past the guard.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.broken = False

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._silence()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._silence()

    def _silence(self) -> None:
        """From now on the descriptor is /dev/null: what is buffered or still to come goes there."""
        self.broken = True
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, self._stream.fileno())
            finally:
                os.close(devnull)
        except (OSError, ValueError):  # no descriptor (a test's StringIO): nothing to redirect
            pass
        with contextlib.suppress(OSError):
            self._stream.flush()  # the buffered rest, into /dev/null

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def guard_std_streams() -> tuple[PipeGuard, PipeGuard]:
    """Guard ``sys.stdout`` and ``sys.stderr`` (once); return the two guards."""
    guards = []
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if not isinstance(stream, PipeGuard):
            stream = PipeGuard(stream if stream is not None else open(os.devnull, "w"))  # noqa: SIM115
            setattr(sys, name, cast(TextIO, stream))
        guards.append(stream)
    return guards[0], guards[1]


def flush_quietly(*guards: PipeGuard) -> None:
    """Flush at exit; a reader gone by then changes nothing."""
    for guard in guards:
        with contextlib.suppress(OSError, ValueError):  # closed, or gone other than by EPIPE
            guard.flush()
