"""The emulated API's pure parts: RBAC evaluation, the protobuf reader, merge patches, tables."""

from __future__ import annotations

import contextlib
import datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from talon.lab.kube import wire
from talon.lab.kube.rbac import Attributes, authorize
from talon.lab.kube.seed import initial_state
from talon.lab.kube.state import merge_patch
from talon.lab.kube.tables import age, table

RBAC = "rbac.authorization.k8s.io/v1"


def _state() -> dict[str, Any]:
    return initial_state("127.0.0.2", {"redis": 1, "inngest": 2, "typesense": 3}, {}, "/bin")


def _can(attrs: Attributes, objects: dict[str, Any] | None = None) -> bool:
    objects = objects or _state()["objects"]
    roles = {o["metadata"]["name"]: o for o in objects[f"{RBAC}/clusterroles"].values()}
    return authorize(attrs, roles, objects[f"{RBAC}/clusterrolebindings"].values()).allowed


def test_rbac_follows_the_bindings() -> None:
    kubelet = ("apiserver-kubelet-client", ("system:authenticated",))
    assert _can(Attributes(*kubelet, "get", "", "nodes", "proxy", "lab-node"))
    assert _can(Attributes(*kubelet, "create", "", "nodes", "proxy"))
    assert not _can(Attributes(*kubelet, "delete", "", "nodes"))
    assert not _can(Attributes(*kubelet, "get", "", "pods"))
    # every authenticated user may ask about itself, and read discovery paths
    nobody = ("nobody", ("system:authenticated",))
    assert _can(Attributes(*nobody, "create", "authorization.k8s.io", "selfsubjectaccessreviews"))
    assert _can(Attributes(*nobody, "get", path="/apis/apps/v1"))
    assert not _can(Attributes(*nobody, "get", path="/metrics"))
    assert _can(Attributes("admin", ("system:masters",), "delete", "", "nodes"))


def test_rbac_without_the_binding_denies_with_the_real_message() -> None:
    objects = _state()["objects"]
    del objects[f"{RBAC}/clusterrolebindings"]["/apiserver-kubelet-client-kubelet-api-admin"]
    attrs = Attributes(
        "apiserver-kubelet-client", ("system:authenticated",), "get", "", "nodes", "proxy"
    )
    assert not _can(attrs, objects)
    assert attrs.forbidden_message() == (
        'nodes is forbidden: User "apiserver-kubelet-client" cannot get resource "nodes/proxy" '
        'in API group "" at the cluster scope'
    )


def test_rbac_resource_names_and_subresource_wildcards() -> None:
    role = {
        "metadata": {"name": "r"},
        "rules": [
            {"apiGroups": [""], "resources": ["*/status"], "verbs": ["get"]},
            {"apiGroups": ["apps"], "resources": ["daemonsets"], "verbs": ["get"],
             "resourceNames": ["kube-flannel"]},
        ],
    }  # fmt: skip
    binding = {
        "metadata": {"name": "b"},
        "roleRef": {"kind": "ClusterRole", "name": "r"},
        "subjects": [{"kind": "Group", "name": "ops"}],
    }
    who = ("u", ("ops",))

    def can(attrs: Attributes) -> bool:
        return authorize(attrs, {"r": role}, [binding]).allowed

    assert can(Attributes(*who, "get", "", "pods", "status", "p"))
    assert not can(Attributes(*who, "get", "", "pods", "", "p"))
    assert can(Attributes(*who, "get", "apps", "daemonsets", "", "kube-flannel"))
    assert not can(Attributes(*who, "get", "apps", "daemonsets", "", "other"))


def _varint(n: int) -> bytes:
    out = b""
    while True:
        byte, n = n & 0x7F, n >> 7
        out += bytes([byte | (0x80 if n else 0)])
        if not n:
            return out


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _ssar(attrs: dict[int, str], non_resource: bool = False) -> bytes:
    inner = b"".join(_field(n, v.encode()) for n, v in attrs.items())
    spec = _field(2 if non_resource else 1, inner)
    review = _field(1, b"") + _field(2, spec)
    type_meta = _field(1, b"authorization.k8s.io/v1") + _field(2, b"SelfSubjectAccessReview")
    unknown = (
        _field(1, type_meta) + _field(2, review) + _field(4, b"application/vnd.kubernetes.protobuf")
    )
    return wire.MAGIC + unknown


def test_ssar_protobuf_body_is_read_as_kubectl_sends_it() -> None:
    body = _ssar({2: "get", 5: "nodes", 6: "proxy", 7: "n" * 200})  # a long field: 2-byte length
    spec = wire.self_subject_access_review(body)["spec"]
    assert spec == {
        "resourceAttributes": {
            "verb": "get",
            "resource": "nodes",
            "subresource": "proxy",
            "name": "n" * 200,
        }
    }
    spec = wire.self_subject_access_review(_ssar({1: "/version", 2: "get"}, True))["spec"]
    assert spec == {"nonResourceAttributes": {"path": "/version", "verb": "get"}}


def test_a_truncated_protobuf_body_is_an_error_not_a_crash() -> None:
    body = _ssar({2: "get", 5: "nodes"})
    for cut in range(len(wire.MAGIC) + 1, len(body)):
        with contextlib.suppress(wire.WireError):
            wire.self_subject_access_review(body[:cut])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=10,
)


@given(
    st.dictionaries(st.text(max_size=3), json_values, max_size=4),
    st.dictionaries(
        st.text(max_size=3).filter(lambda k: not k.startswith("$")), json_values, max_size=4
    ),
)
def test_merge_patch_is_idempotent_and_sets_what_it_names(
    target: dict[str, Any], patch: dict[str, Any]
) -> None:
    once = merge_patch(target, patch)
    assert merge_patch(once, patch) == once
    for key, value in patch.items():
        if value is None:
            assert key not in once
        elif not isinstance(value, dict):
            assert once[key] == value


def test_tables_print_age_like_kubectl() -> None:
    now = datetime.datetime(2026, 1, 3, tzinfo=datetime.UTC)
    assert age("2026-01-01T00:00:00Z", now) == "2d"
    assert age("2026-01-02T23:59:30Z", now) == "30s"
    assert age("2026-01-02T23:58:00Z", now) == "2m"
    assert age("2026-01-02T20:00:00Z", now) == "4h"
    pods = _state()["objects"]["v1/pods"].values()
    printed = table("Pod", list(pods), "7")
    names = [c["name"] for c in printed["columnDefinitions"]]
    assert names == ["Name", "Ready", "Status", "Restarts", "Age"]
    assert {len(r["cells"]) for r in printed["rows"]} == {5}
