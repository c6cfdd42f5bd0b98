"""Start and stop the lab's processes, always by pid, never by name.

Each process gets a pid file holding its pid, argv and start time. A pid whose
process started at another time was reused by someone else and is left alone
(the argv cannot tell: redis-server rewrites its own). Stopping sends SIGTERM,
then SIGKILL to its process group after a grace period.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import psutil


def module_argv(module: str, *args: str) -> list[str]:
    """``python -m MODULE ARGS`` with this interpreter: how the lab runs its own processes."""
    return [sys.executable, "-m", module, *args]


class Procs:
    def __init__(self, directory: Path) -> None:
        self.pids = directory / "pids"
        self.logs = directory / "logs"

    def _pidfile(self, name: str) -> Path:
        return self.pids / f"{name}.pid"

    def start(self, name: str, argv: Sequence[str], env: dict[str, str] | None = None) -> int:
        if (pid := self.pid(name)) is not None:
            return pid  # already running: starting is idempotent
        self.pids.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        with open(self.logs / f"{name}.log", "ab") as log:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env,
            )
        started = psutil.Process(proc.pid).create_time()
        record = {"pid": proc.pid, "argv": list(argv), "started": started}
        self._pidfile(name).write_text(json.dumps(record))
        return proc.pid

    def pid(self, name: str) -> int | None:
        """The pid if the recorded process is still the one we started."""
        try:
            record = json.loads(self._pidfile(name).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        try:
            proc = psutil.Process(record["pid"])
            if proc.status() == psutil.STATUS_ZOMBIE or proc.create_time() != record["started"]:
                return None
        except psutil.Error:
            return None
        return int(record["pid"])

    def signal(self, name: str, sig: int) -> bool:
        pid = self.pid(name)
        if pid is None:
            return False
        os.kill(pid, sig)
        return True

    def freeze(self, name: str) -> int | None:
        """SIGSTOP ``name`` and wait until it is wholly stopped (``freeze``); its pid."""
        pid = self.pid(name)
        if pid is not None:
            freeze(pid)
        return pid

    def stop(self, name: str, grace_s: float = 3.0) -> bool:
        """Stop ``name`` if it is ours and running; True if something was stopped."""
        pid = self.pid(name)
        self._pidfile(name).unlink(missing_ok=True)
        if pid is None:
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)  # a stopped process cannot handle SIGTERM
            os.kill(pid, signal.SIGTERM)
        if not gone(pid, grace_s):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            gone(pid, grace_s)
        return True

    def names(self) -> list[str]:
        return sorted(p.stem for p in self.pids.glob("*.pid")) if self.pids.is_dir() else []


def gone(pid: int, timeout_s: float) -> bool:
    """Wait until ``pid`` has exited. A zombie counts as exited: when we are not its
    parent (a keeper or doom process stopping the VM) we cannot reap it."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            proc = psutil.Process(pid)
            if proc.status() == psutil.STATUS_ZOMBIE:
                with contextlib.suppress(ChildProcessError, psutil.Error):
                    os.waitpid(pid, os.WNOHANG)  # reap it if it is ours
                return True
        except psutil.NoSuchProcess:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


def wait_listening(host: str, port: int, timeout_s: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), 0.2):
            return True
        time.sleep(0.05)
    return False


def thread_states(pid: int) -> list[str]:
    """The state letter (R, S, D, T, Z ...) of every thread of ``pid``, from /proc."""
    tasks = Path(f"/proc/{pid}/task").iterdir()
    return [(task / "stat").read_text().rsplit(") ", 1)[1][:1] for task in tasks]


def freeze(pid: int, timeout_s: float = 5.0) -> bool:
    """SIGSTOP ``pid``; True once every thread of it has stopped (or it is gone).

    The kernel hands a SIGSTOP to one thread, which stops the others when it next runs;
    until then they go on. On a loaded box that thread can wait for a CPU while another
    (a Go engine's poller, a threaded server's worker) still answers a request sent
    right after the kill. So a frozen peer is only frozen once /proc says so.
    """
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGSTOP)
    if not Path("/proc/self/task").is_dir():
        return True  # no /proc to ask (macOS): the signal is all there is
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            states = thread_states(pid)
        except (OSError, IndexError):
            return True  # gone (or going) while we looked: nothing of it runs
        if all(state in "tTZX" for state in states):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.005)


# A port chosen now and bound later (a lab forward, a restarted service) must come from
# outside the kernel's ephemeral range: from inside it, any bind to port 0 or any client
# connection's source port can take the number in between, and then a stranger answers
# on the lab's port.
_EPHEMERAL_LINUX = Path("/proc/sys/net/ipv4/ip_local_port_range")
_EPHEMERAL_ELSEWHERE = 49152  # IANA's range, macOS's default
_PREFERRED = range(20000, 32768)


def _outside_ephemeral() -> range:
    low = _EPHEMERAL_ELSEWHERE
    with contextlib.suppress(OSError, ValueError, IndexError):
        low = int(_EPHEMERAL_LINUX.read_text().split()[0])
    return range(_PREFERRED.start, min(_PREFERRED.stop, low))


def free_port(*hosts: str) -> int:
    """A port free on every one of ``hosts`` now, outside the ephemeral range if it can."""
    import random

    span = _outside_ephemeral()
    pick = random.SystemRandom()  # not the seeded global one: parallel tests would agree
    for _ in range(200):
        port = pick.choice(span) if span else 0
        held: list[socket.socket] = []
        try:
            for host in dict.fromkeys(hosts):  # the linux lab's VM is the host itself
                sock = socket.socket()
                held.append(sock)
                sock.bind((host, port))
                port = int(sock.getsockname()[1])  # 0 (no span) becomes the first host's
        except OSError:
            continue
        finally:
            for sock in held:
                sock.close()
        return port
    raise RuntimeError(f"no port free on {', '.join(hosts)}")


def free_port_pair(vm: str, host: str = "127.0.0.1") -> int:
    """A port free on both the VM address and the host, as Lima forwards guest P to host P."""
    return free_port(vm, host)
