"""TalonMetrics: its own registry, labelled series, stale series removed after a reload, the
series read at scrape time, and docs/metrics.md kept equal to what /metrics exposes."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from talon.core import NodeState
from talon.report import ProbeResult, Status
from talon.web.collector import WORKER_STATES
from talon.web.metrics import TalonMetrics, read_host
from tests.core.sim import down, split, up
from tests.support.procs import ROOT
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
    assert len(node_state) == len(NodeState)
    signal = {dict(k)["signal"]: v for k, v in _series(metrics, "talon_node_signal").items()}
    assert signal == {
        "stable": 0.0,
        "recovering": 0.0,
        "failed recovery": 1.0,
        "degraded hold": 0.0,
    }
    assert _series(metrics, "talon_hold_active") == {frozenset(NODE.items()): 1.0}
    assert _series(metrics, "talon_incident_open") == {frozenset(NODE.items()): 1.0}
    (cause,) = _series(metrics, "talon_incident_root_cause")  # one series: the root cause
    assert dict(cause)["root_cause"] == str(sim.state.incident.root_cause)  # type: ignore[union-attr]
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


# ----------------------------------------------------------------- the new series
def _one(metrics: TalonMetrics, name: str) -> float:
    (value,) = _series(metrics, name).values()
    return value


def _by(metrics: TalonMetrics, name: str, label: str) -> dict[str, float]:
    return {dict(k)[label]: v for k, v in _series(metrics, name).items()}


def test_build_info_and_start_time() -> None:
    from talon import __version__

    metrics = TalonMetrics(node_id="n1", platform="linux", started_at=1234.5)
    assert _series(metrics, "talon_build_info") == {
        frozenset({**NODE, "version": __version__}.items()): 1.0
    }
    assert _one(metrics, "talon_start_time_seconds") == 1234.5


def test_consecutive_failures_follow_the_core_counters() -> None:
    metrics = TalonMetrics(node_id="n1", platform="linux")
    sim = states.stack()
    for _ in range(3):
        sim.tick(*states.green()[:3], down("http.inngest"))
        metrics.observe_cycle(
            (*states.green()[:3], down("http.inngest")), sim.state, sim.now - 1, sim.now
        )
    failures = _by(metrics, "talon_probe_consecutive_failures", "probe")
    assert failures == {"tcp.runtime": 0.0, "k8s.api": 0.0, "redis.redis": 0.0, "http.inngest": 3.0}
    assert failures["http.inngest"] == sim.state.counters["http.inngest"]
    sim.tick(*states.green())
    metrics.observe_cycle(states.green(), sim.state, sim.now - 1, sim.now)
    assert _by(metrics, "talon_probe_consecutive_failures", "probe")["http.inngest"] == 0.0


def test_transitions_count_every_flip_and_start_at_zero() -> None:
    metrics = TalonMetrics(node_id="n1", platform="linux")
    # split answers only via the VM: degraded, not a pass (down -> split is no flip)
    for result in (up, up, down, up, down, down, split, up):
        _cycle(metrics, result("redis.redis"), up("http.inngest"))
    flips = _series(metrics, "talon_probe_transitions_total")
    labels = {"kind": "redis", "class": "service"}
    assert flips[_probe("redis.redis", **labels)] == 4.0
    assert flips[_probe("http.inngest", **{**labels, "kind": "http"})] == 0.0  # there from 0 on


def test_a_probe_dropped_by_a_reload_loses_its_flap_series_too() -> None:
    metrics = TalonMetrics(node_id="n1", platform="linux")
    _cycle(metrics, up("redis.redis"), down("http.inngest"))
    _cycle(metrics, up("redis.redis"))
    for name in ("talon_probe_transitions_total", "talon_probe_consecutive_failures"):
        assert list(_by(metrics, name, "probe")) == ["redis.redis"]
    _cycle(metrics, up("redis.redis"), up("http.inngest"))  # back: no flip remembered
    assert _by(metrics, "talon_probe_transitions_total", "probe")["http.inngest"] == 0.0


def test_hold_remaining_is_read_at_scrape_time_from_the_clock() -> None:
    sim = states.failed_recovery()
    assert sim.state.hold is not None
    now = [sim.now]
    metrics = TalonMetrics(node_id="n1", platform="linux", clock=lambda: now[0])
    metrics.observe_cycle(states.red(), sim.state, sim.now - 1, sim.now)
    left = sim.state.hold.until - sim.now
    assert left > 0
    assert _one(metrics, "talon_hold_remaining_seconds") == left
    now[0] += 100  # no cycle in between: the scrape still counts down
    assert _one(metrics, "talon_hold_remaining_seconds") == left - 100
    now[0] += left
    assert _one(metrics, "talon_hold_remaining_seconds") == 0.0
    metrics.observe_cycle(states.green(), states.stable().state, sim.now, sim.now)
    assert _one(metrics, "talon_hold_remaining_seconds") == 0.0


def test_verification_in_progress_and_its_green_checks() -> None:
    metrics = TalonMetrics(node_id="n1", platform="linux")
    sim = states.recovering()
    metrics.observe_cycle(states.red(), sim.state, sim.now - 1, sim.now)
    assert _one(metrics, "talon_verification_in_progress") == 1.0
    for _ in range(4):
        sim.tick(*states.green())
    assert sim.state.verification is not None
    metrics.observe_cycle(states.green(), sim.state, sim.now - 1, sim.now)
    assert _one(metrics, "talon_verification_green_checks") == sim.state.verification.greens
    metrics.observe_cycle(states.green(), states.stable().state, sim.now, sim.now)
    assert _one(metrics, "talon_verification_in_progress") == 0.0
    assert _one(metrics, "talon_verification_green_checks") == 0.0


def test_an_incident_opened_by_a_cycle_is_counted_once_by_root_cause() -> None:
    """The core says which step opened an incident (``Changes.opened``); Outputs counts it."""
    metrics = TalonMetrics(node_id="n1", platform="linux")
    sim = states.stack()
    for _ in range(3):  # the runtime is down: one incident across several cycles
        sim.tick(*states.red())
        metrics.observe_cycle(states.red(), sim.state, sim.now - 1, sim.now)
    for done in sim.steps:
        if (opened := done.changes.opened) is not None:
            metrics.observe_incident_opened(opened.root_cause and opened.root_cause.value)
    assert sim.state.incident is not None
    assert _by(metrics, "talon_incidents_total", "root_cause") == {"runtime_down": 1.0}


def test_worker_series_come_from_the_worker_view_at_scrape_time() -> None:
    metrics = TalonMetrics(node_id="n1", platform="linux")
    assert _series(metrics, "talon_worker_state") == {}  # no [worker]: no samples
    view: dict[str, Any] = {"state": "backoff", "restarts": 3, "quick_exits": 2}
    metrics.watch(worker=lambda: view, notify_pending=lambda: 4)
    worker = _by(metrics, "talon_worker_state", "state")
    assert worker["backoff"] == 1.0
    assert sum(worker.values()) == 1.0
    assert set(worker) == set(WORKER_STATES)
    assert _one(metrics, "talon_worker_restarts_total") == 3.0
    assert _one(metrics, "talon_worker_quick_exits") == 2.0
    assert _one(metrics, "talon_notifications_pending") == 4.0
    view.update(state="running", restarts=4)
    assert _by(metrics, "talon_worker_state", "state")["running"] == 1.0
    assert _one(metrics, "talon_worker_restarts_total") == 4.0


def test_host_resources_are_read_with_psutil_for_each_watched_filesystem(tmp_path: Path) -> None:
    import psutil

    metrics = TalonMetrics(node_id="n1", platform="linux", host=read_host([tmp_path / "state"]))
    assert _one(metrics, "talon_host_memory_total_bytes") == psutil.virtual_memory().total
    assert 0 < _one(metrics, "talon_host_memory_available_bytes") <= psutil.virtual_memory().total
    assert _one(metrics, "talon_host_cpus") == psutil.cpu_count()
    assert set(_by(metrics, "talon_host_load_average", "window")) == {"1m", "5m", "15m"}
    free = _by(metrics, "talon_host_disk_free_bytes", "path")
    total = _by(metrics, "talon_host_disk_total_bytes", "path")
    assert set(free) == set(total)
    assert free  # the filesystem of tmp_path (the dir does not exist yet: its parent's), and /
    assert all(0 < free[p] <= total[p] for p in free)
    assert _one(metrics, "talon_process_resident_memory_bytes") > 1_000_000
    assert _one(metrics, "talon_process_open_fds") > 0
    assert _one(metrics, "talon_process_cpu_seconds_total") > 0


def test_a_failing_host_reader_drops_only_its_own_series() -> None:
    def broken() -> dict[str, Any]:
        raise OSError("disk vanished")

    metrics = TalonMetrics(node_id="n1", platform="linux", host=broken)
    _cycle(metrics, up("redis.redis"))
    assert _series(metrics, "talon_host_memory_total_bytes") == {}
    assert _series(metrics, "talon_host_disk_free_bytes") == {}
    assert _one(metrics, "talon_process_open_fds") > 0
    assert _by(metrics, "talon_probe_up", "probe") == {"redis.redis": 1.0}


def test_deadman_pings_are_counted_by_kind_and_result() -> None:
    metrics = TalonMetrics(node_id="n1", platform="linux")
    metrics.observe_deadman("start", ok=True)
    metrics.observe_deadman("success", ok=True)
    metrics.observe_deadman("success", ok=False)
    metrics.observe_deadman("fail", ok=True)
    flat = {
        f"{dict(k)['kind']}/{dict(k)['result']}": v
        for k, v in _series(metrics, "talon_deadman_pings_total").items()
    }
    assert flat == {"start/ok": 1.0, "success/ok": 1.0, "success/error": 1.0, "fail/ok": 1.0}
    with pytest.raises(ValueError, match="must be one of"):
        metrics.observe_deadman("ping", ok=True)


def test_no_created_series_are_exported() -> None:
    metrics = TalonMetrics(node_id="n1", platform="linux")
    metrics.observe_action("notify", None, "done")
    assert not [s for s in _samples(metrics) if s.name.endswith("_created")]


# ------------------------------------------------------- the docs cannot rot
DOCS = ROOT / "docs" / "metrics.md"
ROW = re.compile(r"^\| `(talon_[a-z0-9_]+)` \| (gauge|counter|histogram) \| ([^|]*) \|")


def documented() -> dict[str, tuple[str, frozenset[str]]]:
    """name -> (type, labels) from the tables of docs/metrics.md."""
    out: dict[str, tuple[str, frozenset[str]]] = {}
    for line in DOCS.read_text().splitlines():
        if match := ROW.match(line):
            name, kind, labels = match.groups()
            assert name not in out, f"{name} is documented twice"
            out[name] = (kind, frozenset(re.findall(r"`([a-z_]+)`", labels)))
    return out


def full(tmp_path: Path) -> TalonMetrics:
    """Every series with at least one sample, fed by real objects."""
    metrics = TalonMetrics(node_id="n1", platform="linux", host=read_host([tmp_path]))
    sim = states.failed_recovery()
    metrics.observe_cycle(states.red(), sim.state, sim.now - 1, sim.now)
    metrics.observe_incident_opened("runtime_down")
    metrics.observe_action("force_cycle", "1b", "done")
    metrics.observe_notification("ntfy", ok=True)
    metrics.observe_deadman("success", ok=True)
    metrics.set_task("web", up=True)
    metrics.observe_write("journal.jsonl", ok=False)
    metrics.watch(
        worker=lambda: {"state": "running", "restarts": 0, "quick_exits": 0},
        notify_pending=lambda: 0,
    )
    return metrics


def exposed(metrics: TalonMetrics) -> dict[str, tuple[str, frozenset[str]]]:
    """name -> (type, labels) from the text exposition, as Prometheus reads it."""
    body = metrics.render()[0].decode()
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", body, re.M))
    labels: dict[str, set[str]] = {name: set() for name in types}
    for sample in _samples(metrics):
        family = next(
            n for n in types if sample.name in (n, f"{n}_bucket", f"{n}_count", f"{n}_sum")
        )
        labels[family] |= set(sample.labels) - {"node_id", "platform", "le"}
    return {name: (types[name], frozenset(labels[name])) for name in types}


def test_every_exposed_series_is_documented_and_every_documented_one_exposed(
    tmp_path: Path,
) -> None:
    docs, out = documented(), exposed(full(tmp_path))
    assert len(docs) > 30
    assert sorted(set(out) - set(docs)) == [], "exposed but not in docs/metrics.md"
    assert sorted(set(docs) - set(out)) == [], "in docs/metrics.md but not exposed"
    for name, (kind, labels) in out.items():
        assert docs[name] == (kind, labels), (
            f"{name}: docs say {docs[name]}, /metrics {kind, labels}"
        )


def test_every_series_has_samples_in_the_full_fixture(tmp_path: Path) -> None:
    """So the label comparison above compares something for every series."""
    samples = {s.name for s in _samples(full(tmp_path))}
    for name, (kind, _) in exposed(full(tmp_path)).items():
        wanted = f"{name}_count" if kind == "histogram" else name
        assert wanted in samples, name
