"""End to end: `talon check --json` against the lab classifies each fault through the
real probe runner and the core (its ``diagnosis``), and the JSON follows its schema."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from talon.config.builtins import builtin_keys, original_name
from talon.lab import faults
from talon.lab.kube import layout
from talon.lab.kube.seed import KUBELET_CLIENT_CRB
from talon.lab.substrate import Lab

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SCHEMA = json.loads(resources.files("talon.schemas").joinpath("check.schema.json").read_text())


def check(lab: Lab) -> dict[str, Any]:
    env = {**os.environ, "TALON_STATE_DIR": str(lab.dir / "state")}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "talon",
            "--config",
            str(lab.config_dir / "config.toml"),
            "check",
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    report: dict[str, Any] = json.loads(done.stdout)
    jsonschema.validate(report, SCHEMA)
    assert done.returncode == report["exit_code"]
    return report


def _tiered(report: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(a["kind"], a["target"]) for a in report["diagnosis"]["actions"] if a["tier"]]


def _failing(report: dict[str, Any]) -> set[str]:
    return {p["key"] for p in report["probes"] if p["status"] != "ok"}


def test_healthy_lab_has_no_findings(lab: Lab) -> None:
    report = check(lab)
    assert report["exit_code"] == 0
    assert report["diagnosis"] == {
        "healthy": True,
        "root_causes": [],
        "findings": [],
        "actions": [],
        # what the lab's adapters declare: its default profile has no forwarder-only restart
        "platform": {
            "runtime": "lab",
            "process_manager": "lab",
            "can": ["force_cycle", "restart_service", "uptime", "vm_shell"],
            "engine_service": None,
        },
    }


@contextmanager
def injected(lab: Lab, inject: Callable[[Lab], str]) -> Iterator[dict[str, Any]]:
    """The check report with the fault in place; the lab is healed afterwards."""
    inject(lab)
    try:
        yield check(lab)
    finally:
        faults.heal_all(lab)


def test_f1_split_brain_shows_the_heal_this_node_can_do(lab: Lab) -> None:
    """The lab imitates a VM whose host agent owns the forwards: the split-brain's heal
    here is the force-cycle, never a bridge heal the platform would refuse (F20)."""
    with injected(lab, faults.kill_forwarders) as report:
        diagnosis = report["diagnosis"]
        assert diagnosis["root_causes"] == ["split_brain"]
        heals = {(f["heal"] or {}).get("kind") for f in diagnosis["findings"] if not f["explained"]}
        assert heals == {"force_cycle"}
        # one snapshot is one unhealthy tick: the force-cycle waits for its confirmation (R13)
        assert _tiered(report) == []
        api = next(p for p in report["probes"] if p["key"] == "k8s.api")
        assert api["endpoint_class"] == "vm"  # the API is fine on the VM address


def test_f3_service_down_restarts_that_service(lab: Lab) -> None:
    with injected(lab, lambda lab: faults.service_down(lab, "inngest")) as report:
        assert _failing(report) == {"http.inngest"}
        assert report["diagnosis"]["root_causes"] == ["service_down"]
        assert _tiered(report) == [("restart_service", "inngest")]


def test_f4_runtime_down_explains_everything_above_it(lab: Lab) -> None:
    with injected(lab, faults.runtime_down) as report:
        diagnosis = report["diagnosis"]
        assert diagnosis["root_causes"] == ["runtime_down"]
        explained = {f["probe"] for f in diagnosis["findings"] if f["explained"]}
        assert {"redis.redis", "k8s.api"} <= explained
        # a force-cycle waits for confirmation over several ticks (R13): none on one snapshot
        assert _tiered(report) == []


def test_f6_rbac_drift_applies_the_guard_and_nothing_else(lab: Lab) -> None:
    with injected(lab, faults.drop_rbac) as report:
        assert _failing(report) == {"k8s.kubelet_proxy_get", "k8s.kubelet_proxy_create"}
        assert report["diagnosis"]["root_causes"] == ["rbac_drift"]
        assert _tiered(report) == [("apply_rbac_guard", "rbac")]
    # heal_all re-applied the guard manifest with the real kubectl
    assert KUBELET_CLIENT_CRB in layout.kubectl(lab.dir, "get", "clusterrolebindings", "-o", "name")


def test_f12_a_hung_target_times_out_alone_and_the_cycle_ends_on_time(lab: Lab) -> None:
    with injected(lab, lambda lab: faults.hang(lab, "typesense")) as report:
        assert _failing(report) == {"http.typesense"}
        typesense = next(p for p in report["probes"] if p["key"] == "http.typesense")
        assert typesense["error_kind"] == "timeout"
        assert report["duration_ms"] < (5 + 3) * 1000  # its 5 s timeout plus slack
        assert report["diagnosis"]["root_causes"] == ["service_down"]


def test_f17_network_down_is_not_a_local_fault(lab: Lab) -> None:
    with injected(lab, faults.network_down) as report:
        assert _failing(report) == {"http.cloud"}
        assert report["diagnosis"]["root_causes"] == ["network_down"]
        assert _tiered(report) == []  # no local heal for a WAN outage (and no agent configured)


def test_every_fault_verb_is_idempotent(lab: Lab) -> None:
    for verb in (faults.drop_rbac, faults.network_down, faults.kill_forwarders):
        verb(lab)
        verb(lab)
    faults.heal_all(lab)
    faults.heal_all(lab)
    time.sleep(0.2)
    assert check(lab)["exit_code"] == 0


def test_pods_follow_the_vm_and_a_pod_delete_restarts_its_service(lab: Lab) -> None:
    """kubectl sees the real VM: exec runs the real redis-cli, a stopped service is
    CrashLoopBackOff, and deleting its pod restarts that process only (a tier-1c heal)."""

    def kubectl(*args: str) -> str:
        return layout.kubectl(lab.dir, *args)

    assert kubectl("exec", "redis-0", "--", "redis-cli", "ping") == "PONG\n"
    others = {k: v for k, v in lab.vm_pids().items() if k != "redis"}
    faults.service_down(lab, "redis")
    try:
        row = next(
            r
            for r in kubectl("get", "pods", "--no-headers").splitlines()
            if r.startswith("redis-0")
        )
        assert row.split()[1:3] == ["0/1", "CrashLoopBackOff"]
        assert 'pod "redis-0" deleted' in kubectl("delete", "pod", "redis-0")
        assert lab.procs.pid("vm-redis") is not None
        assert {k: v for k, v in lab.vm_pids().items() if k != "redis"} == others
        assert kubectl("exec", "redis-0", "--", "redis-cli", "ping") == "PONG\n"
        assert check(lab)["exit_code"] == 0
    finally:
        faults.heal_all(lab)


def test_the_originals_own_config_files_run_the_original_built_ins_against_the_lab(
    lab: Lab, tmp_path: Path
) -> None:
    """Issue 20: the original's own config.toml and services.toml (examples/reference),
    unchanged but for a [stack] table that points the built-ins at this lab (its ports,
    its kubeconfig, its engine socket and namespace): `talon --check` runs the original's
    built-in probes under their original names beside the file's own, exits 0 as the
    original did, and `talon validate` shows the SOS wiring of the [escalation] keys."""
    ref = tmp_path / "ref"
    shutil.copytree(EXAMPLES / "reference", ref)
    ports, socket = lab.ports(), lab.engine_socket()
    stack = {
        "engine_socket": str(socket),
        "namespace": "default",
        "api_port": ports.kubeapi,
        "redis_port": ports.redis,
        "inngest_port": ports.inngest,
        "typesense_port": ports.typesense,
        "worker_port": ports.worker,
        "kubeconfig": str(layout.kubeconfig_path(lab.dir)),
        "kube_server": f"127.0.0.1:{ports.kubeapi}",
    }
    with (ref / "config.toml").open("a") as f:
        f.write("\n[stack]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in stack.items()))
    env = {
        **os.environ,
        "PATH": f"{lab.dir / 'bin'}{os.pathsep}{os.environ['PATH']}",  # the lab's colima
        "COLIMA_HOME": str(lab.dir / "vm"),
        "KUBECACHEDIR": str(layout.cache_dir(lab.dir)),
        "TALON_STATE_DIR": str(tmp_path / "state"),
    }

    def talon(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "talon", "--config", str(ref / "config.toml"), *args]
        return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=90)

    done = talon("--check")
    assert done.returncode == 0, done.stderr  # the original's --check always exits 0
    results = {r["name"]: r for r in json.loads(done.stdout)}
    # every built-in, under its original name (tests/config/test_builtins.py pins the list)
    builtins = {original_name(key) for key in builtin_keys()}
    assert len(builtins) == 17
    mine = {"launchd:voice_agent", "http:voice_agent", "http:gateway_slack", "script:nas_mount"}
    assert set(results) == builtins | mine
    passing = {name for name, r in results.items() if r["passed"]}
    # what the lab really serves answers through the original's probes
    assert {"colima", "docker", "k8s_api", "node_ready", "node_schedulable", "flannel"} <= passing
    assert {"http:inngest", "http:typesense"} <= passing
    assert "talos_container" not in passing  # the lab's engine runs no container by that name
    validated = json.loads(talon("validate").stdout)
    counts = [validated[f"{k}_probe_count"] for k in ("http", "launchd", "script")]
    assert counts == [5, 1, 1]  # as the original counted: its 3 built-in http probes too
    warnings = " ".join(validated["warnings"])
    assert "sos_recipient: iMessage needs macOS" in warnings  # wired, and honest about it
