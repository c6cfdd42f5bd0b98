"""The k8s probe through the real kubectl client (R8).

The full API (nodes, daemonsets, can-i) is served by the lab's emulated API
server in a later issue; here the real kubectl talks to loopback stubs, and the
node and daemonset verdicts are tested on objects shaped as in the Kubernetes
API reference (core/v1 Node, apps/v1 DaemonSet).
"""

from __future__ import annotations

import asyncio
import dataclasses
import http.server
import json
import shlex
import threading
import time
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from talon.adapters.command import CommandResult, exec_env
from talon.adapters.kube.kubectl import KubectlClient, classify
from talon.config import K8sProbe
from talon.probes import ErrorKind, ProbeContext, Status, k8s
from talon.probes.runner import run_cycle
from talon.report import Observation, report_json
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


class WedgedApi:
    """A real HTTP server on 127.0.0.1 standing in for an API behind a live forwarder:
    it answers ``/version`` and ``/readyz`` until ``wedged`` is set, then accepts every
    connection and never answers (as a SIGSTOPped API server behind its forward)."""

    def __init__(self) -> None:
        self.wedged = threading.Event()
        self.released = threading.Event()
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if api.wedged.is_set():
                    api.released.wait(30)
                    return
                version = self.path.startswith("/version")
                body = b'{"major":"1","minor":"32"}' if version else b"ok"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> WedgedApi:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


def test_api_that_accepts_but_never_answers_is_bounded(ctx: ProbeContext, tmp_path: Path) -> None:
    """R8: a live forwarder in front of a dead API must not cost a minute of retries; and
    kubectl's own timeout is the API's (``timeout``, critical), never the tool's. The API
    answered first, as a real one did before it hung (a kubectl that caches what it learnt
    of the server, as gcloud's version dispatcher does, then asks it once, not twice)."""
    with WedgedApi() as api:
        spec = _api_probe(_kubeconfig(tmp_path, api.port), timeout=1)
        assert _check(spec, ctx).status is Status.OK
        api.wedged.set()
        started = time.monotonic()
        obs = _check(spec, ctx)
        elapsed = time.monotonic() - started
    assert (obs.status, obs.error_kind) == (Status.CRITICAL, ErrorKind.TIMEOUT), obs
    assert elapsed < 10, elapsed


def test_api_refused(ctx: ProbeContext, tmp_path: Path) -> None:
    obs = _check(_api_probe(_kubeconfig(tmp_path, procs.free_port())), ctx)
    assert obs.error_kind is ErrorKind.REFUSED


def test_every_call_carries_request_timeout() -> None:
    """Exactly the probe's timeout, as a Go duration; Talon's own bound is 1 s longer."""
    argv = KubectlClient(env={}, kubeconfig="/k", context="c").argv(["get", "nodes"], 2.5)
    assert argv == [
        "kubectl",
        "--kubeconfig=/k",
        "--context=c",
        "--request-timeout=2500ms",
        "get",
        "nodes",
    ]
    assert KubectlClient(env={}).argv(["get", "nodes"], 3)[1] == "--request-timeout=3s"


EVERY_CHECK: list[dict[str, Any]] = [
    {"check": "api"},
    {"check": "node_ready"},
    {"check": "node_schedulable", "node": "n1"},
    {"check": "daemonset", "namespace": "kube-system", "daemonset": "kube-proxy"},
    {"check": "can_i", "verb": "get", "resource": "pods"},
    {"check": "api", "server": "127.0.0.1:6443", "endpoint": {"via": ["localhost", "vm"]}},
]


@pytest.mark.parametrize(
    "check", EVERY_CHECK, ids=["api", "nodes", "schedulable", "daemonset", "can_i", "paths"]
)
def test_missing_kubectl_makes_every_k8s_probe_unknown_tool_missing(
    ctx: ProbeContext, tmp_path: Path, check: dict[str, Any]
) -> None:
    """F26, R1: no kubectl on PATH is this node's tooling, never the cluster's: unknown,
    naming the binary, the PATH searched and the fix."""
    env = exec_env(inherit_path=False, base={"PATH": ""}) | {"PATH": str(tmp_path)}
    bare = dataclasses.replace(ctx, env=env)
    spec = K8sProbe.model_validate(
        {"name": "k", "kind": "k8s", "kubeconfig": str(tmp_path / "kc"), **check}
    )
    obs = _check(spec, bare)
    assert (obs.status, obs.error_kind) == (Status.UNKNOWN, ErrorKind.TOOL_MISSING), obs
    assert "kubectl is not available: kubectl: No such file or directory" in obs.message
    assert f"(PATH={tmp_path})" in obs.message
    assert "fix: install kubectl, or add its directory to [exec] path" in obs.message


def test_a_cycle_with_kubectl_missing_is_valid_check_json(
    ctx: ProbeContext, tmp_path: Path
) -> None:
    """The new kinds are in ``talon.check/v1``: an unknown probe, and its paths."""
    env = exec_env(inherit_path=False, base={"PATH": ""}) | {"PATH": str(tmp_path)}
    spec = K8sProbe.model_validate(
        {"name": "api", "kind": "k8s", "critical": True, **EVERY_CHECK[-1]}
    )
    report = asyncio.run(run_cycle([spec], dataclasses.replace(ctx, env=env)))
    document = report_json(report)
    schema = resources.files("talon.schemas").joinpath("check.schema.json").read_text()
    jsonschema.validate(document, json.loads(schema))
    [probe] = document["probes"]
    assert (probe["status"], probe["error_kind"]) == ("unknown", "tool_missing")
    assert [p["error_kind"] for p in probe["paths"]] == ["tool_missing", "unavailable"]
    assert document["exit_code"] == 2  # a critical probe that cannot tell still fails the check


def _with_kubectl(ctx: ProbeContext, tmp_path: Path, body: str) -> ProbeContext:
    """A shell script named kubectl first on PATH: a tool that misbehaves."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    script = bindir / "kubectl"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return dataclasses.replace(ctx, env={**ctx.env, "PATH": f"{bindir}:{ctx.env['PATH']}"})


def test_a_kubectl_that_hangs_is_unknown_tool_timeout(ctx: ProbeContext, tmp_path: Path) -> None:
    """kubectl itself hangs past its own --request-timeout (an exec credential plugin
    waiting for a login does this) and never says the API failed: Talon cannot tell."""
    hung = _with_kubectl(ctx, tmp_path, "echo 'Opening a browser to log in' >&2; exec sleep 30")
    started = time.monotonic()
    obs = _check(_api_probe(str(tmp_path / "kc"), timeout=0.5), hung)
    assert time.monotonic() - started < 5
    assert (obs.status, obs.error_kind) == (Status.UNKNOWN, ErrorKind.TOOL_TIMEOUT), obs
    assert "kubectl itself gave no answer within 1.5s" in obs.message
    assert "past its own --request-timeout=500ms" in obs.message
    assert "it said: Opening a browser to log in" in obs.message


SILENT_API = (
    'E1205 10:49:43.928433 11160 memcache.go:265] "Unhandled Error" err="couldn\'t get '
    'current server API group list: Get \\"https://127.0.0.1:6443/api?timeout=1s\\": '
    'context deadline exceeded"'
)


def test_a_kubectl_still_retrying_a_silent_api_is_the_apis_timeout(
    ctx: ProbeContext, tmp_path: Path
) -> None:
    """Discovery asks the API again and again, each attempt bounded by --request-timeout
    and said on stderr as it fails (kubectl's own words, above): past Talon's bound that
    is still the API's timeout, not the tool's."""
    said = shlex.quote(SILENT_API)
    retrying = _with_kubectl(ctx, tmp_path, f"echo {said} >&2; exec sleep 30")
    obs = _check(_api_probe(str(tmp_path / "kc"), timeout=0.5), retrying)
    assert (obs.status, obs.error_kind) == (Status.CRITICAL, ErrorKind.TIMEOUT), obs
    assert "still retrying the API" in obs.message
    assert "context deadline exceeded" in obs.message


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
