"""The k8s probe through the real kubectl client (R8).

The full API (nodes, daemonsets, can-i) is served by the lab's emulated API
server in a later issue; here the real kubectl talks to loopback stubs, and the
node and daemonset verdicts are tested on objects shaped as in the Kubernetes
API reference (core/v1 Node, apps/v1 DaemonSet).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from talon.adapters.command import CommandResult, exec_env
from talon.adapters.kube.kubectl import KubectlClient, classify
from talon.config import K8sProbe
from talon.probes import ErrorKind, ProbeContext, Status, k8s
from talon.report import Observation
from tests.support import procs


def _kubeconfig(tmp_path: Path, port: int) -> str:
    path = tmp_path / "kubeconfig"
    path.write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters: [{{name: lab, cluster: {{server: 'http://127.0.0.1:{port}'}}}}]\n"
        "contexts: [{name: lab, context: {cluster: lab, user: lab}}]\n"
        "current-context: lab\nusers: [{name: lab, user: {}}]\n"
    )
    return str(path)


def _api_probe(kubeconfig: str, timeout: float = 2) -> K8sProbe:
    return K8sProbe(
        name="api", kind="k8s", check="api", kubeconfig=kubeconfig, timeout_secs=timeout
    )


def _check(spec: K8sProbe, ctx: ProbeContext) -> Observation:
    return asyncio.run(k8s.probe(spec, ctx))


def test_api_ready_through_real_kubectl(
    farm: tuple[str, int], ctx: ProbeContext, tmp_path: Path
) -> None:
    obs = _check(_api_probe(_kubeconfig(tmp_path, farm[1])), ctx)
    assert obs.status is Status.OK, obs.message
    assert obs.message == "readyz: ok"


def test_api_that_accepts_but_never_answers_is_bounded(ctx: ProbeContext, tmp_path: Path) -> None:
    """R8: a live forwarder in front of a dead API must not cost a minute of retries."""
    with procs.silent_listener() as port:
        started = time.monotonic()
        obs = _check(_api_probe(_kubeconfig(tmp_path, port), timeout=1), ctx)
        elapsed = time.monotonic() - started
    assert obs.error_kind is ErrorKind.TIMEOUT
    assert elapsed < 10, elapsed


def test_api_refused(ctx: ProbeContext, tmp_path: Path) -> None:
    obs = _check(_api_probe(_kubeconfig(tmp_path, procs.free_port())), ctx)
    assert obs.error_kind is ErrorKind.REFUSED


def test_every_call_carries_request_timeout() -> None:
    argv = KubectlClient(env={}, kubeconfig="/k", context="c").argv(["get", "nodes"], 2.5)
    assert argv == [
        "kubectl",
        "--kubeconfig=/k",
        "--context=c",
        "--request-timeout=3s",
        "get",
        "nodes",
    ]


def test_missing_kubectl_is_a_visible_not_found(ctx: ProbeContext, tmp_path: Path) -> None:
    """R1: with no kubectl on PATH the probe says so."""
    bare = ProbeContext(
        ctx.identity,
        ctx.runtime,
        ctx.process_manager,
        exec_env(inherit_path=False, base={"PATH": ""}) | {"PATH": str(tmp_path)},
    )
    obs = _check(_api_probe(str(tmp_path / "kc")), bare)
    assert obs.error_kind is ErrorKind.NOT_FOUND
    assert "kubectl" in obs.message


@pytest.mark.parametrize(
    ("stderr", "kind"),
    [
        (
            "Error from server (Forbidden): Forbidden (user=apiserver-kubelet-client, verb=create, "
            "resource=nodes, subresource=proxy)",
            ErrorKind.DENIED,
        ),
        (
            "The connection to the server 127.0.0.1:6443 was refused - did you specify the right host "
            "or port?",
            ErrorKind.REFUSED,
        ),
        ("Unable to connect to the server: EOF", ErrorKind.EMPTY_REPLY),
        ("Unable to connect to the server: context deadline exceeded", ErrorKind.TIMEOUT),
        (
            'Error from server (NotFound): daemonsets.apps "kube-flannel" not found',
            ErrorKind.NOT_FOUND,
        ),
        (
            "Unable to connect to the server: dial tcp: lookup api.example: no such host",
            ErrorKind.DNS,
        ),
        (
            "Unable to connect to the server: x509: certificate signed by unknown authority",
            ErrorKind.TLS,
        ),
    ],
)
def test_kubectl_error_messages_are_classified(stderr: str, kind: ErrorKind) -> None:
    result = CommandResult(("kubectl",), 1, "", stderr + "\n", 0.1)
    assert classify(result, 5).kind is kind


def _node(
    name: str, ready: str = "True", unschedulable: bool = False, taints: list[Any] | None = None
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name},
        "spec": {"unschedulable": unschedulable, "taints": taints or []},
        "status": {
            "conditions": [
                {"type": "MemoryPressure", "status": "False"},
                {"type": "Ready", "status": ready, "reason": "KubeletReady"},
            ]
        },
    }


def test_node_verdicts() -> None:
    nodes = {"kind": "NodeList", "items": [_node("a"), _node("b", ready="False")]}
    assert k8s.judge_nodes(nodes, None, "node_ready") == (False, "not Ready: b")
    assert k8s.judge_nodes(nodes, "a", "node_ready") == (True, "1 node(s) Ready")
    assert k8s.judge_nodes(nodes, "zz", "node_ready") == (False, "node 'zz' not found")
    cordoned = {"items": [_node("a", unschedulable=True)]}
    assert k8s.judge_nodes(cordoned, None, "node_schedulable") == (False, "not schedulable: a")
    tainted = {
        "items": [
            _node("a", taints=[{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}])
        ]
    }
    assert not k8s.judge_nodes(tainted, None, "node_schedulable")[0]
    assert k8s.judge_nodes({"items": []}, None, "node_ready") == (
        False,
        "the cluster lists no nodes",
    )


def test_daemonset_verdict() -> None:
    ds = {
        "metadata": {"name": "kube-flannel"},
        "status": {"desiredNumberScheduled": 1, "numberReady": 0},
    }
    assert k8s.judge_daemonset(ds) == (False, "daemonset kube-flannel: 0/1 ready")
    ds["status"]["numberReady"] = 1
    assert k8s.judge_daemonset(ds)[0]
    assert not k8s.judge_daemonset({"status": {"desiredNumberScheduled": 0}})[0]


def test_model_requires_what_each_check_needs() -> None:
    with pytest.raises(ValueError, match="needs namespace, daemonset"):
        K8sProbe(name="d", kind="k8s", check="daemonset")
    with pytest.raises(ValueError, match="needs verb, resource"):
        K8sProbe(name="c", kind="k8s", check="can_i")
    with pytest.raises(ValueError, match="endpoint needs server"):
        K8sProbe.model_validate(
            {"name": "a", "kind": "k8s", "check": "api", "endpoint": {"via": ["localhost", "vm"]}}
        )
