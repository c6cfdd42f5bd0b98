"""What the three drivers share: the checks, the measurements, reading a process from outside."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol, TypeVar

from tests.support.procs import stop as stop  # by pid: SIGTERM, then SIGKILL

Kind = Literal["http", "tcp", "script", "redis"]
T = TypeVar("T")


@dataclass(frozen=True)
class Check:
    """One check, described once and rendered by each driver in its tool's terms."""

    name: str
    kind: Kind
    address: str = ""  # host:port (http, tcp, redis)
    path: str = ""  # http: the request path
    command: str = ""  # script: a shell command line
    timeout_s: float = 5.0

    @property
    def url(self) -> str:
        return f"http://{self.address}{self.path}"

    @property
    def hangs(self) -> bool:
        return self.path.startswith("/hang/")

    @property
    def host(self) -> str:
        return self.address.rsplit(":", 1)[0]

    @property
    def port(self) -> int:
        return int(self.address.rsplit(":", 1)[1])


@dataclass
class Throughput:
    """One tool on one scenario: K cycles."""

    cycle_walls_s: list[float] = field(default_factory=list)
    cpu_s: float | None = None  # user+sys of the daemon and its reaped children over the cycles
    children_cpu_s: float | None = None  # of which the children (scripts)
    checks_run: int = 0  # checks those cycles ran (cycles x checks)
    rss_peak_kb: int | None = None
    false_failures: int = 0  # failed results of checks whose target answers (overload)
    notes: list[str] = field(default_factory=list)

    def cpu(self, before: tuple[float, float], after: tuple[float, float]) -> None:
        """Set the CPU spent between two `cpu_times` readings."""
        self.cpu_s = sum(after) - sum(before)
        self.children_cpu_s = after[1] - before[1]

    @property
    def cpu_ms_per_check(self) -> float | None:
        if self.cpu_s is None or not self.checks_run:
            return None
        return self.cpu_s / self.checks_run * 1000


class Peer(Protocol):
    name: str

    def unsupported(self, checks: list[Check]) -> str | None:
        """Why this tool cannot run these checks, or None."""

    def throughput(
        self, checks: list[Check], *, rounds: int, interval: int, work: Path
    ) -> Throughput: ...

    def latency(
        self,
        checks: list[Check],
        target: Check,
        *,
        interval: int,
        trials: int,
        work: Path,
        switch: Switch,
    ) -> list[float]: ...


class Switch(Protocol):
    """Makes a target fail and recover (the farm)."""

    def fail(self, name: str) -> None: ...

    def recover(self, name: str) -> None: ...


def cpu_times(pid: int) -> tuple[float, float]:
    """User+system CPU of a process, and of the children it has reaped (scripts)."""
    import psutil

    t = psutil.Process(pid).cpu_times()
    return float(t.user + t.system), float(t.children_user + t.children_system)


def status_kib(pid: int | str, key: str) -> int:
    """A memory field of ``/proc/PID/status`` (``VmRSS``, ``VmHWM``), in KiB; pid may be "self"."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {key} in /proc/{pid}/status")


def rss_peak_kb(pid: int) -> int:
    """VmHWM: the most resident memory the process ever had."""
    return status_kib(pid, "VmHWM")


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, poll: float = 0.01) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value is not None and value is not False:
            return value
        time.sleep(poll)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


TRIAL_SEED = 8  # every tool waits the same random times before its trials


def detection_trials(
    tool: str,
    target: str,
    *,
    interval: int,
    trials: int,
    switch: Switch,
    drain: Callable[[], object],
    reported: Callable[[], bool],
    recovered: Callable[[], bool],
) -> list[float]:
    """Seconds from switching ``target`` to failing until ``reported()``, once per trial.

    ``drain`` forgets what the tool said before the switch; after each trial the target
    is switched back and the tool is waited for to see it pass.
    """
    rng = random.Random(TRIAL_SEED)
    out = []
    for _ in range(trials):
        time.sleep(rng.uniform(0, interval))
        drain()
        t0 = time.monotonic()
        switch.fail(target)
        wait_for(f"{tool} to report {target}", reported, 10 * interval + 30)
        out.append(time.monotonic() - t0)
        switch.recover(target)
        wait_for(f"{tool} to see {target} recover", recovered, 10 * interval + 30)
    return out


class LogTail:
    """New complete lines of a growing file, from where the last read stopped."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.partial = b""

    def lines(self) -> Iterator[str]:
        try:
            with self.path.open("rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return
        self.offset += len(data)
        *complete, self.partial = (self.partial + data).split(b"\n")
        for line in complete:
            yield line.decode(errors="replace")
