"""Talon's Prometheus metrics, on a registry of its own (never the global one).

Every series is listed, with its labels, meaning and an example query, in
``docs/metrics.md`` (a test keeps the two equal). Every series carries
``node_id`` and ``platform``, so a fleet's scrapes merge without relabelling;
label values come from bounded sets (probe keys, enum values, watched paths).

Two ways in: the daemon pushes what a cycle saw (``observe_cycle`` and the
event counters), and ``talon.web.collector`` reads what moves between cycles
at scrape time (hold and pauses remaining, the worker, the outbox, host and
process resources). A probe answered only through a fallback path is not up:
``talon_probe_degraded`` says so, and ``avg(talon_probe_up)`` is the honest pass
rate. A probe that leaves the config leaves the output at the next cycle.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from talon import __version__
from talon.web.collector import Resources, WorkerView, read_host

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

    from talon.core.model import CoreState
    from talon.report import ProbeResult

__all__ = ["TalonMetrics", "read_host"]

PROBE_LABELS = ("probe", "kind", "class", "endpoint_class")
FLAP_LABELS = ("probe", "kind", "class")  # no endpoint_class: a path change is not a flip
CYCLE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)
NONE = "none"
DEADMAN_KINDS = ("start", "success", "fail")


def _probe_labels(result: ProbeResult) -> tuple[str, ...]:
    endpoint = result.endpoint_class or NONE
    return (result.key, result.kind, result.probe_class, endpoint)


class TalonMetrics:
    """The daemon's metrics. ``render()`` is what ``/metrics`` serves."""

    def __init__(
        self,
        node_id: str,
        platform: str,
        *,
        started_at: float | None = None,
        host: Resources | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        # Lazy: only the daemon pays for prometheus_client, not `talon --help`.
        from prometheus_client import (
            CollectorRegistry,
            Counter,
            Gauge,
            Histogram,
            disable_created_metrics,
        )

        # No *_created series: they double the output and no alert reads them.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self._node = (node_id, platform)
        self.registry: CollectorRegistry = CollectorRegistry()
        reg = self.registry

        def gauge(name: str, doc: str, *labels: str) -> Gauge:
            return Gauge(name, doc, ["node_id", "platform", *labels], registry=reg)

        def counter(name: str, doc: str, *labels: str) -> Counter:
            return Counter(name, doc, ["node_id", "platform", *labels], registry=reg)

        gauge("talon_build_info", "Talon's version; always 1.", "version").labels(
            *self._node, __version__
        ).set(1)
        gauge("talon_start_time_seconds", "Unix time the daemon started.").labels(*self._node).set(
            time.time() if started_at is None else started_at
        )
        self._probe_up = gauge(
            "talon_probe_up",
            "1 if the probe passed on its preferred path (0 if it failed or is degraded).",
            *PROBE_LABELS,
        )
        self._probe_degraded = gauge(
            "talon_probe_degraded",
            "1 if the probe answered only through a fallback path (localhost down).",
            *PROBE_LABELS,
        )
        self._probe_latency = gauge(
            "talon_probe_latency_seconds", "Probe latency, last cycle.", *PROBE_LABELS
        )
        # labels -> (up, degraded, latency) children
        self._probes: dict[tuple[str, ...], Any] = {}
        self._failures = gauge(
            "talon_probe_consecutive_failures",
            "Failures in a row (the core's debounce counter).",
            *FLAP_LABELS,
        )
        self._transitions = counter(
            "talon_probe_transitions_total", "Flips between passing and failing.", *FLAP_LABELS
        )
        self._flaps: dict[str, tuple[tuple[str, ...], Any]] = {}  # key -> (labels, children)
        self._passed: dict[str, bool] = {}
        self._state = gauge("talon_node_state", "1 for the node's current state.", "state")
        self._signal = gauge("talon_node_signal", "1 for the node's current signal.", "signal")
        self._hold = gauge("talon_hold_active", "1 while a hold is active.")
        self._incident_open = gauge("talon_incident_open", "1 while an incident is open.")
        self._root_cause = gauge(
            "talon_incident_root_cause",
            "1 for the open incident's root cause (no series without an open incident).",
            "root_cause",
        )
        self._root_shown: str | None = None  # the root_cause series now exported
        self._verifying = gauge(
            "talon_verification_in_progress", "1 while a heal's recovery is being verified."
        )
        self._greens = gauge(
            "talon_verification_green_checks", "Green checks so far in the running verification."
        )
        self._last_cycle = gauge(
            "talon_last_cycle_timestamp_seconds", "Unix time the last cycle finished."
        )
        self._cycle_duration: Histogram = Histogram(
            "talon_cycle_duration_seconds",
            "Duration of a probe cycle.",
            ["node_id", "platform"],
            registry=reg,
            buckets=CYCLE_BUCKETS,
        )
        self._actions = counter("talon_actions_total", "Actions run.", "kind", "tier", "outcome")
        self._incidents = counter("talon_incidents_total", "Incidents opened.", "root_cause")
        self._notifications = counter(
            "talon_notifications_total", "Notifications sent.", "channel", "result"
        )
        self._deadman = counter(
            "talon_deadman_pings_total", "Dead-man's-switch pings sent.", "kind", "result"
        )
        self._task_up = gauge("talon_task_up", "1 while the internal task runs.", "task")
        self._config_error = gauge("talon_config_error", "1 while the config is in error.")
        self._config_error.labels(*self._node).set(0)
        self._write_errors = counter(
            "talon_write_errors_total",
            "Failed writes under the state directory (a full disk), per file.",
            "file",
        )
        self._storage_failing = gauge(
            "talon_storage_failing",
            "1 while the last write to the file failed; 0 once one succeeds again.",
            "file",
        )
        self._failing_files: set[str] = set()
        from talon.web.collector import ScrapeCollector

        self._scrape = ScrapeCollector(self._node, host=host, clock=clock)
        reg.register(self._scrape)

    # ------------------------------------------------------------ per cycle
    def observe_cycle(
        self, results: Sequence[ProbeResult], state: CoreState, started: float, finished: float
    ) -> None:
        """What a cycle saw (the incidents it opened come through observe_incident_opened).

        ``started`` and ``finished`` are wall times: the last-cycle gauge is compared
        with Prometheus' own clock."""
        self._observe_probes(results, state)
        self._observe_state(state)
        self._last_cycle.labels(*self._node).set(finished)
        self._cycle_duration.labels(*self._node).observe(max(0.0, finished - started))

    def _observe_probes(self, results: Sequence[ProbeResult], state: CoreState) -> None:
        from talon.report import Status

        seen: dict[tuple[str, ...], Any] = {}
        flap: dict[str, tuple[tuple[str, ...], Any]] = {}
        for result in results:
            if result.status is Status.SKIPPED:
                continue
            labels = _probe_labels(result)
            # children are kept between cycles: .labels() costs a lock and a validation each
            up, degraded, latency = seen[labels] = self._probes.get(labels) or (
                self._probe_up.labels(*self._node, *labels),
                self._probe_degraded.labels(*self._node, *labels),
                self._probe_latency.labels(*self._node, *labels),
            )
            passed = result.healthy  # a fallback answer is not a pass
            up.set(1 if passed else 0)
            degraded.set(1 if result.degraded else 0)
            latency.set(result.latency_ms / 1000.0)
            key = result.key
            kept = self._flaps.get(key)
            if kept is None or kept[0] != labels[:3]:
                kept = (
                    labels[:3],
                    (
                        self._failures.labels(*self._node, *labels[:3]),
                        self._transitions.labels(*self._node, *labels[:3]),  # from 0 on
                    ),
                )
            flap[key] = kept
            failures, flips = kept[1]
            failures.set(state.counters.get(key, 0))
            if key in self._passed and self._passed[key] != passed:
                flips.inc()
            self._passed[key] = passed
        for labels in self._probes.keys() - seen.keys():  # gone from the config, or relabelled
            self._probe_up.remove(*self._node, *labels)
            self._probe_degraded.remove(*self._node, *labels)
            self._probe_latency.remove(*self._node, *labels)
        self._probes = seen
        for key, (labels, _) in self._flaps.items():
            if key not in flap or flap[key][0] != labels:
                self._failures.remove(*self._node, *labels)
                self._transitions.remove(*self._node, *labels)
                if key not in flap:
                    self._passed.pop(key, None)
        self._flaps = flap

    def _observe_state(self, state: CoreState) -> None:
        from talon.core.model import NodeState, Signal

        for node_state in NodeState:
            current = node_state is state.node
            self._state.labels(*self._node, node_state.value).set(1 if current else 0)
        signal = state.signal
        for each in Signal:
            self._signal.labels(*self._node, each.value).set(1 if each is signal else 0)
        self._hold.labels(*self._node).set(0 if state.hold is None else 1)
        self._scrape.hold_until = None if state.hold is None else state.hold.until
        self._scrape.pauses = tuple((p.probe, p.until) for p in state.pauses)
        self._incident_open.labels(*self._node).set(0 if state.incident is None else 1)
        self._observe_root_cause(state)
        verification = state.verification
        self._verifying.labels(*self._node).set(0 if verification is None else 1)
        self._greens.labels(*self._node).set(0 if verification is None else verification.greens)

    def _observe_root_cause(self, state: CoreState) -> None:
        """One series for the open incident's root cause, so an alert can name it (and
        Alertmanager group and inhibit by it); none while the node has no incident."""
        incident = state.incident
        cause = None if incident is None else (incident.root_cause or "unknown")
        cause = None if cause is None else str(cause)
        if self._root_shown is not None and self._root_shown != cause:
            self._root_cause.remove(*self._node, self._root_shown)
        if cause is not None:
            self._root_cause.labels(*self._node, cause).set(1)
        self._root_shown = cause

    # --------------------------------------------------------------- events
    def observe_action(self, kind: str, tier: str | None, outcome: str) -> None:
        self._actions.labels(*self._node, kind, tier or NONE, outcome).inc()

    def observe_incident_opened(self, root_cause: str | None) -> None:
        self._incidents.labels(*self._node, root_cause or "unknown").inc()

    def observe_notification(self, channel: str, ok: bool) -> None:
        self._notifications.labels(*self._node, channel, "ok" if ok else "error").inc()

    def observe_deadman(self, kind: str, ok: bool) -> None:
        """One dead-man's-switch ping: ``kind`` is start, success or fail."""
        if kind not in DEADMAN_KINDS:
            raise ValueError(f"dead-man ping kind must be one of {DEADMAN_KINDS}, got {kind!r}")
        self._deadman.labels(*self._node, kind, "ok" if ok else "error").inc()

    def observe_write(self, file: str, ok: bool) -> None:
        """One write under the state directory; ``file`` is a bounded label (the file's
        name, ``bundles``, ``commands``). Called from any thread."""
        if ok:
            if file in self._failing_files:
                self._failing_files.discard(file)
                self._storage_failing.labels(*self._node, file).set(0)
            return
        self._write_errors.labels(*self._node, file).inc()
        if file not in self._failing_files:
            self._failing_files.add(file)
            self._storage_failing.labels(*self._node, file).set(1)

    def set_task(self, name: str, up: bool) -> None:
        self._task_up.labels(*self._node, name).set(1 if up else 0)

    def set_config_error(self, bad: bool) -> None:
        self._config_error.labels(*self._node).set(1 if bad else 0)

    def watch(self, *, worker: WorkerView, notify_pending: Callable[[], int]) -> None:
        """Sources read at scrape time: the worker's view and the outbox length."""
        self._scrape.worker = worker
        self._scrape.notify_pending = notify_pending

    def render(self) -> tuple[bytes, str]:
        """The text exposition of this registry and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST
