"""The series read when Prometheus scrapes, because they move between cycles.

Hold and pauses remaining (from the clock), the worker (its supervisor's view), the
notification outbox, the host (memory, swap, load, the filesystems Talon
writes to, via ``talon.host``) and Talon's own process (psutil). Listed in
``docs/metrics.md`` with the rest.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

# What the worker supervisor (or WorkerLink, when it does not supervise) reports.
WORKER_STATES = (
    "starting",
    "running",
    "backoff",
    "port_blocked",
    "deferring",
    "stopping",
    "stopped",
    "not supervised",
)
NODE_WIDE = "*"  # the probe label of a pause of the whole node (a probe key has a dot)
WorkerView = Callable[[], Mapping[str, Any] | None]
Resources = Callable[[], Mapping[str, Any]]


def read_host(paths: Sequence[Path]) -> Callable[[], Mapping[str, Any]]:
    """The host reader the daemon uses: memory, load, and the filesystems of ``paths``."""

    def read() -> Mapping[str, Any]:
        from talon.host import read_resources

        return read_resources(paths, time.time())

    return read


class ScrapeCollector:
    """Series read when Prometheus scrapes: they move between cycles.

    A source that fails drops its own series from that scrape, never the whole
    output (a scrape must not 500 because a disk vanished).
    """

    def __init__(
        self,
        node: tuple[str, str],
        *,
        host: Resources | None,
        clock: Callable[[], float],
    ) -> None:
        self._node = node
        self._host = host
        self._clock = clock
        self._process: Any = None
        self.hold_until: float | None = None
        self.pauses: tuple[tuple[str | None, float], ...] = ()  # (probe or None, until)
        self.worker: WorkerView = lambda: None
        self.notify_pending: Callable[[], int] = lambda: 0

    def _family(self, kind: str, name: str, doc: str, *labels: str) -> Any:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        cls = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
        return cls(name, doc, labels=["node_id", "platform", *labels])

    def describe(self) -> Iterator[Metric]:
        # Empty, so that registering does not run collect() (psutil) at construction;
        # the names are unique by construction and a test compares them with the docs.
        return iter(())

    def collect(self) -> Iterator[Metric]:
        yield from self._daemon()
        yield from self._worker()
        yield from self._resources()
        yield from self._self_process()

    def _daemon(self) -> Iterator[Metric]:
        until = self.hold_until
        left = self._family(
            "gauge", "talon_hold_remaining_seconds", "Seconds until the hold ends; 0 without one."
        )
        left.add_metric(self._node, 0.0 if until is None else max(0.0, until - self._clock()))
        yield left
        yield from self._pauses()
        pending = self._family(
            "gauge", "talon_notifications_pending", "Failed deliveries waiting for a retry."
        )
        with contextlib.suppress(Exception):
            pending.add_metric(self._node, float(self.notify_pending()))
        yield pending

    def _pauses(self) -> Iterator[Metric]:
        """The node's series (``probe="*"``) always, 0 without a pause; a probe's while it is
        paused. A pause that ran out is over now, even before the next cycle drops it."""
        active = self._family(
            "gauge", "talon_pause_active", "1 while an operator's pause stops healing.", "probe"
        )
        left = self._family(
            "gauge",
            "talon_pause_remaining_seconds",
            "Seconds until the operator's pause ends by itself.",
            "probe",
        )
        now = self._clock()
        running = {probe or NODE_WIDE: until - now for probe, until in self.pauses if until > now}
        running.setdefault(NODE_WIDE, 0.0)
        for probe, remaining in sorted(running.items()):
            active.add_metric([*self._node, probe], 1.0 if remaining > 0 else 0.0)
            left.add_metric([*self._node, probe], remaining)
        yield from (active, left)

    def _worker(self) -> Iterator[Metric]:
        state = self._family(
            "gauge", "talon_worker_state", "1 for the worker's current state.", "state"
        )
        restarts = self._family(
            "counter", "talon_worker_restarts", "Worker restarts (exit or failed health checks)."
        )
        quick = self._family("gauge", "talon_worker_quick_exits", "Quick exits in a row.")
        try:
            view = self.worker()
        except Exception:  # a scrape must not fail for it
            view = None
        if view is not None:  # no [worker] section: no worker series
            current = str(view.get("state", ""))
            for each in WORKER_STATES:
                state.add_metric([*self._node, each], 1.0 if each == current else 0.0)
            restarts.add_metric(self._node, float(view.get("restarts") or 0))
            quick.add_metric(self._node, float(view.get("quick_exits") or 0))
        yield from (state, restarts, quick)

    def _resources(self) -> Iterator[Metric]:
        fams = {
            "mem_total": ("talon_host_memory_total_bytes", "Physical memory."),
            "mem_avail": ("talon_host_memory_available_bytes", "Memory available to programs."),
            "swap_total": ("talon_host_swap_total_bytes", "Swap space."),
            "swap_used": ("talon_host_swap_used_bytes", "Swap in use."),
            "cpus": ("talon_host_cpus", "Logical CPUs."),
        }
        out = {k: self._family("gauge", name, doc) for k, (name, doc) in fams.items()}
        load = self._family("gauge", "talon_host_load_average", "Load average.", "window")
        disk_total = self._family(
            "gauge", "talon_host_disk_total_bytes", "Size of a watched filesystem.", "path"
        )
        disk_free = self._family(
            "gauge", "talon_host_disk_free_bytes", "Free space of a watched filesystem.", "path"
        )
        data = self._read_host()
        if data:
            memory, swap = data["memory"], data["swap"]
            out["mem_total"].add_metric(self._node, float(memory["total_bytes"]))
            out["mem_avail"].add_metric(self._node, float(memory["available_bytes"]))
            out["swap_total"].add_metric(self._node, float(swap["total_bytes"]))
            out["swap_used"].add_metric(self._node, float(swap["used_bytes"]))
            out["cpus"].add_metric(self._node, float(data["cpus"]))
            for window, value in data["load"].items():
                load.add_metric([*self._node, window], float(value))
            for disk in data["disks"]:
                disk_total.add_metric([*self._node, disk["path"]], float(disk["total_bytes"]))
                disk_free.add_metric([*self._node, disk["path"]], float(disk["free_bytes"]))
        yield from (*out.values(), load, disk_total, disk_free)

    def _read_host(self) -> Mapping[str, Any] | None:
        if self._host is None:
            return None
        try:
            return self._host()
        except (OSError, KeyError, ValueError):
            return None

    def _self_process(self) -> Iterator[Metric]:
        rss = self._family(
            "gauge", "talon_process_resident_memory_bytes", "Talon's resident memory."
        )
        cpu = self._family("counter", "talon_process_cpu_seconds", "Talon's CPU time.")
        fds = self._family("gauge", "talon_process_open_fds", "Talon's open file descriptors.")
        import psutil

        try:
            if self._process is None:
                self._process = psutil.Process(os.getpid())
            proc = self._process
            with proc.oneshot():
                times = proc.cpu_times()
                rss.add_metric(self._node, float(proc.memory_info().rss))
                cpu.add_metric(self._node, float(times.user + times.system))
                fds.add_metric(self._node, float(proc.num_fds()))
        except (psutil.Error, OSError):
            pass
        yield from (rss, cpu, fds)
