"""The worker under a real `talon run` (F7, F8, the worker modes, shutdown).

No VM is needed: the worker is a host process. The daemon is the real CLI in a
subprocess, observed through its journal, state, worker.json, /health and log.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from talon.lab.daemon import LabDaemon
from talon.lab.substrate import render_toml
from tests.support.procs import free_port


class Node:
    """A config directory for one node with a worker on ``port``."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.port = free_port()
        self.health_port = free_port()
        self.record = home / "record.jsonl"
        self.config = home / "config" / "config.toml"

    def write(self, worker: dict[str, Any] | None = None, **sections: dict[str, Any]) -> Path:
        self.config.parent.mkdir(parents=True, exist_ok=True)
        settings: dict[str, dict[str, Any]] = {
            "": {"check_interval_secs": 1, "services_file": "services.toml"},
            "healing": {"durability_interval_secs": 1},
            "health": {"bind": f"127.0.0.1:{self.health_port}"},
            "process_manager": {"kind": "null"},
            "worker": {
                "command": [
                    sys.executable,
                    "-m",
                    "talon.lab.worker",
                    "--port",
                    str(self.port),
                    "--record",
                    str(self.record),
                ],
                "port": self.port,
                "health_interval_secs": 1,
                "startup_sync_delay_secs": 0,
                "drain_timeout_secs": 2,
                **(worker or {}),
            },
        }
        for name, keys in sections.items():
            settings[name] = {**settings.get(name, {}), **keys}
        self.config.write_text(render_toml(settings))
        # The supervisor polls the worker's health itself; the watchdog has one probe.
        (self.config.parent / "services.toml").write_text('[script.host]\ncommand = "true"\n')
        return self.config

    def run(self, *args: str) -> LabDaemon:
        return LabDaemon(
            None, self.home / "talon", *args, config=self.config, health_port=self.health_port
        ).start()

    def worker_json(self) -> dict[str, Any]:
        with contextlib.suppress(FileNotFoundError, json.JSONDecodeError):
            data: dict[str, Any] = json.loads(
                (self.home / "talon" / "state" / "worker.json").read_text()
            )
            return data
        return {}

    def records(self) -> list[str]:
        if not self.record.exists():
            return []
        return [json.loads(line)["what"] for line in self.record.read_text().splitlines()]


@contextlib.contextmanager
def running(node: Node, *args: str) -> Iterator[LabDaemon]:
    run = node.run(*args)
    try:
        yield run
    finally:
        if run.alive():
            run.stop()


def _worker_entries(run: LabDaemon, what: str) -> list[dict[str, Any]]:
    return [e for e in run.journal() if e.get("event") == "worker" and e.get("what") == what]


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_talon_run_supervises_the_worker_and_stops_it_on_sigterm(tmp_path: Path) -> None:
    node = Node(tmp_path)
    node.write()
    with running(node) as run:
        worker = run.wait_for(
            "a healthy worker",
            lambda: (w := run.daemon().get("worker") or {}).get("health", {}).get("ok") and w,
        )
        pid = worker["pid"]
        assert worker["supervised_by"] == "this instance"
        run.wait_for("the sync PUT", lambda: "sync" in node.records())
        status = run.talon("status")
        assert f"worker: running, pid {pid}" in status.stdout
        os.kill(run.pid, signal.SIGHUP)  # forwarded to the worker (and a reload)
        run.wait_for("the hup at the worker", lambda: "hup" in node.records())
        assert run.stop() == 0
    assert not _alive(pid)
    assert _worker_entries(run, "stop")


def test_on_uvloop_the_daemon_checks_restarts_a_killed_worker_and_stops(tmp_path: Path) -> None:
    # event_loop = "uvloop" (the optional extra): libuv reaps the children (the script
    # probe, the worker), not asyncio's watcher; the same supervision must hold.
    node = Node(tmp_path)
    node.write(**{"": {"event_loop": "uvloop"}})
    with running(node) as run:
        worker = run.wait_for(
            "a healthy worker",
            lambda: (w := run.daemon().get("worker") or {}).get("health", {}).get("ok") and w,
        )
        run.wait_for("two cycles", lambda: run.cycles() >= 2)
        assert "uvloop/loop." in Path(f"/proc/{run.pid}/maps").read_text()  # the loop in use
        assert all(not c["failing"] for c in run.events("cycle"))  # the script probe passes
        os.kill(worker["pid"], signal.SIGKILL)
        again = run.wait_for(
            "the restarted worker",
            lambda: (
                (w := run.daemon().get("worker") or {}).get("pid") not in (None, worker["pid"])
                and w.get("state") == "running"
                and w
            ),
        )
        assert _worker_entries(run, "exit")
        assert run.stop() == 0
    assert not _alive(worker["pid"])
    assert not _alive(again["pid"])


def test_f07_a_crash_looping_worker_backs_off_and_is_classified(tmp_path: Path) -> None:
    node = Node(tmp_path)
    (tmp_path / "worker.env").write_text("LAB_WORKER_EXIT=3\n")
    node.write(
        {"env_file": str(tmp_path / "worker.env"), "restart_backoff_max_secs": 4},
        healing={"worker_crash_loop_restarts": 3},
    )
    with running(node) as run:
        run.wait_for(
            "the crash loop classified",
            lambda: "crash_loop" in ((run.state().get("incident") or {}).get("faults") or []),
            30,
        )
        run.wait_for("five attempts", lambda: len(_worker_entries(run, "start")) >= 5, 15)
        starts = [e["at"] for e in _worker_entries(run, "start")]
        gaps = [b - a for a, b in itertools.pairwise(starts)]
        for gap, delay in zip(gaps, [0.0, 1.0, 2.0, 4.0], strict=False):
            assert delay <= gap < delay + 1.5
        assert node.records() == []  # never bound the port: no thrash
        _, health = run.health()
        assert health["state"] != "healthy"
        assert health["incident"]["root_cause"] == "crash_loop"
        assert "quick exits in a row" in run.talon("status").stdout
        assert run.alive()


def test_f08_an_orphan_on_the_worker_port_is_killed_by_pid(tmp_path: Path) -> None:
    node = Node(tmp_path)
    node.write()
    pidfile = tmp_path / "orphan.pid"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "talon.lab.orphan",
            "--port",
            str(node.port),
            "--pidfile",
            str(pidfile),
        ],
        check=True,
        timeout=15,
    )
    orphan = int(pidfile.read_text())
    client = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import socket,time; s=socket.create_connection(('127.0.0.1',{node.port})); "
            "print('connected', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert client.stdout is not None
    try:
        assert client.stdout.readline().strip() == "connected"
        with running(node) as run:
            run.wait_for("a started worker", lambda: "start" in node.records(), 20)
            kills = _worker_entries(run, "kill_port_holder")
            assert [(k["phase"], k["pid"]) for k in kills] == [("begin", orphan), ("end", orphan)]
            assert not _alive(orphan)
            assert client.poll() is None  # R22: the port's client lives
            killed = run.wait_for(
                "the kill in daemon.json",
                lambda: (run.daemon().get("worker") or {}).get("killed_port_holders"),
            )
            assert [k["pid"] for k in killed] == [orphan]
    finally:
        for pid in (orphan, client.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        client.wait(5)
        client.stdout.close()


def test_worker_only_and_no_worker_instances_share_the_node(tmp_path: Path) -> None:
    node = Node(tmp_path)
    node.write()
    with running(node, "--worker-only") as worker_run:
        deadline = time.monotonic() + 20
        while node.worker_json().get("state") != "running" and time.monotonic() < deadline:
            assert worker_run.alive(), worker_run.output()
            time.sleep(0.2)
        pid = node.worker_json()["pid"]
        second = subprocess.run(
            [sys.executable, "-m", "talon", "--config", str(node.config), "run", "--worker-only"],
            env=worker_run.env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert second.returncode == 3
        assert "supervises the worker" in second.stderr
        with running(node, "--no-worker") as watch:
            view = watch.wait_for("the worker's view", lambda: watch.daemon().get("worker"))
            assert view["supervised_by"] == "a --worker-only instance"
            assert view["pid"] == pid
            assert "by a --worker-only instance" in watch.talon("status").stdout
        assert worker_run.stop() == 0
    assert not _alive(pid)


@pytest.mark.parametrize("flags", [("--worker-only", "--no-worker")])
def test_the_two_worker_flags_exclude_each_other(tmp_path: Path, flags: tuple[str, str]) -> None:
    node = Node(tmp_path)
    node.write()
    done = subprocess.run(
        [sys.executable, "-m", "talon", "--config", str(node.config), "run", *flags],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "exclude each other" in done.stderr
