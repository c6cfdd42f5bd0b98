"""The original Rust Talon's built-in probes, as the stack profile ``colima-talos``.

Colima on a Mac, a Talos control plane in a container on Colima's engine,
Kubernetes on it, and the services: the original's names, timeouts, critical
set and pass rules, made from Talon's own kinds. Every value the original
hard-coded is a ``[stack]`` key whose default is the original's value.

==================  =========================================  ===========================
original            here                                        its pass rule
==================  =========================================  ===========================
colima              [runtime.colima]                            the VM answers on its
                                                                control path (never status
                                                                text: R7, its bug #20)
docker              [container.docker] on ``engine_socket``     the engine answers
talos_container     [container.talos_container]                 the container is running
k8s_api             [k8s.k8s_api] check = "api"                 the API answers
node_ready          [k8s.node_ready]                            Ready is "True"
node_schedulable    [k8s.node_schedulable] + tolerate_taints    not cordoned, no NoSchedule
                                                                taint but control-plane's
flannel             [k8s.flannel] count = "available"           desired > 0, available ==
                                                                desired
redis               [k8s.redis] check = "exec"                  `redis-cli ping` in the pod
                                                                says PONG
kubelet_proxy_rbac  [k8s.kubelet_proxy_rbac] check = "can_i"    get and create nodes/proxy,
                                                                for both kubelet clients
vm:*                [script."vm:*"] in_vm, witness_for          a connect inside the VM
http:*              [http.inngest|typesense|worker]             HTTP 200
==================  =========================================  ===========================

The verification gate after a heal is the seed's post-restart invariant set:
the docker socket, the kube API, the kubelet proxy authz, a real exec path
(redis), Inngest and Typesense; every other probe says ``verify = false``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from talon.config.builtins.base import Profile, Table, Timeouts

NAME = "colima-talos"

DEFAULTS: Mapping[str, Any] = {
    "engine_socket": "~/.colima/default/docker.sock",  # the original's DOCKER_HOST
    "cluster_container": "joelclaw-controlplane-1",
    "node": None,  # every node (the original read the first: a one-node cluster)
    "namespace": "joelclaw",
    "redis_pod": "redis-0",
    "flannel_namespace": "kube-system",
    "flannel_daemonset": "kube-flannel",
    "kubelet_client_users": ["apiserver-kubelet-client", "kube-apiserver-kubelet-client"],
    "tolerate_taints": [
        "node-role.kubernetes.io/control-plane",
        "node-role.kubernetes.io/master",
    ],
    "api_port": 6443,
    "redis_port": 6379,
    "inngest_port": 8288,
    "typesense_port": 8108,
    "worker_port": 3111,
    "kubeconfig": None,  # the cluster client's own
    "context": None,
    "kube_server": None,  # HOST:PORT: the API on localhost, then on the VM's address
}

# The engine inside the VM answers (the original: `docker ps` over Colima's ssh).
_ENGINE_IN_VM = """\
docker ps -q >/dev/null; rc=$?
case $rc in
  0) echo "the engine answers inside the VM" ;;
  126|127) exit $rc ;;
  *) echo "docker ps exited $rc inside the VM"; exit 2 ;;
esac"""


def _connect_in_vm(port: int) -> str:
    """A TCP connect to 127.0.0.1:PORT from inside the VM, 2 s, as the original's; exit 2
    (critical) when refused, 127 (unknown, this node's tooling) without python3."""
    return (
        "python3 -c '\n"
        "import socket, sys\n"
        "try:\n"
        f'    socket.create_connection(("127.0.0.1", {port}), 2).close()\n'
        "except Exception as exc:\n"
        f'    print("127.0.0.1:{port} inside the VM: %s" % exc)\n'
        "    sys.exit(2)\n"
        f'print("127.0.0.1:{port} answers inside the VM")\n'
        "'"
    )


def build(s: Mapping[str, Any], t: Timeouts) -> list[Table]:
    critical = {"critical": True, "critical_after_consecutive_failures": t.critical_after}
    off = {"verify": False}  # not one of the post-restart invariants
    cluster: dict[str, Any] = {k: s[k] for k in ("kubeconfig", "context") if s[k]}
    if s["kube_server"]:
        cluster |= {"server": s["kube_server"], "endpoint": {"via": ["localhost", "vm"]}}
    node = {"node": s["node"]} if s["node"] else {}
    engine = {"socket": s["engine_socket"], "timeout_secs": t.cluster}
    k8s = {**cluster, "timeout_secs": t.cluster}

    def http(name: str, port: int, path: str, **more: Any) -> Table:
        url = f"http://127.0.0.1:{port}{path}"
        return Table("http", name, {"url": url, "expect_status": [200], **more})

    def witness(name: str, target: str, command: str, timeout: float) -> Table:
        keys = {"command": command, "in_vm": True, "witness_for": target, "timeout_secs": timeout}
        return Table("script", f"vm:{name}", {**keys, "class": "infra", "layer": "runtime", **off})

    vm_path = {"endpoint": {"via": ["localhost", "vm"]}, "timeout_secs": t.service}
    return [
        Table("runtime", "colima", {**critical, "timeout_secs": t.runtime, **off}),
        Table("container", "docker", {**critical, **engine}),
        Table(
            "container",
            "talos_container",
            {**critical, **engine, "container": s["cluster_container"], **off},
        ),
        Table("k8s", "k8s_api", {**critical, "check": "api", **k8s}),
        Table("k8s", "node_ready", {**critical, "check": "node_ready", **node, **k8s, **off}),
        Table(
            "k8s",
            "node_schedulable",
            {
                **critical,
                "check": "node_schedulable",
                "tolerate_taints": list(s["tolerate_taints"]),
                **node,
                **k8s,
                **off,
            },
        ),
        Table(
            "k8s",
            "flannel",
            {
                "check": "daemonset",
                "namespace": s["flannel_namespace"],
                "daemonset": s["flannel_daemonset"],
                "count": "available",
                **k8s,
                **off,
            },
        ),
        Table(
            "k8s",
            "redis",
            {
                **critical,
                "check": "exec",
                "namespace": s["namespace"],
                "pod": s["redis_pod"],
                "command": ["redis-cli", "ping"],
                "expect": "PONG",
                "class": "service",
                "layer": "service",
                **k8s,
                "timeout_secs": t.service,
            },
        ),
        Table(
            "k8s",
            "kubelet_proxy_rbac",
            {
                **critical,
                "check": "can_i",
                "verb": ["get", "create"],
                "resource": "nodes",
                "subresource": "proxy",
                "as": list(s["kubelet_client_users"]),
                **k8s,
            },
        ),
        witness("docker", "container.docker", _ENGINE_IN_VM, t.cluster),
        witness("k8s_api", "k8s.k8s_api", _connect_in_vm(s["api_port"]), t.cluster),
        witness("redis", "k8s.redis", _connect_in_vm(s["redis_port"]), t.service),
        witness("inngest", "http.inngest", _connect_in_vm(s["inngest_port"]), t.service),
        witness("typesense", "http.typesense", _connect_in_vm(s["typesense_port"]), t.service),
        http("inngest", s["inngest_port"], "/health", **vm_path),
        http("typesense", s["typesense_port"], "/health", **vm_path),
        http(
            "worker",
            s["worker_port"],
            "/api/inngest",
            timeout_secs=t.service,
            **{"class": "app", "layer": "app"},
            **off,
        ),
    ]


PROFILE = Profile(
    name=NAME,
    summary="the original Rust Talon's built-in probes: Colima, Talos in its engine, "
    "Kubernetes, redis, Inngest, Typesense and the worker",
    runtime_kind="colima",
    platforms=("macos",),
    defaults=DEFAULTS,
    build=build,
)
