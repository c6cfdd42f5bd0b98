"""Start and stop real processes for tests, always by pid."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from talon.lab import procs as lab_procs

ROOT = Path(__file__).resolve().parents[2]


def free_port(host: str = "127.0.0.1") -> int:
    """A port free now, chosen outside the kernel's ephemeral range (see talon.lab.procs)."""
    return lab_procs.free_port(host)


@contextmanager
def refusing_port(host: str = "127.0.0.1") -> Iterator[int]:
    """A port that refuses every connection while the block lasts.

    Bound but never listening: the kernel answers a SYN with a reset, and no
    other test (nor a client's own ephemeral port) can take the number
    meanwhile, as it could with a port from free_port() that nothing holds.
    """
    with socket.socket() as s:
        s.bind((host, 0))
        yield int(s.getsockname()[1])


def stop(proc: subprocess.Popen[bytes] | subprocess.Popen[str], timeout: float = 5) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


@contextmanager
def farm(*binds: str) -> Iterator[list[tuple[str, int]]]:
    """Run the target farm; yield the (host, port) of each listener."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.farm", *[a for b in binds for a in ("--bind", b)]],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        addresses = []
        for _ in binds:
            line = proc.stdout.readline() if proc.stdout else ""
            assert line.startswith("READY "), f"farm did not start: {line!r}"
            host, port = line.split()[1].rsplit(":", 1)
            addresses.append((host, int(port)))
        yield addresses
    finally:
        stop(proc)


@contextmanager
def redis_server(tmp: Path, *extra: str, host: str = "127.0.0.1") -> Iterator[int]:
    """A real redis-server on a free loopback port, data in ``tmp``; stopped by pid."""
    binary = shutil.which("redis-server")
    assert binary, "redis-server is not installed: run scripts/setup.sh"
    port = free_port(host)
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            host,
            "--dir",
            str(tmp),
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--logfile",
            str(tmp / "redis.log"),
            *extra,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((host, port), 0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                time.sleep(0.05)
        else:
            raise RuntimeError("redis-server did not start")
        yield port
    finally:
        stop(proc)


@contextmanager
def silent_listener(host: str = "127.0.0.1") -> Iterator[int]:
    """A socket that accepts connections (kernel backlog) and never answers."""
    with socket.socket() as s:
        s.bind((host, 0))
        s.listen(64)
        yield int(s.getsockname()[1])


def assert_dead(pid: int) -> None:
    """A tool that hung was killed with its group (a zombie awaiting reaping counts as dead)."""
    for _ in range(100):
        try:
            os.kill(pid, 0)
            stat = Path(f"/proc/{pid}/stat").read_text()
        except (ProcessLookupError, FileNotFoundError):
            return
        parts = stat.rsplit(") ", 1)
        if len(parts) < 2 or parts[1].startswith("Z"):
            return
        time.sleep(0.02)
    raise AssertionError(f"process {pid} is still alive")


def talon_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """One `talon ARGS` command of this interpreter, as an operator types it; bounded."""
    return subprocess.run(
        [sys.executable, "-m", "talon", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=cwd,
    )


T = TypeVar("T")


def wait_for(what: str, predicate: Callable[[], T | None], timeout: float = 20.0) -> T:
    """Poll ``predicate`` until it returns something truthy; fail with ``what`` after."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.05)
