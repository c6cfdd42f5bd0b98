"""The worker supervisor against real child processes (the lab's worker app)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import psutil
import pytest

from talon.adapters.process import NullProcessManager
from talon.config.models import WorkerConfig
from talon.store.journal import Journal
from talon.supervisor.worker import WorkerSupervisor
from tests.support.procs import free_port


def _config(tmp_path: Path, port: int, **kw: Any) -> WorkerConfig:
    base: dict[str, Any] = {
        "command": [
            sys.executable,
            "-m",
            "talon.lab.worker",
            "--port",
            str(port),
            "--record",
            str(tmp_path / "record.jsonl"),
        ],
        "port": port,
        "health_interval_secs": 1,
        "health_failures_before_restart": 2,
        "restart_backoff_max_secs": 30,
        "startup_sync_delay_secs": 0,
        "drain_timeout_secs": 2,
        "stable_secs": 3,
    }
    return WorkerConfig(**(base | kw))


def _records(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "record.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@contextlib.asynccontextmanager
async def supervising(
    tmp_path: Path, config: WorkerConfig, env: dict[str, str] | None = None
) -> AsyncIterator[WorkerSupervisor]:
    sup = WorkerSupervisor(
        config,
        env=env or dict(os.environ),
        process_manager=NullProcessManager,
        log_dir=tmp_path / "log",
        status_path=tmp_path / "worker.json",
        journal=Journal(tmp_path / "journal.jsonl"),
    )
    task = asyncio.create_task(sup.run())
    try:
        yield sup
    finally:
        pid = sup.pid
        await sup.shutdown()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if pid is not None:
            assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"


async def _until(what: str, predicate: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _worker_entries(tmp_path: Path, what: str) -> list[dict[str, Any]]:
    journal = Journal(tmp_path / "journal.jsonl")
    return [e for e in journal.entries() if e.get("event") == "worker" and e.get("what") == what]


def test_starts_polls_health_and_sends_the_sync_put(tmp_path: Path) -> None:
    async def main() -> None:
        port = free_port()
        async with supervising(tmp_path, _config(tmp_path, port)) as sup:
            await _until("healthy", lambda: sup.health["ok"])
            await _until("the sync PUT", lambda: sup.sync)
            assert sup.sync["ok"] is True
            assert [r["what"] for r in _records(tmp_path)] == ["start", "sync"]
            assert _records(tmp_path)[1]["pid"] == sup.pid
            status = json.loads((tmp_path / "worker.json").read_text())
            assert status["state"] == "running"
            assert status["pid"] == sup.pid
            assert os.getpgid(sup.pid) == sup.pid  # its own process group

    asyncio.run(main())


def test_env_file_cwd_and_appended_logs(tmp_path: Path) -> None:
    async def main() -> None:
        port = free_port()
        work = tmp_path / "work"
        work.mkdir()
        (tmp_path / "worker.env").write_text('# comment\nexport GREETING="hello world"\nEMPTY=\n')
        script = (
            f'echo "greeting=$GREETING cwd=$(pwd)"; echo to-stderr >&2; '
            f"exec {sys.executable} -m talon.lab.worker --port {port}"
        )
        config = _config(
            tmp_path,
            port,
            command=["sh", "-c", script],
            dir=str(work),
            env_file=str(tmp_path / "worker.env"),
            log_stdout=str(tmp_path / "logs" / "out.log"),
            log_stderr=str(tmp_path / "logs" / "err.log"),
        )
        async with supervising(tmp_path, config) as sup:
            await _until("healthy", lambda: sup.health["ok"])
            first = sup.pid
            assert first is not None
            os.kill(first, signal.SIGKILL)
            await _until("a new worker", lambda: sup.pid not in (None, first) and sup.health["ok"])
        out = (tmp_path / "logs" / "out.log").read_text().splitlines()
        greetings = [line for line in out if line.startswith("greeting=")]
        assert greetings == [f"greeting=hello world cwd={work}"] * 2  # appended, not truncated
        assert (tmp_path / "logs" / "err.log").read_text().count("to-stderr") == 2

    asyncio.run(main())


def test_a_crash_after_a_stable_run_restarts_at_once(tmp_path: Path) -> None:
    async def main() -> None:
        port = free_port()
        async with supervising(tmp_path, _config(tmp_path, port, stable_secs=1)) as sup:
            await _until("healthy", lambda: sup.health["ok"])
            await asyncio.sleep(1.1)  # a stable run
            first = sup.pid
            assert first is not None
            os.kill(first, signal.SIGKILL)
            await _until("a restart", lambda: sup.pid not in (None, first))
            assert sup.last_exit is not None
            assert sup.last_exit["delay_s"] == 0.0
            assert sup.last_exit["signal"] == "SIGKILL"
            assert sup.quick_exits == 0

    asyncio.run(main())


def test_a_crash_loop_restarts_at_once_then_backs_off_1_2_capped(tmp_path: Path) -> None:
    """F7: attempt times in the journal follow the backoff; one bind per attempt at most."""

    async def main() -> None:
        port = free_port()
        env = dict(os.environ, LAB_WORKER_EXIT="3")
        config = _config(tmp_path, port, restart_backoff_max_secs=2)
        async with supervising(tmp_path, config, env) as sup:
            await _until("five quick exits", lambda: sup.quick_exits >= 5, 20)
            assert sup.state == "backoff"
            assert sup.last_exit is not None
            assert sup.last_exit["code"] == 3
        starts = [e["at"] for e in _worker_entries(tmp_path, "start")]
        exits = _worker_entries(tmp_path, "exit")
        assert [e["delay_s"] for e in exits[:5]] == [0.0, 1.0, 2.0, 2.0, 2.0]
        assert [e["quick_exits"] for e in exits[:5]] == [1, 2, 3, 4, 5]
        gaps = [b - a for a, b in itertools.pairwise(starts)]
        for gap, delay in zip(gaps, [0.0, 1.0, 2.0, 2.0], strict=False):
            assert delay <= gap < delay + 1.5  # the exit itself takes a moment
        assert not _records(tmp_path)  # it never bound the port: no thrash

    asyncio.run(main())


def test_journal_entries_keep_the_time_of_the_event(tmp_path: Path) -> None:
    """Written after the restart (no fsync before it), in order, each with its own time."""

    async def main() -> None:
        port = free_port()
        async with supervising(tmp_path, _config(tmp_path, port, stable_secs=1)) as sup:
            await _until("healthy", lambda: sup.health["ok"])
            first = sup.pid
            assert first is not None
            os.kill(first, signal.SIGKILL)
            await _until("a restart", lambda: sup.pid not in (None, first))
            await _until("the records", lambda: len(_worker_entries(tmp_path, "start")) == 2)
        entries = [
            e for e in Journal(tmp_path / "journal.jsonl").entries() if e["event"] == "worker"
        ]
        lifecycle = [e for e in entries if e["what"] in ("start", "exit")]
        assert [e["what"] for e in lifecycle] == ["start", "exit", "start"]
        times = [e["at"] for e in entries]
        assert times == sorted(times)
        assert lifecycle[1]["delay_s"] == 0.0  # the first quick exit: at once

    asyncio.run(main())


FORKING_WORKER = """
import os, socket, sys, time
port, pidfile = int(sys.argv[1]), sys.argv[2]
sock = socket.socket()
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind(("127.0.0.1", port))
sock.listen(16)
child = os.fork()
if child == 0:  # shares the listener, as a pre-fork server's workers do
    time.sleep(300)
    os._exit(0)
with open(pidfile, "a") as f:
    f.write(f"{child}\\n")
while True:
    conn, _ = sock.accept()
    with conn:
        conn.recv(4096)
        conn.sendall(b"HTTP/1.0 200 OK\\r\\nContent-Length: 0\\r\\n\\r\\n")
"""


def test_a_dead_workers_group_goes_with_it_and_frees_the_port(tmp_path: Path) -> None:
    """A child that shares the worker's listener is killed with it: no port-holder kill."""

    async def main() -> None:
        port = free_port()
        script, pidfile = tmp_path / "forking.py", tmp_path / "children"
        script.write_text(FORKING_WORKER)
        command = [sys.executable, str(script), str(port), str(pidfile)]
        async with supervising(tmp_path, _config(tmp_path, port, command=command)) as sup:
            await _until("healthy", lambda: sup.health["ok"])
            first = sup.pid
            child = int(pidfile.read_text().split()[0])
            assert os.getpgid(child) == first
            os.kill(first, signal.SIGKILL)
            await _until("a new healthy worker", lambda: sup.pid not in (None, first), 10)
            await _until("healthy again", lambda: sup.health["ok"], 10)
            assert not _alive(child)
            assert not _worker_entries(tmp_path, "kill_port_holder")

    asyncio.run(main())


def test_health_failures_restart_the_worker(tmp_path: Path) -> None:
    async def main() -> None:
        port = free_port()
        env = dict(os.environ, LAB_WORKER_UNHEALTHY="1")
        config = _config(tmp_path, port, health_failures_before_restart=2)
        async with supervising(tmp_path, config, env) as sup:
            first = await _until("a worker", lambda: sup.pid)
            await _until("a restart", lambda: sup.pid not in (None, first), 10)
        restarts = _worker_entries(tmp_path, "restart")
        assert restarts
        assert "2 failed health checks" in restarts[0]["why"]

    asyncio.run(main())


def test_shutdown_drains_then_kills_the_whole_group(tmp_path: Path) -> None:
    async def main() -> None:
        port = free_port()
        script = (
            f"trap '' TERM; sleep 300 & echo $! > {tmp_path}/grandchild; "
            f"{sys.executable} -m talon.lab.worker --port {port}; wait"
        )
        config = _config(tmp_path, port, command=["sh", "-c", script], drain_timeout_secs=1)
        async with supervising(tmp_path, config) as sup:
            await _until("healthy", lambda: sup.health["ok"])
            grandchild = int((tmp_path / "grandchild").read_text())
            started = time.monotonic()
        assert time.monotonic() - started >= 1.0  # the drain timeout was honoured
        await _until("the grandchild gone", lambda: not _alive(grandchild), 5)

    asyncio.run(main())


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_sighup_is_forwarded_to_the_worker(tmp_path: Path) -> None:
    async def main() -> None:
        port = free_port()
        async with supervising(tmp_path, _config(tmp_path, port)) as sup:
            await _until("healthy", lambda: sup.health["ok"])
            sup.forward(signal.SIGHUP)
            await _until(
                "the hup recorded", lambda: "hup" in [r["what"] for r in _records(tmp_path)]
            )
            assert sup.pid is not None

    asyncio.run(main())


@pytest.fixture
def orphan(tmp_path: Path) -> Any:
    port = free_port()
    pidfile = tmp_path / "orphan.pid"
    subprocess.run(
        [sys.executable, "-m", "talon.lab.orphan", "--port", str(port), "--pidfile", str(pidfile)],
        check=True,
        timeout=15,
    )
    pid = int(pidfile.read_text())
    client = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import socket,time; s=socket.create_connection(('127.0.0.1',{port})); "
            "print('connected', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert client.stdout is not None
    assert client.stdout.readline().strip() == "connected"
    try:
        yield port, pid, client
    finally:
        for p in (pid, client.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGKILL)
        client.wait(5)


def test_an_orphan_on_the_port_is_killed_by_pid_and_its_client_lives(
    tmp_path: Path, orphan: Any
) -> None:
    """F8 / R22: exactly the orphan listener dies; the port's client does not."""
    port, pid, client = orphan

    async def main() -> None:
        async with supervising(tmp_path, _config(tmp_path, port)) as sup:
            await _until("healthy", lambda: sup.health["ok"])
            assert [k["pid"] for k in sup.killed] == [pid]
        assert not _alive(pid)
        assert client.poll() is None  # the client was not touched
        kills = _worker_entries(tmp_path, "kill_port_holder")
        assert [(k["phase"], k["pid"]) for k in kills] == [("begin", pid), ("end", pid)]

    asyncio.run(main())


def test_a_listener_with_a_live_parent_is_not_killed(tmp_path: Path) -> None:
    port = free_port()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import socket,time; s=socket.socket(); s.bind(('127.0.0.1',{port})); s.listen(); time.sleep(60)",
        ]
    )

    async def main() -> None:
        await _until("the holder listening", lambda: _listening(port))
        async with supervising(tmp_path, _config(tmp_path, port)) as sup:
            await _until("blocked", lambda: sup.state == "port_blocked")
            assert sup.port_holder_pid == holder.pid
            assert sup.blocked_by is not None
            assert "not an orphan" in sup.blocked_by["why"]
            assert sup.attempts == 0
        assert holder.poll() is None

    try:
        asyncio.run(main())
    finally:
        holder.kill()
        holder.wait(5)


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0
