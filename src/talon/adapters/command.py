"""Run a child process without ever stalling the event loop.

- Every child gets an explicit PATH (R1): a missing binary is a visible error.
- Every child leads its own process group; on timeout, cancellation, or when
  it exits leaving descendants, the whole group is killed (R21, R30).
- stdout and stderr are read concurrently with a size cap, so a chatty child
  cannot fill memory, and a grandchild that keeps a pipe open after its parent
  exits costs at most ``linger_s``.
- A child's exit is an event: ``child_watcher()`` has Python 3.11 watch children
  through pidfds, as 3.12 does by default, instead of a thread per child.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from talon.node import exec_path as exec_path  # re-exported: where the adapters look it up

OUTPUT_CAP = 64 * 1024


def exec_env(
    extra_path: Sequence[str] = (),
    *,
    inherit_path: bool = True,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    env["PATH"] = exec_path(extra_path, env.get("PATH") if inherit_path else None)
    return env


def _can_use_pidfd() -> bool:
    try:
        os.close(os.pidfd_open(os.getpid()))
    except (AttributeError, OSError):  # not Linux, or a kernel before 5.3
        return False
    return True


@contextlib.contextmanager
def child_watcher() -> Iterator[None]:
    """Around ``asyncio.run``: on Python 3.11, watch children through pidfds.

    3.11's default watcher starts a thread per child that blocks in waitpid():
    a thread start and a hand-over of the GIL for every script probe and every
    worker start (about 0.3 ms of CPU each here). A pidfd is one more descriptor
    in the loop's selector; 3.12 made it the default. The watcher is process-wide
    and serves the main thread's loop, so only the main thread installs it; on
    3.12+, under another loop policy (uvloop watches its own children), in other
    threads or without pidfds this does nothing. The default comes back on exit.
    """
    if sys.version_info >= (3, 12):  # pidfds already (and the policy API is deprecated)
        yield
        return
    policy = asyncio.get_event_loop_policy()
    wanted = (
        isinstance(policy, asyncio.DefaultEventLoopPolicy)  # not uvloop's
        and threading.current_thread() is threading.main_thread()
        and _can_use_pidfd()
    )
    if not wanted:
        yield
        return
    policy.set_child_watcher(asyncio.PidfdChildWatcher())
    try:
        yield
    finally:
        policy.set_child_watcher(None)  # type: ignore[arg-type]  # the lazy default again


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


def _feed(transport: asyncio.SubprocessTransport, data: bytes) -> None:
    # Buffered by the loop, never awaited: a child that does not read its
    # stdin cannot stall us; the pipe closes when the data is written or the
    # child is gone.
    stdin = transport.get_pipe_transport(0)
    if isinstance(stdin, asyncio.WriteTransport):
        stdin.write(data)
        stdin.close()


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


class _Collector(asyncio.SubprocessProtocol):
    """Collects capped output; ``exited`` fires at exit even while pipes stay open.

    (``asyncio.subprocess.Process.wait()`` on 3.11 waits for the pipes too: the
    very freeze of R21.)
    """

    def __init__(self, cap: int) -> None:
        loop = asyncio.get_running_loop()
        self.cap = cap
        self.output = {1: bytearray(), 2: bytearray()}
        self.truncated = False
        self.exited: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        buf = self.output[fd]
        room = self.cap - len(buf)
        if room > 0:
            buf += data[:room]
        self.truncated = self.truncated or len(data) > room

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


async def run_command(
    argv: Sequence[str],
    *,
    timeout: float,
    env: Mapping[str, str],
    cwd: str | None = None,
    output_cap: int = OUTPUT_CAP,
    linger_s: float = 0.2,
    input: bytes | None = None,
    pass_fds: Sequence[int] = (),
    executable: str | None = None,
) -> CommandResult:
    """Run ``argv`` with a hard ``timeout``; never raises for the child's failures.

    ``input`` is written to the child's stdin, which is then closed; without
    it stdin is /dev/null. ``pass_fds`` stay open in the child (a held lock).
    ``executable``: the file to run, already found (``argv[0]`` stays its name).
    """
    argv = tuple(argv)
    loop = asyncio.get_running_loop()
    started = time.monotonic()
    try:
        transport, proto = await loop.subprocess_exec(
            lambda: _Collector(output_cap),
            *argv,
            stdin=subprocess.DEVNULL if input is None else subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
            pass_fds=tuple(pass_fds),
            executable=executable,
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
    pgid = transport.get_pid()  # the child leads its own group (start_new_session)
    if input is not None:
        _feed(transport, input)
    timed_out = False
    try:
        try:
            async with asyncio.timeout(timeout):
                await asyncio.shield(proto.exited)
        except TimeoutError:
            timed_out = True
            _kill_group(pgid)
            await proto.exited
        # The child is gone. A descendant may still hold the pipes: give the
        # output a moment to drain, then kill what is left of the group (R21).
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(linger_s):
                await asyncio.shield(proto.closed)
        _kill_group(pgid)
    finally:
        if not proto.exited.done():  # cancelled (shutdown): leave nothing behind (R30)
            _kill_group(pgid)
            # Reap it while the loop still runs, or its exit reaches a closed loop.
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                async with asyncio.timeout(1.0):
                    await asyncio.shield(proto.exited)
        transport.close()
    out, err = (bytes(proto.output[fd]).decode("utf-8", "replace") for fd in (1, 2))
    return CommandResult(
        argv,
        None if timed_out else transport.get_returncode(),
        out,
        err,
        time.monotonic() - started,
        timed_out,
        proto.truncated or not proto.closed.done(),
    )
