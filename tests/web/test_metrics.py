"""TalonMetrics: its own registry, labelled series, stale probe series removed after a reload."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from talon.report import ProbeResult, Status
from talon.web.metrics import TalonMetrics
from tests.core.sim import split, up
from tests.web import states

NODE = {"node_id": "n1", "platform": "linux"}


def _samples(metrics: TalonMetrics) -> list[Sample]:
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain")
    return [s for fam in text_string_to_metric_families(body.decode()) for s in fam.samples]


def _series(metrics: TalonMetrics, name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {frozenset(s.labels.items()): s.value for s in _samples(metrics) if s.name == name}


def _probe(key: str, **labels: str) -> frozenset[tuple[str, str]]:
    return frozenset({**NODE, "probe": key, **labels}.items())


def _cycle(metrics: TalonMetrics, *results: ProbeResult) -> None:
    sim = states.stable()
    metrics.observe_cycle(results, sim.state, started=100.0, finished=101.5)


def test_probe_series_carry_probe_kind_class_and_endpoint_class() -> None:
    metrics = TalonMetrics(node_id="n1", platform="linux")
    failed = replace(up("http.inngest"), status=Status.CRITICAL, latency_ms=250.0)
    _cycle(metrics, up("redis.redis"), failed)
    labels = {"kind": "redis", "class": "service", "endpoint_class": "localhost"}
    assert _series(metrics, "talon_probe_up") == {
        _probe("redis.redis", **labels): 1.0,
        _probe("http.inngest", **{**labels, "kind": "http"}): 0.0,
    }
    latency = _series(metrics, "talon_probe_latency_seconds")
    assert latency[_probe("http.inngest", **{**labels, "kind": "http"})] == 0.25


def test_a_probe_dropped_by_a_reload_disappears_from_the_output() -> None:
    metrics = TalonMetrics(node_id="n1", platform="linux")
    _cycle(metrics, up("redis.redis"), up("http.inngest"))
    _cycle(metrics, up("redis.redis"))
    for name in ("talon_probe_up", "talon_probe_latency_seconds"):
        assert [dict(k)["probe"] for k in _series(metrics, name)] == ["redis.redis"]


def test_a_probe_answering_by_another_path_leaves_no_stale_series() -> None:
    metrics = TalonMetrics(node_id="n1", platform="linux")
    _cycle(metrics, up("redis.redis"))
    _cycle(metrics, split("redis.redis"))  # localhost dead, the VM path answers
    assert [dict(k)["endpoint_class"] for k in _series(metrics, "talon_probe_up")] == ["vm"]


def test_skipped_probes_have_no_series() -> None:
    metrics = TalonMetrics(node_id="n1", platform="linux")
    _cycle(metrics, replace(up("redis.redis"), status=Status.SKIPPED))
    assert _series(metrics, "talon_probe_up") == {}


def test_state_and_signal_are_one_hot_and_follow_the_core() -> None:
    metrics = TalonMetrics(node_id="n1", platform="linux")
    sim = states.failed_recovery()
    metrics.observe_cycle(states.red(), sim.state, started=sim.now - 2, finished=sim.now)
    node_state = {dict(k)["state"]: v for k, v in _series(metrics, "talon_node_state").items()}
    assert node_state["hold"] == 1.0
    assert sum(node_state.values()) == 1.0
    assert len(node_state) == 8
    signal = {dict(k)["signal"]: v for k, v in _series(metrics, "talon_node_signal").items()}
    assert signal == {
        "stable": 0.0,
        "recovering": 0.0,
        "failed recovery": 1.0,
        "degraded hold": 0.0,
    }
    assert _series(metrics, "talon_hold_active") == {frozenset(NODE.items()): 1.0}
    assert _series(metrics, "talon_incident_open") == {frozenset(NODE.items()): 1.0}
    assert _series(metrics, "talon_last_cycle_timestamp_seconds") == {
        frozenset(NODE.items()): sim.now
    }
    assert _series(metrics, "talon_cycle_duration_seconds_count") == {frozenset(NODE.items()): 1.0}
    assert _series(metrics, "talon_cycle_duration_seconds_sum") == {frozenset(NODE.items()): 2.0}


def test_counters_tasks_and_config_error() -> None:
    metrics = TalonMetrics(node_id="n1", platform="linux")
    metrics.observe_action("force_cycle", "1b", "ok")
    metrics.observe_action("force_cycle", "1b", "ok")
    metrics.observe_action("notify", None, "failed")
    metrics.observe_incident_opened("runtime_down")
    metrics.observe_incident_opened(None)
    metrics.observe_notification("ntfy", ok=True)
    metrics.observe_notification("ntfy", ok=False)
    metrics.set_task("loop", up=True)
    metrics.set_task("notifier", up=False)
    assert _series(metrics, "talon_config_error") == {frozenset(NODE.items()): 0.0}
    metrics.set_config_error(True)

    def flat(name: str, key: str) -> dict[str, float]:
        return {
            "/".join(dict(k)[x] for x in key.split(",")): v
            for k, v in _series(metrics, name).items()
        }

    assert flat("talon_actions_total", "kind,tier,outcome") == {
        "force_cycle/1b/ok": 2.0,
        "notify/none/failed": 1.0,
    }
    assert flat("talon_incidents_total", "root_cause") == {"runtime_down": 1.0, "unknown": 1.0}
    assert flat("talon_notifications_total", "channel,result") == {
        "ntfy/ok": 1.0,
        "ntfy/error": 1.0,
    }
    assert flat("talon_task_up", "task") == {"loop": 1.0, "notifier": 0.0}
    assert _series(metrics, "talon_config_error") == {frozenset(NODE.items()): 1.0}


def test_every_sample_names_the_node_and_platform() -> None:
    metrics = TalonMetrics(node_id="n1", platform="linux")
    _cycle(metrics, up("redis.redis"))
    metrics.observe_action("bridge_heal", "1a", "ok")
    metrics.observe_incident_opened("split_brain")
    metrics.observe_notification("ntfy", ok=True)
    metrics.set_task("loop", up=True)
    samples = _samples(metrics)
    names = {s.name for s in samples}
    for expected in (
        "talon_probe_up",
        "talon_probe_latency_seconds",
        "talon_node_state",
        "talon_node_signal",
        "talon_hold_active",
        "talon_incident_open",
        "talon_actions_total",
        "talon_incidents_total",
        "talon_notifications_total",
        "talon_cycle_duration_seconds_bucket",
        "talon_last_cycle_timestamp_seconds",
        "talon_task_up",
        "talon_config_error",
    ):
        assert expected in names
    assert all(s.labels.get("node_id") == "n1" for s in samples)
    assert all(s.labels.get("platform") == "linux" for s in samples)


def test_each_instance_has_its_own_registry() -> None:
    first = TalonMetrics(node_id="a", platform="linux")
    second = TalonMetrics(node_id="b", platform="linux")  # the global registry would refuse this
    first.set_task("loop", up=True)
    assert _series(second, "talon_task_up") == {}


def test_importing_the_module_does_not_import_prometheus_client() -> None:
    code = "import sys, talon.web.metrics; print('prometheus_client' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
