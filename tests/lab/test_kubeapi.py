"""The emulated Kubernetes API against the real kubectl client (Debian's kubernetes-client).

The server runs as a real process over TLS on 127.0.0.2; kubectl reaches it
with a generated kubeconfig and client certificate, exactly as in the lab.
"""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from talon.lab.kube import layout
from talon.lab.kube.seed import KUBELET_CLIENT_CRB, KUBELET_CLIENT_USERS
from talon.lab.procs import Procs, wait_listening
from talon.probes.k8s import judge_daemonset, judge_nodes
from tests.support.procs import free_port

VM = "127.0.0.2"


@dataclass
class Api:
    dir: Path
    port: int
    redis_port: int
    procs: Procs

    def kubectl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            ["kubectl", "--context=lab-vm", "--request-timeout=5s", *args],
            env=layout.kubectl_env(self.dir),
            capture_output=True,
            text=True,
            timeout=30,
        )
        if check:
            assert done.returncode == 0, done.stderr
        return done

    def restart(self) -> None:
        self.procs.stop("vm-kubeapi")
        self.start()

    def start(self) -> None:
        self.procs.start("vm-kubeapi", layout.kube_server_argv(self.dir, f"{VM}:{self.port}"))
        assert wait_listening(VM, self.port), (self.dir / "logs" / "vm-kubeapi.log").read_text()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    directory = tmp_path_factory.mktemp("kube")
    port, redis_port = free_port(VM), free_port(VM)
    ports = {"redis": redis_port, "inngest": free_port(VM), "typesense": free_port(VM)}
    log = directory / "redis.log"
    log.write_text("1:M * Ready to accept connections\n2:M # Bad file format reading the AOF\n")
    layout.prepare(directory, VM, ports, {"redis": str(log)}, port)
    api = Api(directory, port, redis_port, Procs(directory))
    api.start()
    try:
        yield api
    finally:
        api.procs.stop("vm-kubeapi")


def test_get_nodes_json_is_a_node_list_the_probe_reads(api: Api) -> None:
    nodes = json.loads(api.kubectl("get", "nodes", "-o", "json").stdout)
    assert nodes["kind"] in ("List", "NodeList")
    assert judge_nodes(nodes, None, "node_ready") == (True, "1 node(s) Ready")
    assert judge_nodes(nodes, "lab-node", "node_schedulable")[0]
    ds = json.loads(
        api.kubectl("-n", "kube-system", "get", "daemonset", "kube-flannel", "-o", "json").stdout
    )
    assert judge_daemonset(ds) == (True, "daemonset kube-flannel: 1/1 ready")


def test_human_output_has_the_real_columns_for_awk_scripts(api: Api) -> None:
    header = api.kubectl("get", "nodes").stdout.splitlines()[0].split()
    assert header == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    row = api.kubectl("get", "nodes", "--no-headers").stdout.split()
    assert row[0] == "lab-node"
    assert row[1] == "Ready"  # what a heal script's awk '{print $2}' reads
    assert row[4].startswith("v1.")


def test_pods_report_crash_loop_when_the_backing_process_is_down(api: Api) -> None:
    def redis_row() -> list[str]:
        out = api.kubectl("get", "pods", "--no-headers").stdout
        return next(line.split() for line in out.splitlines() if line.startswith("redis-0"))

    assert redis_row()[1:3] == ["0/1", "CrashLoopBackOff"]  # nothing listens on its port
    with socket.socket() as listener:
        listener.bind((VM, api.redis_port))
        listener.listen(4)
        assert redis_row()[1:3] == ["1/1", "Running"]


def test_can_i_answers_from_rbac_state_and_apply_repairs_it(api: Api) -> None:
    can_i = ["auth", "can-i", "-q", "--as=apiserver-kubelet-client", "--all-namespaces"]
    for verb in ("get", "create"):
        assert api.kubectl(*can_i, verb, "nodes", "--subresource=proxy").returncode == 0
    # an unrelated permission stays denied (RBAC, not a yes-server)
    assert api.kubectl(*can_i, "delete", "nodes", check=False).returncode == 1

    api.kubectl("delete", "clusterrolebinding", KUBELET_CLIENT_CRB)
    try:
        denied = api.kubectl(*can_i, "get", "nodes", "--subresource=proxy", check=False)
        assert denied.returncode == 1
        assert api.kubectl("get", "nodes").returncode == 0  # every get still works
    finally:
        applied = api.kubectl("apply", "-f", str(layout.guard_path(api.dir)))
    assert "created" in applied.stdout
    assert api.kubectl(*can_i, "create", "nodes", "--subresource=proxy").returncode == 0
    again = api.kubectl("apply", "-f", str(layout.guard_path(api.dir)))
    assert "unchanged" in again.stdout
    crb = json.loads(
        api.kubectl("get", "clusterrolebinding", KUBELET_CLIENT_CRB, "-o", "json").stdout
    )
    assert [s["name"] for s in crb["subjects"]] == list(KUBELET_CLIENT_USERS)


def test_a_patch_that_drops_the_subjects_is_drift_too(api: Api) -> None:
    api.kubectl(
        "patch", "clusterrolebinding", KUBELET_CLIENT_CRB, "--type=merge", "-p", '{"subjects":[]}'
    )
    try:
        can_i = ["auth", "can-i", "--as=apiserver-kubelet-client", "get", "nodes"]
        done = api.kubectl(*can_i, "--subresource=proxy", check=False)
        assert (done.returncode, done.stdout.strip()) == (1, "no")
    finally:
        api.kubectl("apply", "-f", str(layout.guard_path(api.dir)))
    assert api.kubectl(*can_i, "--subresource=proxy").stdout.strip() == "yes"


def test_logs_and_exec_pass_the_kubelet_check_or_fail_with_the_real_text(api: Api) -> None:
    with socket.socket() as listener:  # redis-0 must be Ready for exec
        listener.bind((VM, api.redis_port))
        listener.listen(4)
        assert (
            api.kubectl("logs", "redis-0", "--tail=1").stdout
            == "2:M # Bad file format reading the AOF\n"
        )
        done = api.kubectl(
            "exec", "redis-0", "--", "sh", "-c", "echo hi; echo oops >&2; exit 3", check=False
        )
        assert (done.returncode, done.stdout, done.stderr) == (
            3,
            "hi\n",
            "oops\ncommand terminated with exit code 3\n",
        )
        api.kubectl("delete", "clusterrolebinding", KUBELET_CLIENT_CRB)
        try:
            for args, verb in (
                (("logs", "redis-0"), "get"),
                (("exec", "redis-0", "--", "true"), "create"),
            ):
                done = api.kubectl(*args, check=False)
                assert done.returncode != 0
                assert (
                    f"Forbidden (user=apiserver-kubelet-client, verb={verb}, resource=nodes, "
                    "subresource=proxy)" in done.stderr
                )
        finally:
            api.kubectl("apply", "-f", str(layout.guard_path(api.dir)))


def test_state_survives_a_restart_of_the_api_server(api: Api) -> None:
    api.kubectl("create", "namespace", "survivor")
    api.restart()
    names = api.kubectl("get", "namespaces", "-o", "name").stdout.split()
    assert "namespace/survivor" in names


def test_no_credentials_is_unauthorized_and_a_user_without_rbac_is_forbidden(api: Api) -> None:
    pki = layout.pki_dir(api.dir)
    context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    with pytest.raises(urllib.error.HTTPError) as anonymous:
        urllib.request.urlopen(f"https://{VM}:{api.port}/api/v1/nodes", context=context, timeout=5)
    assert anonymous.value.code == 401
    denied = api.kubectl("get", "nodes", "--as=nobody", check=False)
    assert (
        'User "nobody" cannot list resource "nodes" in API group "" at the cluster scope'
        in denied.stderr
    )


def test_the_api_is_served_only_over_tls(api: Api) -> None:
    with socket.create_connection((VM, api.port), 2) as s:
        s.sendall(b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = s.recv(100)
    assert not answer.startswith(b"HTTP/1.1 200")
