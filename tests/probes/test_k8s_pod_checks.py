"""The k8s checks the original's built-ins need (issue 20 points 2 and 6).

Its pass rules on the pure judges: node_schedulable's taint rule, flannel's
available == desired, redis's "contains PONG". Then the kubelet path itself:
``exec`` and ``logs`` really run ``kubectl exec``/``logs`` against the lab's API
server (TLS on 127.0.0.2, a real redis behind pod redis-0), with the profile's
own redis and RBAC probes, and RBAC drift (F6) breaks both with the real text.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from talon.adapters.kube import ExecResult
from talon.config import K8sProbe, load
from talon.lab.kube import layout
from talon.lab.kube.seed import KUBELET_CLIENT_CRB
from talon.node import NodeIdentity
from talon.probes import ErrorKind, ProbeContext, Status, k8s
from talon.probes.k8s import judge_daemonset, judge_exec, judge_logs, judge_nodes
from tests.lab.test_kubeapi import VM, Api
from tests.lab.test_kubeapi import api as api  # the module-scoped lab API fixture

CONTROL_PLANE = ["node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master"]


def _node(spec: dict[str, Any]) -> dict[str, Any]:
    return {"items": [{"metadata": {"name": "cp-1"}, "spec": spec, "status": {}}]}


def _taint(key: str, effect: str = "NoSchedule") -> dict[str, str]:
    return {"key": key, "effect": effect}


def test_node_schedulable_is_the_originals_rule_when_taints_are_tolerated_by_name() -> None:
    def verdict(spec: dict[str, Any]) -> tuple[bool, str]:
        return judge_nodes(_node(spec), None, "node_schedulable", CONTROL_PLANE)

    assert verdict({"taints": [_taint(CONTROL_PLANE[0])]})[0]  # its bug #9: never page on it
    assert verdict({"taints": [_taint(CONTROL_PLANE[1])]})[0]
    assert verdict({"taints": [_taint("x", "PreferNoSchedule"), _taint("y", "NoExecute")]})[0]
    assert verdict({"unschedulable": True}) == (False, "not schedulable: cp-1")
    disk = verdict(
        {"taints": [_taint(CONTROL_PLANE[0]), _taint("node.kubernetes.io/disk-pressure")]}
    )
    assert disk == (
        False,
        "not schedulable: cp-1 (taint node.kubernetes.io/disk-pressure:NoSchedule)",
    )
    # without tolerate_taints, Talon's own rule: only a cordon counts
    plain = _node({"taints": [_taint("node.kubernetes.io/disk-pressure")]})
    assert judge_nodes(plain, None, "node_schedulable")[0]


def test_flannel_is_available_equal_to_desired_and_never_zero_of_zero() -> None:
    def ds(available: int, desired: int, ready: int | None = None) -> dict[str, Any]:
        status = {"numberAvailable": available, "desiredNumberScheduled": desired}
        return {"metadata": {"name": "kube-flannel"}, "status": {**status, "numberReady": ready}}

    assert judge_daemonset(ds(1, 1), "available") == (True, "daemonset kube-flannel: 1/1 available")
    assert judge_daemonset(ds(2, 2), "available")[0]
    assert not judge_daemonset(ds(0, 1, ready=1), "available")[0]  # ready, not yet available
    assert not judge_daemonset(ds(0, 0), "available")[0]
    assert not judge_daemonset(ds(0, 0, ready=0))[0]


def test_exec_passes_on_the_expected_output_as_the_originals_redis_probe() -> None:
    ping = ["redis-cli", "ping"]
    assert judge_exec(ExecResult(0, "PONG\n", ""), ping, "PONG")[:2] == (
        True,
        "`redis-cli ping` exited 0: PONG",
    )
    refused = ExecResult(1, "", "Could not connect to Redis at 127.0.0.1:6379: Connection refused")
    ok, message, kind = judge_exec(refused, ping, "PONG")
    assert (ok, kind) == (False, ErrorKind.EXIT_CODE)
    assert "Connection refused" in message
    assert "expected 'PONG'" in message
    assert judge_exec(ExecResult(0, "LOADING\n", ""), ping, "PONG")[::2] == (
        False,
        ErrorKind.BODY_MISMATCH,
    )
    assert judge_exec(ExecResult(0, "", ""), ["true"], None)[0]
    assert not judge_exec(ExecResult(3, "", ""), ["false"], None)[0]
    assert judge_logs("a\nready\n", "ns/p", "ready") == (
        True,
        "logs of ns/p readable: ready",
        ErrorKind.BODY_MISMATCH,
    )
    assert not judge_logs("a\n", "ns/p", "ready")[0]


def test_exec_and_logs_say_what_they_need() -> None:
    with pytest.raises(ValidationError, match="needs pod, command"):
        K8sProbe(name="x", kind="k8s", check="exec", namespace="ns")
    with pytest.raises(ValidationError, match="needs namespace, pod"):
        K8sProbe(name="x", kind="k8s", check="logs")
    with pytest.raises(ValidationError, match="at least one"):
        K8sProbe(name="x", kind="k8s", check="can_i", verb=[], resource="nodes")


@pytest.fixture
def lab_redis(api: Api, tmp_path: Path) -> Iterator[int]:
    """A real redis-server behind pod redis-0: the lab's readiness check and the
    redis-cli shim inside the pod both reach it on the VM address."""
    binary = shutil.which("redis-server")
    assert binary, "redis-server is not installed: run scripts/setup.sh"
    argv = [binary, "--port", str(api.redis_port), "--bind", VM, "--dir", str(tmp_path)]
    proc = subprocess.Popen(
        [*argv, "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection((VM, api.redis_port), 0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.02)
        yield api.redis_port
    finally:
        proc.kill()
        proc.wait()


def test_exec_and_logs_run_through_the_lab_apis_kubelet_path(
    api: Api,
    lab_redis: int,
    ctx: ProbeContext,
    tmp_path: Path,
    identity: NodeIdentity,
) -> None:
    """The profile's redis (exec) and kubelet_proxy_rbac probes, from a Talon-format config
    naming the profile, against the real kubectl and the lab's API; then F6."""
    kubeconfig = layout.kubeconfig_path(api.dir)
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "services.toml").write_text("")
    (tmp_path / "cfg" / "config.toml").write_text(
        f'[stack]\nprofile = "original"\nnamespace = "default"\n'
        f'kubeconfig = "{kubeconfig}"\ncontext = "lab-vm"\n'
    )
    probes = {p.key: p for p in load(tmp_path / "cfg" / "config.toml", identity=identity).probes}
    redis, rbac = probes["k8s.redis"], probes["k8s.kubelet_proxy_rbac"]
    assert isinstance(redis, K8sProbe)
    assert isinstance(rbac, K8sProbe)
    logs = K8sProbe.model_validate(
        {
            "name": "redis_logs",
            "check": "logs",
            "namespace": "default",
            "pod": "redis-0",
            "tail_lines": 2,
            "expect": "Ready to accept connections",
            "kubeconfig": str(kubeconfig),
            "context": "lab-vm",
        }
    )
    failing = redis.model_copy(update={"command": ["redis-cli", "-p", "1", "ping"]})

    def check(*specs: K8sProbe) -> list[Any]:
        async def all_of() -> list[Any]:
            return list(await asyncio.gather(*(k8s.probe(s, ctx) for s in specs)))

        return asyncio.run(all_of())

    ok_redis, ok_rbac, ok_logs, refused = check(redis, rbac, logs, failing)
    assert (ok_redis.status, ok_redis.message) == (
        Status.OK,
        "exec in default/redis-0: `redis-cli ping` exited 0: PONG",
    )
    assert ok_rbac.status is Status.OK, ok_rbac.message
    assert "as apiserver-kubelet-client, kube-apiserver-kubelet-client: yes" in ok_rbac.message
    assert ok_logs.status is Status.OK, ok_logs.message
    # the command ran and failed: its own exit code and words, not the API's
    assert (refused.status, refused.error_kind) == (Status.CRITICAL, ErrorKind.EXIT_CODE)
    assert "exited 1: Could not connect to Redis" in refused.message

    api.kubectl("delete", "clusterrolebinding", KUBELET_CLIENT_CRB)  # F6: RBAC drift
    try:
        drift = check(redis, rbac, logs)
    finally:
        api.kubectl("apply", "-f", str(layout.guard_path(api.dir)))
    assert [(o.status, o.error_kind) for o in drift] == [(Status.CRITICAL, ErrorKind.DENIED)] * 3
    assert "Forbidden (user=apiserver-kubelet-client, verb=create" in drift[0].message
    assert "no for apiserver-kubelet-client get" in drift[1].message
    assert "verb=get, resource=nodes, subresource=proxy" in drift[2].message
    assert check(redis)[0].status is Status.OK  # the guard manifest put it back
