"""Talon's Prometheus metrics, on a registry of its own (never the global one).

Every series carries ``node_id`` and ``platform`` labels, so a fleet's
scrapes can be merged without relabelling. Names follow the Prometheus
conventions: a ``talon_`` prefix, base units (seconds), ``_total`` on
counters.

Per cycle (gauges, replaced by every ``observe_cycle``):

- ``talon_probe_up{probe,kind,class,endpoint_class}``: 1 when the probe
  passed, 0 when it failed (a warning is a failure). Skipped probes have no
  series. ``endpoint_class`` is the path that answered, ``none`` if none did.
- ``talon_probe_latency_seconds{probe,kind,class,endpoint_class}``: the
  probe's latency in the last cycle.
- ``talon_node_state{state}``: one series per node state, 1 for the current one.
- ``talon_node_signal{signal}``: one series per signal, 1 for the current one.
- ``talon_hold_active``: 1 while a hold blocks force-cycles and heal scripts.
- ``talon_incident_open``: 1 while an incident is open.
- ``talon_last_cycle_timestamp_seconds``: unix time the last cycle finished.
- ``talon_cycle_duration_seconds``: histogram of cycle durations.

Events (counters, and gauges set by the daemon):

- ``talon_actions_total{kind,tier,outcome}``: actions run; ``tier`` is ``none``
  for actions outside the tiers (notify, evidence, marker).
- ``talon_incidents_total{root_cause}``: incidents opened; ``root_cause`` is
  ``unknown`` when the core had none yet.
- ``talon_notifications_total{channel,result}``: ``result`` is ``ok`` or ``error``.
- ``talon_task_up{task}``: 1 while the daemon's internal task runs.
- ``talon_config_error``: 1 while the last config (re)load failed.

A probe that disappears from the config (or changes its labels, e.g. a new
``endpoint_class``) disappears from the output at the next cycle: label sets
not seen in a cycle are removed, so no stale series lingers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

    from talon.core.model import CoreState
    from talon.report import ProbeResult

PROBE_LABELS = ("probe", "kind", "class", "endpoint_class")
CYCLE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)
NONE = "none"


def _probe_labels(result: ProbeResult) -> tuple[str, ...]:
    endpoint = result.endpoint_class or NONE
    return (result.key, result.kind, result.probe_class, endpoint)


class TalonMetrics:
    """The daemon's metrics. ``render()`` is what ``/metrics`` serves."""

    def __init__(self, node_id: str, platform: str) -> None:
        # Lazy: only the daemon pays for prometheus_client, not `talon --help`.
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self._node = (node_id, platform)
        self.registry: CollectorRegistry = CollectorRegistry()
        reg = self.registry

        def gauge(name: str, doc: str, *labels: str) -> Gauge:
            return Gauge(name, doc, ["node_id", "platform", *labels], registry=reg)

        def counter(name: str, doc: str, *labels: str) -> Counter:
            return Counter(name, doc, ["node_id", "platform", *labels], registry=reg)

        self._probe_up = gauge("talon_probe_up", "1 if the probe passed.", *PROBE_LABELS)
        self._probe_latency = gauge(
            "talon_probe_latency_seconds", "Probe latency, last cycle.", *PROBE_LABELS
        )
        self._probe_series: set[tuple[str, ...]] = set()
        self._state = gauge("talon_node_state", "1 for the node's current state.", "state")
        self._signal = gauge("talon_node_signal", "1 for the node's current signal.", "signal")
        self._hold = gauge("talon_hold_active", "1 while a hold is active.")
        self._incident_open = gauge("talon_incident_open", "1 while an incident is open.")
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
        self._task_up = gauge("talon_task_up", "1 while the internal task runs.", "task")
        self._config_error = gauge("talon_config_error", "1 while the config is in error.")
        self._config_error.labels(*self._node).set(0)

    def observe_cycle(
        self,
        results: Sequence[ProbeResult],
        state: CoreState,
        started: float,
        finished: float,
    ) -> None:
        self._observe_probes(results)
        self._observe_state(state)
        self._last_cycle.labels(*self._node).set(finished)
        self._cycle_duration.labels(*self._node).observe(max(0.0, finished - started))

    def _observe_probes(self, results: Sequence[ProbeResult]) -> None:
        from talon.report import Status

        seen: set[tuple[str, ...]] = set()
        for result in results:
            if result.status is Status.SKIPPED:
                continue
            labels = _probe_labels(result)
            seen.add(labels)
            self._probe_up.labels(*self._node, *labels).set(1 if result.passed else 0)
            self._probe_latency.labels(*self._node, *labels).set(result.latency_ms / 1000.0)
        for labels in self._probe_series - seen:  # gone from the config, or relabelled
            self._probe_up.remove(*self._node, *labels)
            self._probe_latency.remove(*self._node, *labels)
        self._probe_series = seen

    def _observe_state(self, state: CoreState) -> None:
        from talon.core.model import NodeState, Signal

        for node_state in NodeState:
            current = node_state is state.node
            self._state.labels(*self._node, node_state.value).set(1 if current else 0)
        signal = state.signal
        for each in Signal:
            self._signal.labels(*self._node, each.value).set(1 if each is signal else 0)
        self._hold.labels(*self._node).set(0 if state.hold is None else 1)
        self._incident_open.labels(*self._node).set(0 if state.incident is None else 1)

    def observe_action(self, kind: str, tier: str | None, outcome: str) -> None:
        self._actions.labels(*self._node, kind, tier or NONE, outcome).inc()

    def observe_incident_opened(self, root_cause: str | None) -> None:
        self._incidents.labels(*self._node, root_cause or "unknown").inc()

    def observe_notification(self, channel: str, ok: bool) -> None:
        self._notifications.labels(*self._node, channel, "ok" if ok else "error").inc()

    def set_task(self, name: str, up: bool) -> None:
        self._task_up.labels(*self._node, name).set(1 if up else 0)

    def set_config_error(self, bad: bool) -> None:
        self._config_error.labels(*self._node).set(1 if bad else 0)

    def render(self) -> tuple[bytes, str]:
        """The text exposition of this registry and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST
