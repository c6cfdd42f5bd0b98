"""How fast a dead worker is back: Talon vs supervisord vs Monit (`make bench-worker`; not a test).

The same worker runs under each supervisor: ``bash worker.sh``, which appends
``start PID T`` (bash's $EPOCHREALTIME, ~1 ms after the exec) to a record file,
writes its pidfile (for Monit) and execs a tiny Python listener that appends
``ready PID T`` once it listens on its port and answers every HTTP request 200.

- **first crash**, ``--crashes`` rounds of two kills: the worker has run
  beyond ``stable_secs`` (1 s here; *stable*), then its successor has run
  ``--early`` s (0.2; *early*: the first quick exit in a row). The bench
  SIGKILLs it at a recorded time T and waits for the next ``start``. Latency
  = start - T (*exec*: the supervisor's share) and ready - T (plus this
  worker's own start-up, the same for every supervisor). For Talon, its
  journal splits exec into: exit seen, start decided, the child's first word.
- **burst**: the mode file says ``crash``: each new worker exits by itself
  (``exit PID T`` just before ``os._exit(3)``) right after it is ready, so every
  exit is quick. The gaps exit -> next start show the backoff schedule.
- **floor**: the same worker spawned by a plain ``subprocess.Popen`` (fork/exec
  and bash's start), the least any supervisor can do.

Talon is the real ``talon run --worker-only``; supervisord the real PyPI
package (tests/support/supervisord.py); Monit the Debian package (``set daemon
1``, the shortest cycle). Every process is stopped by its pid.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.support import procs
from tests.support.supervisord import RealSupervisord

STABLE_S = 1  # Talon's stable_secs and supervisord's startsecs
MONIT = shutil.which("monit") or "/usr/bin/monit"

WORKER_PY = r"""
import os, signal, socket, sys, time
port, record, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
def note(what):
    with open(record, "a") as f:
        f.write(f"{what} {os.getpid()} {time.time():.6f}\n")
signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
sock = socket.socket()
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind(("127.0.0.1", port))
sock.listen(64)
note("ready")
if open(mode).read().strip() == "crash":
    note("exit")
    os._exit(3)
while True:
    conn, _ = sock.accept()
    with conn:
        conn.recv(65536)
        conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
"""

WORKER_SH = """#!/bin/bash
echo "start $$ $EPOCHREALTIME" >> {record}
echo $$ > {pidfile}
exec {python} -S -I {worker_py} {port} {record} {mode}
"""


@dataclass(frozen=True, slots=True)
class Event:
    what: str
    pid: int
    at: float


class Worker:
    """The worker's files: its script, record, pidfile and mode."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.port = procs.free_port()
        self.record = tmp / "record.log"
        self.pidfile = tmp / "worker.pid"
        self.mode = tmp / "mode"
        self.script = tmp / "worker.sh"
        (tmp / "worker.py").write_text(WORKER_PY)
        self.script.write_text(
            WORKER_SH.format(
                record=self.record,
                pidfile=self.pidfile,
                python=sys.executable,
                worker_py=tmp / "worker.py",
                port=self.port,
                mode=self.mode,
            )
        )
        self.script.chmod(0o755)
        self.set_mode("run")
        self.record.touch()

    @property
    def argv(self) -> list[str]:
        return ["/bin/bash", str(self.script)]

    def set_mode(self, mode: str) -> None:
        self.mode.write_text(mode + "\n")

    def events(self) -> list[Event]:
        out = []
        for line in self.record.read_text().splitlines():
            what, pid, at = line.split()
            out.append(Event(what, int(pid), float(at.replace(",", "."))))
        return out

    def wait(self, what: str, since: int, timeout: float = 60.0) -> tuple[Event, int]:
        """The first ``what`` event at index ``since`` or later, and its index."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            events = self.events()
            for i in range(since, len(events)):
                if events[i].what == what:
                    return events[i], i
            time.sleep(0.002)
        raise TimeoutError(f"no {what!r} event after #{since} within {timeout:g}s")

    def kill_leftovers(self) -> None:
        """Stop every worker this run started that still lives (by pid; Monit's outlive it)."""
        import psutil

        for pid in {e.pid for e in self.events()}:
            with contextlib.suppress(psutil.Error):
                proc = psutil.Process(pid)
                if str(self.tmp) in " ".join(proc.cmdline()):
                    proc.kill()


@dataclass
class Samples:
    """ms from a SIGKILL to the successor's start (exec) and to its listening (ready)."""

    kills: list[float] = field(default_factory=list)  # time.time() of each SIGKILL
    stable_exec: list[float] = field(default_factory=list)
    stable_ready: list[float] = field(default_factory=list)
    early_exec: list[float] = field(default_factory=list)
    early_ready: list[float] = field(default_factory=list)


@dataclass
class Results:
    samples: Samples
    burst_gaps_s: list[float]
    note: str = ""


def _kill_and_time(worker: Worker, pid: int, kills: list[float]) -> tuple[float, float, Event]:
    n = len(worker.events())
    killed_at = time.time()
    os.kill(pid, signal.SIGKILL)
    kills.append(killed_at)
    start, index = worker.wait("start", n)
    ready, _ = worker.wait("ready", index)
    return (start.at - killed_at) * 1000, (ready.at - killed_at) * 1000, ready


def crashes(worker: Worker, rounds: int, spacing_s: float, early_s: float) -> tuple[Samples, Event]:
    """Each round: SIGKILL a worker that ran ``spacing_s`` (beyond stable_secs: a first
    crash), then its successor ``early_s`` after it listens (the first quick exit)."""
    ready, _ = worker.wait("ready", 0)
    out = Samples()
    for _ in range(rounds):
        time.sleep(spacing_s)
        exec_ms, ready_ms, ready = _kill_and_time(worker, ready.pid, out.kills)
        out.stable_exec.append(exec_ms)
        out.stable_ready.append(ready_ms)
        time.sleep(early_s)
        exec_ms, ready_ms, ready = _kill_and_time(worker, ready.pid, out.kills)
        out.early_exec.append(exec_ms)
        out.early_ready.append(ready_ms)
    return out, ready


def burst(worker: Worker, ready: Event, exits: int, timeout: float) -> list[float]:
    """Quick exits in a row after a stable run: the gaps exit -> next start (the backoff)."""
    worker.set_mode("crash")
    n = len(worker.events())
    last_exit = time.time()
    os.kill(ready.pid, signal.SIGKILL)
    gaps: list[float] = []
    index = n
    try:
        for _ in range(exits):
            start, index = worker.wait("start", index, timeout)
            gaps.append(start.at - last_exit)
            exit_, index = worker.wait("exit", index, timeout)
            last_exit = exit_.at
    except TimeoutError:
        pass  # the supervisor gave up (supervisord: FATAL after startretries)
    finally:
        worker.set_mode("run")
    return gaps


def floor(worker: Worker, runs: int) -> Samples:
    """The same worker from a bare Popen: fork/exec + bash (exec), + Python (ready)."""
    out = Samples()
    worker.set_mode("crash")
    try:
        for _ in range(runs):
            n = len(worker.events())
            t0 = time.time()
            proc = subprocess.Popen(worker.argv, start_new_session=True)
            start, index = worker.wait("start", n)
            ready, _ = worker.wait("ready", index)
            out.stable_exec.append((start.at - t0) * 1000)
            out.stable_ready.append((ready.at - t0) * 1000)
            proc.wait(10)
    finally:
        worker.set_mode("run")
    return out


# ---------------------------------------------------------------- supervisors
@contextlib.contextmanager
def talon(tmp: Path, worker: Worker) -> Iterator[str]:
    from talon.lab.substrate import render_toml

    config = tmp / "config" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(
        render_toml(
            {
                "": {"check_interval_secs": 60, "services_file": "services.toml"},
                "process_manager": {"kind": "null"},
                "worker": {
                    "command": worker.argv,
                    "port": worker.port,
                    "health_endpoint": "/health",
                    "sync_endpoint": "/sync",
                    "health_interval_secs": 5,
                    "startup_sync_delay_secs": 0,
                    "stable_secs": STABLE_S,
                    "drain_timeout_secs": 1,
                    "restart_backoff_max_secs": 30,
                },
            }
        )
    )
    (config.parent / "services.toml").write_text('[script.host]\ncommand = "true"\n')
    env = {
        **os.environ,
        "TALON_STATE_DIR": str(tmp / "state"),
        "TALON_LOG_DIR": str(tmp / "log"),
        "NODE_ID": "bench",
    }
    with (tmp / "talon.out").open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "talon", "--config", str(config), "run", "--worker-only"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield f"talon run --worker-only (stable_secs {STABLE_S})"
    finally:
        procs.stop(proc)


@contextlib.contextmanager
def supervisord(tmp: Path, worker: Worker) -> Iterator[str]:
    with RealSupervisord(tmp, {}) as sv:
        sv.add_program("w", " ".join(worker.argv), startsecs=str(STABLE_S), stopwaitsecs="1")
        version = _version([str(Path(sys.executable).with_name("supervisord")), "-v"])
        yield f"supervisord {version} (startsecs {STABLE_S}, startretries 3)"


@contextlib.contextmanager
def monit(tmp: Path, worker: Worker) -> Iterator[str]:
    rc = tmp / "monitrc"
    rc.write_text(
        f"set daemon 1\nset logfile {tmp}/monit.log\nset pidfile {tmp}/monit.pid\n"
        f"set idfile {tmp}/monit.id\nset statefile {tmp}/monit.state\n"
        f"check process w with pidfile {worker.pidfile}\n"
        # Monit waits for a start program to exit: the worker must go to the background.
        f"  start program = \"/bin/sh -c '{' '.join(worker.argv)} >/dev/null 2>&1 &'\"\n"
        f'  stop program = "/bin/true"\n'
    )
    rc.chmod(0o600)
    proc = subprocess.Popen(
        [MONIT, "-I", "-c", str(rc)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    try:
        yield f"Monit {_version([MONIT, '-V']).split()[-1]} (set daemon 1)"
    finally:
        procs.stop(proc)


def _version(argv: list[str]) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    return (done.stdout or done.stderr).strip().splitlines()[0] if done.returncode == 0 else "?"


Harness = Callable[[Path, Worker], contextlib.AbstractContextManager[str]]
HARNESSES: dict[str, Harness] = {"talon": talon, "supervisord": supervisord, "monit": monit}


def run_one(name: str, args: argparse.Namespace) -> Results:
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp_s:
        tmp = Path(tmp_s)
        worker = Worker(tmp)
        try:
            with HARNESSES[name](tmp, worker) as label:
                samples, ready = crashes(worker, args.crashes, args.spacing, args.early)
                time.sleep(args.spacing)
                gaps = burst(worker, ready, args.burst, timeout=12.0)
                if name == "talon":
                    label += _talon_worker_state(tmp) + _talon_breakdown(tmp, worker, samples)
        finally:
            worker.kill_leftovers()
    return Results(samples, gaps, label)


def _talon_worker_state(tmp: Path) -> str:
    with contextlib.suppress(OSError, ValueError):
        status = json.loads((tmp / "state" / "worker.json").read_text())
        return f"; after the burst: quick_exits {status.get('quick_exits')}"
    return ""


def _talon_breakdown(tmp: Path, worker: Worker, samples: Samples) -> str:
    """From Talon's journal: kill -> exit seen, -> start decided, -> the child's first word."""
    entries = [json.loads(line) for line in (tmp / "state" / "journal.jsonl").open()]
    worker_entries = [e for e in entries if e.get("event") == "worker"]
    starts = [e for e in worker.events() if e.what == "start"]
    seen, decided, spawned = [], [], []
    for kill in samples.kills:
        exit_ = next((e for e in worker_entries if e["what"] == "exit" and e["at"] >= kill), None)
        start = next(
            (
                e
                for e in worker_entries
                if e["what"] == "start" and exit_ and e["at"] >= exit_["at"]
            ),
            None,
        )
        child = next((e for e in starts if start and e.at >= start["at"]), None)
        if exit_ and start and child:
            seen.append((exit_["at"] - kill) * 1000)
            decided.append((start["at"] - exit_["at"]) * 1000)
            spawned.append((child.at - start["at"]) * 1000)
    parts = [("exit seen", seen), ("start decided", decided), ("child's first word", spawned)]
    return "".join(
        f"\n  p50 {name} {statistics.median(v):.2f} ms (max {max(v):.2f})" for name, v in parts if v
    )


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _row(name: str, values: list[float]) -> str:
    return (
        f"{name:22} {statistics.median(values):8.1f} {_pct(values, 0.99):8.1f} "
        f"{min(values):8.1f} {max(values):8.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--crashes", type=int, default=20)
    parser.add_argument("--burst", type=int, default=5, help="quick exits in the burst")
    parser.add_argument("--spacing", type=float, default=STABLE_S + 0.5)
    parser.add_argument("--early", type=float, default=0.2, help="run before the early kill")
    parser.add_argument("--only", default="talon,supervisord,monit")
    args = parser.parse_args()
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="bench-floor-") as tmp:
        spawn_floor = floor(Worker(Path(tmp)), args.crashes)
    results = {name: run_one(name, args) for name in args.only.split(",")}
    print("\nSIGKILL -> the successor's first timestamp (exec) and listening (ready), ms;")
    print(f"{args.crashes} each. stable: the worker ran {args.spacing:g} s (beyond stable_secs);")
    print(f"early: it ran {args.early:g} s (the first quick exit in a row)")
    print(f"{'':22} {'p50':>8} {'p99':>8} {'min':>8} {'max':>8}")
    print(_row("Popen floor (exec)", spawn_floor.stable_exec))
    print(_row("Popen floor (ready)", spawn_floor.stable_ready))
    for name, r in results.items():
        for kind in ("stable_exec", "stable_ready", "early_exec", "early_ready"):
            print(_row(f"{name} {kind.replace('_', ' ')}", getattr(r.samples, kind)))
    if "talon" in results:
        talon = results["talon"].samples
        for name, r in results.items():
            if name != "talon":
                ratios = [
                    statistics.median(getattr(r.samples, k)) / statistics.median(getattr(talon, k))
                    for k in ("stable_exec", "early_exec")
                ]
                print(f"p50 exec, {name} / talon: stable {ratios[0]:.0f}x, early {ratios[1]:.0f}x")
    print(
        "\nburst of quick exits: exit -> next start, s (the first is the SIGKILL of a stable run)"
    )
    for name, r in results.items():
        print(f"{name:22} " + " ".join(f"{g:6.2f}" for g in r.burst_gaps_s))
    print()
    for name, r in results.items():
        print(f"{name}: {r.note}")


if __name__ == "__main__":
    main()
