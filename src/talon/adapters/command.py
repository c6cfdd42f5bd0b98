"""Run a child process without ever stalling the event loop.

- Every child gets an explicit PATH (R1): a missing binary is a visible error.
- Every child leads its own process group; on timeout, cancellation, or when
  it exits leaving descendants, the whole group is killed (R21, R30).
- stdout and stderr are read concurrently with a size cap, so a chatty child
  cannot fill memory, and a grandchild that keeps a pipe open after its parent
  exits costs at most ``linger_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

SYSTEM_PATH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
MACOS_PATH = ("/opt/homebrew/bin", "/opt/homebrew/sbin")
OUTPUT_CAP = 64 * 1024


def exec_path(extra: Sequence[str] = (), inherited: str | None = None) -> str:
    """PATH for children: configured dirs, system dirs, then Talon's own PATH."""
    dirs = [*extra, *(MACOS_PATH if sys.platform == "darwin" else ()), *SYSTEM_PATH]
    if inherited:
        dirs.extend(inherited.split(os.pathsep))
    return os.pathsep.join(dict.fromkeys(d for d in dirs if d))


def exec_env(
    extra_path: Sequence[str] = (),
    *,
    inherit_path: bool = True,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    env["PATH"] = exec_path(extra_path, env.get("PATH") if inherit_path else None)
    return env


@dataclass(frozen=True, slots=True)
class CommandResult:
    argv: tuple[str, ...]
    exit_code: int | None  # None: it did not exit by itself (spawn error, timeout)
    stdout: str
    stderr: str
    duration_s: float
    timed_out: bool = False
    truncated: bool = False
    spawn_error: str | None = None

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def first_line(self, limit: int = 200) -> str:
        text = self.stdout.strip() or self.stderr.strip() or (self.spawn_error or "")
        line = text.splitlines()[0] if text else ""
        return line if len(line) <= limit else line[: limit - 1] + "…"


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


async def _drain(stream: asyncio.StreamReader | None, cap: int) -> tuple[bytes, bool]:
    if stream is None:
        return b"", False
    buf, truncated = bytearray(), False
    while chunk := await stream.read(65_536):
        room = cap - len(buf)
        if room > 0:
            buf += chunk[:room]
        truncated = truncated or len(chunk) > room
    return bytes(buf), truncated


async def run_command(
    argv: Sequence[str],
    *,
    timeout: float,
    env: Mapping[str, str],
    cwd: str | None = None,
    output_cap: int = OUTPUT_CAP,
    linger_s: float = 0.2,
) -> CommandResult:
    """Run ``argv`` with a hard ``timeout``; never raises for the child's failures."""
    argv = tuple(argv)
    started = time.monotonic()
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
        )
    except (FileNotFoundError, PermissionError, NotADirectoryError) as exc:
        where = f" (PATH={env.get('PATH', '')})" if isinstance(exc, FileNotFoundError) else ""
        return CommandResult(
            argv,
            None,
            "",
            "",
            time.monotonic() - started,
            spawn_error=f"{argv[0]}: {exc.strerror or exc}{where}",
        )
    readers = [
        asyncio.ensure_future(_drain(proc.stdout, output_cap)),
        asyncio.ensure_future(_drain(proc.stderr, output_cap)),
    ]
    timed_out = False
    try:
        try:
            async with asyncio.timeout(timeout):
                await proc.wait()
        except TimeoutError:
            timed_out = True
            _kill_group(proc.pid)
            await proc.wait()
        # The child is gone. A descendant may still hold the pipes: give the
        # readers a moment, then kill what is left of the group (R21).
        _, pending = await asyncio.wait(readers, timeout=linger_s)
        _kill_group(proc.pid)
        if pending:
            await asyncio.wait(pending, timeout=linger_s)
    finally:
        if proc.returncode is None:  # cancelled: leave nothing behind (R30)
            _kill_group(proc.pid)
        for reader in readers:
            reader.cancel()
        if not all(r.done() for r in readers):
            # A descendant escaped the group and holds a pipe: close our ends
            # (asyncio has no public handle for the pipe transports).
            transport = getattr(proc, "_transport", None)
            if transport is not None:
                transport.close()
    (out, out_cut), (err, err_cut) = (
        r.result() if r.done() and not r.cancelled() and r.exception() is None else (b"", True)
        for r in readers
    )
    return CommandResult(
        argv,
        None if timed_out else proc.returncode,
        out.decode("utf-8", "replace"),
        err.decode("utf-8", "replace"),
        time.monotonic() - started,
        timed_out,
        out_cut or err_cut,
    )
