"""RBAC, evaluated as the real apiserver's RBAC authorizer does (pure).

``system:masters`` short-circuits (the real apiserver does so before RBAC).
Everyone else is allowed only by a rule of a role bound to the user or one of
its groups: cluster-wide through ClusterRoleBindings, in a namespace through
RoleBindings. Rules follow rbac.authorization.k8s.io/v1 PolicyRule: apiGroups,
resources (``*``, ``plural``, ``plural/subresource``, ``*/subresource``), verbs,
resourceNames, nonResourceURLs (exact or a trailing ``*``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Obj = Mapping[str, Any]


@dataclass(frozen=True)
class Attributes:
    user: str
    groups: tuple[str, ...]
    verb: str
    group: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    namespace: str = ""
    path: str = ""  # a non-resource request (``/version``) when set

    @property
    def is_resource(self) -> bool:
        return not self.path

    def forbidden_message(self) -> str:
        """The real apiserver's wording of a denial."""
        who = f'User "{self.user}"'
        if not self.is_resource:
            return f'forbidden: {who} cannot {self.verb} path "{self.path}"'
        what = self.resource + (f"/{self.subresource}" if self.subresource else "")
        scope = f'in the namespace "{self.namespace}"' if self.namespace else "at the cluster scope"
        subject = f'{self.resource} "{self.name}"' if self.name else self.resource
        return (
            f'{subject} is forbidden: {who} cannot {self.verb} resource "{what}" '
            f'in API group "{self.group}" {scope}'
        )


def _matches(values: Iterable[str], wanted: str) -> bool:
    return any(v == "*" or v == wanted for v in values)


def _resource_matches(resources: Sequence[str], attrs: Attributes) -> bool:
    combined = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    for r in resources:
        if r in ("*", combined):
            return True
        if attrs.subresource and r == f"*/{attrs.subresource}":
            return True
    return False


def _url_matches(urls: Sequence[str], path: str) -> bool:
    return any(u == "*" or u == path or (u.endswith("*") and path.startswith(u[:-1])) for u in urls)


def rule_allows(rule: Obj, attrs: Attributes) -> bool:
    if not _matches(rule.get("verbs", ()), attrs.verb):
        return False
    if not attrs.is_resource:
        return _url_matches(rule.get("nonResourceURLs", ()), attrs.path)
    if not _matches(rule.get("apiGroups", ()), attrs.group):
        return False
    if not _resource_matches(rule.get("resources", ()), attrs):
        return False
    names = rule.get("resourceNames") or ()
    return not names or attrs.name in names


def _bound(binding: Obj, attrs: Attributes) -> bool:
    for subject in binding.get("subjects") or ():
        kind, name = subject.get("kind"), subject.get("name")
        if kind == "User" and name == attrs.user:
            return True
        if kind == "Group" and name in attrs.groups:
            return True
        if kind == "ServiceAccount" and attrs.user == (
            f"system:serviceaccount:{subject.get('namespace', '')}:{name}"
        ):
            return True
    return False


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str


def authorize(
    attrs: Attributes,
    cluster_roles: Mapping[str, Obj],
    cluster_role_bindings: Iterable[Obj],
    roles: Mapping[tuple[str, str], Obj] | None = None,
    role_bindings: Iterable[Obj] = (),
) -> Decision:
    if "system:masters" in attrs.groups:
        return Decision(True, "system:masters")
    for binding in cluster_role_bindings:
        ref = binding.get("roleRef", {})
        role = cluster_roles.get(ref.get("name", "")) if ref.get("kind") == "ClusterRole" else None
        rules = (role or {}).get("rules") or ()
        if _bound(binding, attrs) and any(rule_allows(rule, attrs) for rule in rules):
            name = binding["metadata"]["name"]
            return Decision(True, f'allowed by ClusterRoleBinding "{name}"')
    if attrs.namespace and attrs.is_resource:
        for binding in role_bindings:
            meta = binding.get("metadata", {})
            if meta.get("namespace") != attrs.namespace or not _bound(binding, attrs):
                continue
            ref = binding.get("roleRef", {})
            if ref.get("kind") == "ClusterRole":
                role = cluster_roles.get(ref.get("name", ""))
            else:
                role = (roles or {}).get((attrs.namespace, ref.get("name", "")))
            if role and any(rule_allows(rule, attrs) for rule in role.get("rules") or ()):
                return Decision(True, f'allowed by RoleBinding "{meta.get("name")}"')
    return Decision(False, "")
