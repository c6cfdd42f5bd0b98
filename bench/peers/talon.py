"""Talon as the comparison sees it: the real `talon run` daemon, read from outside.

A cycle's wall time is the `duration_ms` of the daemon's `cycle` log line (all
probes of the cycle, concurrently); CPU is the daemon's user+sys plus the
scripts it reaped, from just after one `cycle` line to just after the K-th
next one, so it holds K whole cycles, the state and status writes of each, and
the idle time between them. A target is detected as failing when a `cycle`
line lists it in `failing`.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.peers.common import (
    Check,
    LogTail,
    Switch,
    Throughput,
    cpu_times,
    detection_trials,
    rss_peak_kb,
    stop,
    wait_for,
)
from tests.support.procs import free_port

START_TIMEOUT_S = 120


def services(checks: list[Check]) -> dict[str, dict[str, dict[str, Any]]]:
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for c in checks:
        if c.kind == "http":
            spec: dict[str, Any] = {"url": c.url}
        elif c.kind in ("tcp", "redis"):
            spec = {"address": c.address}
        else:
            spec = {"command": c.command}
        # reported, never healed: the counterpart of Monit's "then alert"
        out.setdefault(c.kind, {})[c.name] = {
            **spec,
            "timeout_secs": c.timeout_s,
            "informational": True,
        }
    return out


def config(interval: int, health_port: int, event_loop: str = "asyncio") -> dict[str, Any]:
    return {
        "check_interval_secs": interval,
        "event_loop": event_loop,
        "services_file": "services.toml",
        # the interval stays the same while a failure is confirmed (latency runs)
        "healing": {"durability_interval_secs": interval},
        "health": {"bind": f"127.0.0.1:{health_port}"},
        "runtime": {"kind": "null"},
        "process_manager": {"kind": "null"},
    }


class Daemon:
    """One `talon run --no-worker` in ``work``, stopped by its pid."""

    def __init__(
        self, checks: list[Check], interval: int, work: Path, event_loop: str = "asyncio"
    ) -> None:
        import tomli_w

        work.mkdir(parents=True, exist_ok=True)
        self.work = work
        for name, data in (
            ("config.toml", config(interval, free_port(), event_loop)),
            ("services.toml", services(checks)),
        ):
            (work / name).write_text(tomli_w.dumps(data))
            (work / name).chmod(0o600)
        self.tail = LogTail(work / "log" / "talon.jsonl")
        self.cycles: list[dict[str, Any]] = []

    @contextlib.contextmanager
    def running(self) -> Iterator[Daemon]:
        env = {
            "TALON_STATE_DIR": str(self.work / "state"),
            "TALON_LOG_DIR": str(self.work / "log"),
            "NODE_ID": "bench",
        }
        with (self.work / "talon.out").open("ab") as out:
            config = str(self.work / "config.toml")
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "talon", "-c", config, "run", "--no-worker"],
                env={**os.environ, **env},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            self.next_cycle(START_TIMEOUT_S)
            yield self
        finally:
            stop(self.proc)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def poll(self) -> list[dict[str, Any]]:
        new = []
        for line in self.tail.lines():
            with contextlib.suppress(json.JSONDecodeError):
                entry = json.loads(line)
                if entry.get("event") == "cycle":
                    new.append(entry)
        self.cycles += new
        return new

    def next_cycle(self, timeout: float) -> dict[str, Any]:
        def new() -> dict[str, Any] | None:
            if self.proc.poll() is not None:
                raise RuntimeError(f"talon run exited: see {self.work / 'talon.out'}")
            got = self.poll()
            return got[-1] if got else None

        return wait_for("a talon cycle", new, timeout)


class Talon:
    """The daemon on the stock asyncio loop, or (``uvloop=True``) on the optional uvloop."""

    def __init__(self, *, uvloop: bool = False) -> None:
        self.event_loop = "uvloop" if uvloop else "asyncio"
        self.name = "uvloop" if uvloop else "talon"

    def unsupported(self, checks: list[Check]) -> str | None:
        return None

    def throughput(
        self, checks: list[Check], *, rounds: int, interval: int, work: Path
    ) -> Throughput:
        # Warm-up: the first cycle and one more; with hanging targets the first three, so
        # that the incident they open (3rd failing cycle) and its evidence capture fall
        # before the measurement.
        hangs = any(c.hangs for c in checks)
        daemon = Daemon(checks, interval, work, self.event_loop)
        with daemon.running():
            for _ in range(2 if hangs else 1):
                daemon.next_cycle(60 + interval)
            cpu0 = cpu_times(daemon.pid)
            lines = [daemon.next_cycle(60 + interval) for _ in range(rounds)]
            cpu1 = cpu_times(daemon.pid)
            rss = rss_peak_kb(daemon.pid)
        hung = {f"{c.kind}.{c.name}" for c in checks if c.hangs}
        assert all(line["probes"] == len(checks) for line in lines)
        result = Throughput(
            cycle_walls_s=[line["duration_ms"] / 1000 for line in lines],
            checks_run=rounds * len(checks),
            rss_peak_kb=rss,
            false_failures=sum(f not in hung for line in lines for f in line["failing"]),
        )
        result.cpu(cpu0, cpu1)
        return result

    def latency(
        self,
        checks: list[Check],
        target: Check,
        *,
        interval: int,
        trials: int,
        work: Path,
        switch: Switch,
    ) -> list[float]:
        key = f"{target.kind}.{target.name}"
        daemon = Daemon(checks, interval, work, self.event_loop)
        with daemon.running():
            return detection_trials(
                "talon",
                target.name,
                interval=interval,
                trials=trials,
                switch=switch,
                drain=daemon.poll,
                reported=lambda: any(key in c["failing"] for c in daemon.poll()),
                recovered=lambda: any(key not in c["failing"] for c in daemon.poll()),
            )
