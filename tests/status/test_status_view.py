"""The status view (pure), host resources (real psutil) and recent incidents from the store."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from talon.clock import Clock
from talon.core.model import CoreState, Incident
from talon.faults import Fault
from talon.host import read_resources, resource_findings
from talon.node import NodeIdentity
from talon.status_view import status_view
from talon.store import StateStore
from tests.store.test_state_store import _held_state


def identity(tmp_path: Path) -> NodeIdentity:
    return NodeIdentity.detect(
        {"NODE_ID": "hub", "TALON_STATE_DIR": str(tmp_path / "s"), "HOME": str(tmp_path)}
    )


def probe(key: str, status: str, layer: str, **kw: Any) -> dict[str, Any]:
    return {
        "key": key,
        "kind": key.split(".")[0],
        "layer": layer,
        "class": "service",
        "status": status,
        "message": kw.get("message", ""),
        "error_kind": kw.get("error_kind"),
        "latency_ms": 3.0,
        "endpoint_class": kw.get("endpoint_class"),
        "paths": kw.get("paths", []),
    }


def report(*probes: dict[str, Any]) -> dict[str, Any]:
    return {"started_at": 99.0, "finished_at": 100.0, "probes": list(probes)}


def test_every_probe_is_shown_bottom_layer_first_with_the_path_that_answered(
    tmp_path: Path,
) -> None:
    paths = [
        {"path_class": "localhost", "target": "127.0.0.1:8080", "ok": False},
        {"path_class": "vm", "target": "127.0.0.2:8080", "ok": True},
    ]
    view = status_view(
        CoreState(),
        report(
            probe("http.api", "ok", "service", endpoint_class="vm", paths=paths),
            probe("ssh.nas", "critical", "host", error_kind="refused"),
            probe("script.off", "skipped", "app"),
            probe("k8s.api", "ok", "cluster"),
        ),
        identity(tmp_path),
        130.0,
    )
    assert [p["key"] for p in view["probes"]] == ["ssh.nas", "k8s.api", "http.api", "script.off"]
    assert view["layers"] == ["host", "cluster", "service", "app"]
    api = view["probes"][2]
    assert (api["endpoint_class"], api["answered_by"]) == ("vm", "127.0.0.2:8080")
    assert api["degraded"] is True  # localhost dead, the VM answered: not a pass
    assert view["summary"] == {
        "total": 4,
        "passed": 1,
        "degraded": 1,
        "failed": 1,
        "skipped": 1,
        "pass_rate": 0.3333,
    }
    assert view["last_cycle"]["age_s"] == 30.0
    assert [f["key"] for f in view["last_cycle"]["failures"]] == ["ssh.nas", "http.api"]


def test_hold_incident_classification_and_counters_come_from_the_core_state(
    tmp_path: Path,
) -> None:
    sim = _held_state()
    view = status_view(
        sim.state,
        report(
            probe("tcp.runtime", "critical", "runtime"), probe("http.svc", "critical", "service")
        ),
        identity(tmp_path),
        sim.now + 10,
    )
    assert view["signal"] == "failed recovery"
    assert view["hold"]["remaining_s"] == sim.state.hold.until - sim.now - 10  # type: ignore[union-attr]
    assert view["incident"]["trail"], "the open incident's timeline"
    runtime = next(p for p in view["probes"] if p["key"] == "tcp.runtime")
    assert runtime["classification"] == "runtime_down"
    assert runtime["consecutive_failures"] == sim.state.counters["tcp.runtime"]
    json.dumps(view)  # plain JSON all the way down


def test_no_cycle_yet(tmp_path: Path) -> None:
    view = status_view(CoreState(), None, identity(tmp_path), 5.0)
    assert view["last_cycle"] is None
    assert view["probes"] == []
    assert view["summary"]["pass_rate"] is None


def test_resources_are_read_from_the_real_host_one_entry_per_filesystem(tmp_path: Path) -> None:
    resources = read_resources([tmp_path, tmp_path / "not-yet" / "created", tmp_path], 1000.0)
    assert resources["memory"]["total_bytes"] > 0
    assert 0 < resources["memory"]["available_percent"] <= 100
    assert resources["cpus"] == os.cpu_count()
    devices = [os.stat(d["path"]).st_dev for d in resources["disks"]]
    assert len(devices) == len(set(devices)), "one entry per filesystem"
    assert any(Path(d["path"]) in (tmp_path, Path("/")) for d in resources["disks"])
    json.dumps(resources)


def test_resource_findings_name_what_is_short() -> None:
    fine = {
        "memory": {"available_percent": 50.0},
        "load": {"1m": 1.0, "5m": 1.0, "15m": 1.0},
        "cpus": 2,
        "disks": [{"path": "/", "used_percent": 40.0}],
    }
    assert resource_findings(fine) == []
    bad = {
        "memory": {"available_percent": 4.0},
        "load": {"1m": 9.0, "5m": 9.0, "15m": 9.0},
        "cpus": 2,
        "disks": [{"path": "/srv", "used_percent": 97.0}],
    }
    assert resource_findings(bad) == [
        "filesystem of /srv is 97% full",
        "only 4% of memory is available",
        "5-minute load 9.0 on 2 CPUs",
    ]


def test_recent_incidents_are_the_newest_from_the_log_tail(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    for i in range(30):
        incident = Incident(f"hub-{i}", float(i), Fault.SERVICE_DOWN, closed_at=i + 0.5)
        store.save(CoreState(), Clock(), incident)
    with store.incidents_path.open("ab") as f:
        f.write(b'{"torn')  # a crash mid-append
    assert [i.id for i in store.recent_incidents(3)] == ["hub-29", "hub-28", "hub-27"]
    tail = store.recent_incidents(100, tail_bytes=600)  # the cut first line is skipped
    assert tail
    assert tail[0].id == "hub-29"
    assert len(tail) < 30
    assert StateStore(tmp_path / "empty").recent_incidents(3) == []
