"""Debian's Monit, configured for the same checks, driven and measured from outside.

- The daemon (`monit -c RC -I`, `set daemon INTERVAL`) runs K cycles. Monit says
  nothing per passing check, so cycles are counted and timed at the farm: every
  HTTP or TCP check is one connection there, and Monit checks in order, one at
  a time, so the count is a multiple of the per-cycle number exactly between
  cycles. (A scenario of scripts or redis checks carries a TCP check to the
  farm first and last, for every tool alike.)
- CPU: the daemon's user+sys, plus the programs it reaped, over those cycles.
- A cycle's wall time: from its first to its last connection at the farm.
- Detection: the daemon logs "'NAME' failed protocol test" when a check fails.

Program checks are asynchronous in Monit: a cycle starts the program and the
next one collects its exit status, so a script's result is a cycle late, and a
cycle's wall time holds only the starting of the programs.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

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
from bench.peers.farm import Farm

FAILED = re.compile(r"'([^']+)' (?:status )?failed")


def monitrc(checks: list[Check], interval: int, work: Path) -> str:
    lines = [
        f"set daemon {interval}",
        f"set logfile {work / 'monit.log'}",
        f"set idfile {work / 'monit.id'}",
        f"set statefile {work / 'monit.state'}",
        f"set pidfile {work / 'monit.pid'}",
        "",
    ]
    for c in checks:
        timeout = f"with timeout {max(1, round(c.timeout_s))} seconds"
        if c.kind == "script":
            assert "'" not in c.command, "monit's path takes the command in single quotes"
            lines += [
                f"check program {c.name} with path \"/bin/sh -c '{c.command}'\" {timeout}",
                "  if status != 0 then alert",
            ]
            continue
        lines.append(f"check host {c.name} with address {c.host}")
        if c.kind == "http":
            test = f'protocol http request "{c.path}"'
        elif c.kind == "redis":
            test = "protocol redis"
        else:
            test = "type tcp"
        lines.append(f"  if failed port {c.port} {test} {timeout} then alert")
    return "\n".join(lines) + "\n"


class Monit:
    name = "monit"

    def __init__(self, farm: Farm) -> None:
        self.binary = shutil.which("monit") or "/usr/bin/monit"
        self.farm = farm

    def unsupported(self, checks: list[Check]) -> str | None:
        return None

    def _write(self, checks: list[Check], interval: int, work: Path) -> Path:
        work.mkdir(parents=True, exist_ok=True)
        rc = work / "monitrc"
        rc.write_text(monitrc(checks, interval, work))
        rc.chmod(0o600)  # monit refuses a control file others can read
        return rc

    @contextlib.contextmanager
    def _daemon(self, rc: Path, work: Path) -> Iterator[subprocess.Popen[bytes]]:
        proc = subprocess.Popen(
            [self.binary, "-c", str(rc), "-I"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=work,
            preexec_fn=_service_open_files,
        )
        try:
            wait_for("monit to start", lambda: "started" in _read(work / "monit.log"), 30)
            yield proc
        finally:
            stop(proc)

    def throughput(
        self, checks: list[Check], *, rounds: int, interval: int, work: Path
    ) -> Throughput:
        rc = self._write(checks, interval, work)
        result = Throughput()
        if any(c.kind == "script" for c in checks):
            result.notes.append("programs run asynchronously: results a cycle later")
        per_cycle = sum(c.kind in ("http", "tcp") for c in checks)
        assert per_cycle >= 2, "Monit's cycles are counted and timed at the farm: 2 checks there"
        base = self.farm.connections()
        with self._daemon(rc, work) as proc:

            def boundary(after: int) -> int | None:
                n = self.farm.connections()
                return n if n >= after and (n - base) % per_cycle == 0 else None

            # Monit sleeps INTERVAL between cycles: a poll every 50 ms sees the boundary
            start = wait_for("a monit cycle", lambda: boundary(base + per_cycle), 120, 0.05)
            cpu0 = cpu_times(proc.pid)
            log = LogTail(work / "monit.log")
            list(log.lines())
            end = wait_for(
                "monit cycles",
                lambda: boundary(start + rounds * per_cycle),
                rounds * (interval + 15) + 30,
                0.05,
            )
            cpu1 = cpu_times(proc.pid)
            result.rss_peak_kb = rss_peak_kb(proc.pid)
        # Monit logs a failing check every cycle
        hung = {c.name for c in checks if c.hangs}
        failed = (FAILED.search(line) for line in log.lines())
        result.false_failures = sum(m is not None and m[1] not in hung for m in failed)
        result.cpu(cpu0, cpu1)
        cycles = (end - start) // per_cycle  # a boundary seen late: more cycles than asked
        result.checks_run = cycles * len(checks)
        # Monit checks one at a time: a cycle spans its first to its last farm connection
        times = self.farm.arrivals(start, end)
        result.cycle_walls_s = [
            times[(k + 1) * per_cycle - 1] - times[k * per_cycle] for k in range(cycles)
        ]
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
        rc = self._write(checks, interval, work)
        tail = LogTail(work / "monit.log")
        failed, succeeded = f"'{target.name}' failed", f"'{target.name}' connection succeeded"
        with self._daemon(rc, work):
            return detection_trials(
                "monit",
                target.name,
                interval=interval,
                trials=trials,
                switch=switch,
                drain=lambda: list(tail.lines()),
                reported=lambda: any(failed in line for line in tail.lines()),
                recovered=lambda: any(succeeded in line for line in tail.lines()),
            )


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


def _service_open_files() -> None:
    """The soft open-files limit a service gets by default (systemd: 1024). Monit closes
    every descriptor up to it before it runs a program: under this bench's raised limit
    each script would cost it several ms more than it does as a service."""
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, hard), hard))
