"""The lab cluster's first state: one node, kube-flannel, the lab's pods, and RBAC.

Objects carry every field the API reference marks required (LAB-NOTES gotcha
10), so any real client can parse them. The ``lab`` section holds the lab's
hooks per pod: ``readinessTcp`` (a kubelet-like TCP check of the backing VM
process), ``process`` (the lab process a pod delete restarts), ``logFile``
and ``env`` (for ``kubectl logs`` and ``exec``).
"""

from __future__ import annotations

import uuid
from typing import Any

from talon.lab.kube.state import now_rfc3339

NODE = "lab-node"
KUBELET_CLIENT_CRB = "apiserver-kubelet-client-kubelet-api-admin"
KUBELET_CLIENT_USERS = ("apiserver-kubelet-client", "kube-apiserver-kubelet-client")
RBAC = "rbac.authorization.k8s.io"


def meta(name: str, namespace: str | None = None, **labels: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": name,
        "uid": str(uuid.uuid4()),
        "resourceVersion": "1",
        "creationTimestamp": now_rfc3339(),
    }
    if namespace:
        out["namespace"] = namespace
    if labels:
        out["labels"] = dict(labels)
    return out


def cluster_role(name: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": f"{RBAC}/v1",
        "kind": "ClusterRole",
        "metadata": meta(name),
        "rules": rules,
    }


def cluster_role_binding(name: str, role: str, subjects: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "apiVersion": f"{RBAC}/v1",
        "kind": "ClusterRoleBinding",
        "metadata": meta(name),
        "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": role},
        "subjects": subjects,
    }


def kubelet_client_binding() -> dict[str, Any]:
    """The binding F6 drops and the RBAC guard re-applies (its manifest, too)."""
    subjects = [{"apiGroup": RBAC, "kind": "User", "name": u} for u in KUBELET_CLIENT_USERS]
    return cluster_role_binding(KUBELET_CLIENT_CRB, "system:kubelet-api-admin", subjects)


def guard_manifest() -> dict[str, Any]:
    """What ``kubectl apply -f`` gets: the binding without server-set metadata."""
    binding = kubelet_client_binding()
    binding["metadata"] = {"name": KUBELET_CLIENT_CRB}
    return binding


def _group(name: str) -> list[dict[str, str]]:
    return [{"apiGroup": RBAC, "kind": "Group", "name": name}]


def _rbac() -> list[dict[str, Any]]:
    discovery_urls = ["/api", "/api/*", "/apis", "/apis/*", "/openapi", "/openapi/*"]
    health_urls = ["/healthz", "/livez", "/readyz", "/version", "/version/"]
    return [
        cluster_role("cluster-admin", [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]),
        cluster_role(
            "system:basic-user",
            [
                {
                    "apiGroups": ["authorization.k8s.io"],
                    "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                    "verbs": ["create"],
                }
            ],
        ),
        cluster_role(
            "system:discovery",
            [{"nonResourceURLs": discovery_urls + health_urls, "verbs": ["get"]}],
        ),
        cluster_role(
            "system:kubelet-api-admin",
            [
                {
                    "apiGroups": [""],
                    "resources": ["nodes"],
                    "verbs": ["get", "list", "watch", "proxy"],
                },
                {
                    "apiGroups": [""],
                    "resources": ["nodes/log", "nodes/metrics", "nodes/proxy", "nodes/stats"],
                    "verbs": ["*"],
                },
            ],
        ),
        cluster_role_binding("cluster-admin", "cluster-admin", _group("system:masters")),
        cluster_role_binding(
            "system:basic-user", "system:basic-user", _group("system:authenticated")
        ),
        cluster_role_binding(
            "system:discovery", "system:discovery", _group("system:authenticated")
        ),
        kubelet_client_binding(),
    ]


def _node(vm_address: str) -> dict[str, Any]:
    condition = {
        "type": "Ready",
        "status": "True",
        "reason": "KubeletReady",
        "message": "kubelet is posting ready status",
        "lastHeartbeatTime": now_rfc3339(),
        "lastTransitionTime": now_rfc3339(),
    }
    resources = {"cpu": "2", "memory": "4Gi", "pods": "110"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": meta(
            NODE,
            **{"kubernetes.io/hostname": NODE, "node-role.kubernetes.io/control-plane": ""},
        ),
        "spec": {"podCIDR": "10.42.0.0/24"},
        "status": {
            "conditions": [condition],
            "addresses": [
                {"type": "InternalIP", "address": vm_address},
                {"type": "Hostname", "address": NODE},
            ],
            "capacity": resources,
            "allocatable": resources,
            "nodeInfo": {
                "architecture": "amd64",
                "bootID": str(uuid.uuid4()),
                "containerRuntimeVersion": "containerd://1.7.20",
                "kernelVersion": "6.1.0",
                "kubeProxyVersion": "v1.31.0",
                "kubeletVersion": "v1.31.0",
                "machineID": uuid.uuid4().hex,
                "operatingSystem": "linux",
                "osImage": "Talon lab",
                "systemUUID": str(uuid.uuid4()),
            },
        },
    }


def _daemonset() -> dict[str, Any]:
    labels = {"app": "flannel"}
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {**meta("kube-flannel", "kube-system", **labels), "generation": 1},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [{"name": "kube-flannel", "image": "flannel/flannel:v0.25.5"}]
                },
            },
        },
        "status": {
            "currentNumberScheduled": 1,
            "desiredNumberScheduled": 1,
            "numberMisscheduled": 0,
            "numberReady": 1,
            "numberAvailable": 1,
            "updatedNumberScheduled": 1,
            "observedGeneration": 1,
        },
    }


def pod(name: str, namespace: str, container: str, image: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta(name, namespace, app=container),
        "spec": {"nodeName": NODE, "containers": [{"name": container, "image": image}]},
        "status": {"phase": "Running", "podIP": "10.42.0.10", "startTime": now_rfc3339()},
    }


def _namespace(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": meta(name, **{"kubernetes.io/metadata.name": name}),
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }


# pod name -> (container, image, the lab service behind it)
LAB_PODS = {
    "redis-0": ("redis", "redis:7.2", "redis"),
    "inngest-0": ("inngest", "inngest/inngest:v1.1", "inngest"),
    "typesense-0": ("typesense", "typesense/typesense:27.1", "typesense"),
}


def initial_state(
    vm_address: str, ports: dict[str, int], logs: dict[str, str], shim_path: str
) -> dict[str, Any]:
    """The cluster's objects (by ``group/version/plural`` then ``namespace/name``) and hooks."""
    objects: dict[str, dict[str, Any]] = {}

    def put(key: str, obj: dict[str, Any]) -> None:
        m = obj["metadata"]
        objects.setdefault(key, {})[f"{m.get('namespace', '')}/{m['name']}"] = obj

    for ns in ("default", "kube-system"):
        put("v1/namespaces", _namespace(ns))
    put("v1/nodes", _node(vm_address))
    put("apps/v1/daemonsets", _daemonset())
    flannel = pod("kube-flannel-ds-lab", "kube-system", "kube-flannel", "flannel/flannel:v0.25.5")
    put("v1/pods", flannel)
    hooks: dict[str, dict[str, Any]] = {}
    for name, (container, image, service) in LAB_PODS.items():
        put("v1/pods", pod(name, "default", container, image))
        hooks[f"default/{name}"] = {
            "readinessTcp": f"{vm_address}:{ports[service]}",
            "process": f"vm-{service}",
            "logFile": logs.get(service),
            "env": {"PATH": shim_path},
        }
    for obj in _rbac():
        plural = "clusterroles" if obj["kind"] == "ClusterRole" else "clusterrolebindings"
        put(f"{RBAC}/v1/{plural}", obj)
    return {"resourceVersion": 1, "objects": objects, "lab": {"pods": hooks, "tokens": {}}}
