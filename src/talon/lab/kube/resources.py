"""The resource types the emulated API serves, and the discovery documents built from them.

Shapes follow the Kubernetes API reference (meta/v1 APIVersions, APIGroupList,
APIGroup, APIResourceList; the OpenAPI v3 discovery document). Discovery is
the legacy kind: kubectl asks for aggregated discovery first and falls back
when it gets a plain ``APIVersions`` (LAB-NOTES).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

VERSION = {
    # kubectl's exec needs a server of at least 1.30 (WebSocket, LAB-NOTES gotcha 6).
    "major": "1",
    "minor": "31",
    "gitVersion": "v1.31.0-talon-lab",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.22.5",
    "compiler": "gc",
    "platform": "linux/amd64",
}
ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
READ_VERBS = ("get", "list", "watch")


@dataclass(frozen=True)
class ResourceType:
    group: str  # "" is the core group
    version: str
    plural: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    subresources: tuple[str, ...] = ()

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> str:
        return f"{self.group_version}/{self.plural}"


TYPES = (
    ResourceType("", "v1", "namespaces", "Namespace", False, ("ns",), subresources=("status",)),
    ResourceType("", "v1", "nodes", "Node", False, ("no",), subresources=("proxy", "status")),
    ResourceType("", "v1", "pods", "Pod", True, ("po",), subresources=("exec", "log", "status")),
    ResourceType("", "v1", "events", "Event", True, ("ev",)),
    ResourceType("apps", "v1", "daemonsets", "DaemonSet", True, ("ds",), subresources=("status",)),
    ResourceType("apps", "v1", "deployments", "Deployment", True, ("deploy",)),
    ResourceType("apps", "v1", "statefulsets", "StatefulSet", True, ("sts",)),
    ResourceType("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False),
    ResourceType(
        "rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False
    ),
    ResourceType("rbac.authorization.k8s.io", "v1", "roles", "Role", True),
    ResourceType("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True),
    ResourceType(
        "authorization.k8s.io",
        "v1",
        "selfsubjectaccessreviews",
        "SelfSubjectAccessReview",
        False,
        verbs=("create",),
    ),
    ResourceType(
        "authorization.k8s.io",
        "v1",
        "subjectaccessreviews",
        "SubjectAccessReview",
        False,
        verbs=("create",),
    ),
)
BY_KEY = {t.key: t for t in TYPES}
GROUP_VERSIONS = tuple(dict.fromkeys(t.group_version for t in TYPES))


def lookup(group_version: str, plural: str) -> ResourceType | None:
    return BY_KEY.get(f"{group_version}/{plural}")


def api_versions(server_address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def _group(name: str) -> dict[str, Any]:
    versions = [
        {"groupVersion": gv, "version": gv.split("/")[1]}
        for gv in GROUP_VERSIONS
        if gv.split("/")[0] == name and "/" in gv
    ]
    return {"name": name, "versions": versions, "preferredVersion": versions[0]}


def api_group(name: str) -> dict[str, Any] | None:
    if not any(t.group == name for t in TYPES if t.group):
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(name)}


def api_group_list() -> dict[str, Any]:
    names = dict.fromkeys(t.group for t in TYPES if t.group)
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [_group(n) for n in names]}


def api_resource_list(group_version: str) -> dict[str, Any] | None:
    types = [t for t in TYPES if t.group_version == group_version]
    if not types:
        return None
    resources: list[dict[str, Any]] = []
    for t in types:
        resources.append(
            {
                "name": t.plural,
                "singularName": t.kind.lower(),
                "namespaced": t.namespaced,
                "kind": t.kind,
                "verbs": list(t.verbs),
                **({"shortNames": list(t.short_names)} if t.short_names else {}),
            }
        )
        for sub in t.subresources:
            kind, verbs = _subresource(t, sub)
            resources.append(
                {
                    "name": f"{t.plural}/{sub}",
                    "singularName": "",
                    "namespaced": t.namespaced,
                    "kind": kind,
                    "verbs": verbs,
                }
            )
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }


def _subresource(t: ResourceType, sub: str) -> tuple[str, list[str]]:
    if sub in ("exec", "proxy"):
        return ("PodExecOptions" if sub == "exec" else "NodeProxyOptions"), ["create", "get"]
    if sub == "log":
        return "Pod", ["get"]
    return t.kind, ["get", "patch", "update"]


def _hash(group_version: str) -> str:
    return hashlib.sha256(group_version.encode()).hexdigest()[:16].upper()


def openapi_v3_root() -> dict[str, Any]:
    paths = {}
    for gv in GROUP_VERSIONS:
        prefix = f"apis/{gv}" if "/" in gv else f"api/{gv}"
        paths[prefix] = {"serverRelativeURL": f"/openapi/v3/{prefix}?hash={_hash(gv)}"}
    return {"paths": paths}


def openapi_v3(prefix: str) -> dict[str, Any] | None:
    """A stub per group-version: each PATCH carries its GVK and ``fieldValidation``.

    No schemas: kubectl then validates on the server (``fieldValidation=Strict``)
    and computes strategic merge patches from its built-in types.
    """
    gv = prefix.removeprefix("apis/").removeprefix("api/")
    types = [t for t in TYPES if t.group_version == gv]
    if not types:
        return None
    paths = {}
    for t in types:
        scope = "/namespaces/{namespace}" if t.namespaced else ""
        gvk = {"group": t.group, "version": t.version, "kind": t.kind}
        paths[f"/{prefix}{scope}/{t.plural}/{{name}}"] = {
            "patch": {
                "operationId": f"patch{t.kind}",
                "x-kubernetes-action": "patch",
                "x-kubernetes-group-version-kind": gvk,
                "parameters": [
                    {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}},
                    {"name": "fieldManager", "in": "query", "schema": {"type": "string"}},
                ],
                "responses": {"200": {"description": "OK"}},
            }
        }
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": VERSION["gitVersion"]},
        "paths": paths,
        "components": {"schemas": {}},
    }


def etag(document: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()[:32]
