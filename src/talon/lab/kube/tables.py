"""Server-side printing: ``meta.k8s.io/v1 Table`` replies, as the apiserver sends them.

kubectl asks for a Table for its human output; scripts that parse
``kubectl get ... --no-headers`` with awk depend on the real columns
(LAB-NOTES gotcha 9): nodes NAME STATUS ROLES AGE VERSION, pods NAME READY
STATUS RESTARTS AGE, daemonsets NAME DESIRED CURRENT READY UP-TO-DATE
AVAILABLE AGE; any other kind NAME AGE.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from typing import Any

Obj = dict[str, Any]


def age(timestamp: str | None, now: datetime.datetime) -> str:
    if not timestamp:
        return "<unknown>"
    then = datetime.datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
    seconds = max(0, int((now - then).total_seconds()))
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= 2 * size or (unit == "m" and seconds >= size):
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _node_row(node: Obj) -> list[Any]:
    ready = next(
        (c for c in node["status"].get("conditions", []) if c.get("type") == "Ready"), None
    )
    status = "Ready" if ready and ready.get("status") == "True" else "NotReady"
    if node.get("spec", {}).get("unschedulable"):
        status += ",SchedulingDisabled"
    prefix = "node-role.kubernetes.io/"
    labels = node["metadata"].get("labels", {})
    roles = ",".join(sorted(k[len(prefix) :] for k in labels if k.startswith(prefix))) or "<none>"
    return [status, roles, node["status"]["nodeInfo"]["kubeletVersion"]]


def _pod_row(pod: Obj) -> list[Any]:
    statuses = pod.get("status", {}).get("containerStatuses", [])
    ready = sum(1 for s in statuses if s.get("ready"))
    total = len(pod["spec"]["containers"])
    waiting = next(
        (s["state"]["waiting"] for s in statuses if "waiting" in s.get("state", {})), None
    )
    status = waiting["reason"] if waiting else pod.get("status", {}).get("phase", "Unknown")
    restarts = sum(int(s.get("restartCount", 0)) for s in statuses)
    return [f"{ready}/{total}", status, restarts]


def _daemonset_row(ds: Obj) -> list[Any]:
    s = ds.get("status", {})
    fields = ("desiredNumberScheduled", "currentNumberScheduled", "numberReady")
    return [s.get(f, 0) for f in fields] + [
        s.get("updatedNumberScheduled", 0),
        s.get("numberAvailable", 0),
    ]


_COLUMNS: dict[str, tuple[Sequence[str], Callable[[Obj], list[Any]]]] = {
    "Node": (("Status", "Roles", "Version"), _node_row),
    "Pod": (("Ready", "Status", "Restarts"), _pod_row),
    "DaemonSet": (("Desired", "Current", "Ready", "Up-to-date", "Available"), _daemonset_row),
}


def table(kind: str, objects: Sequence[Obj], resource_version: str) -> Obj:
    now = datetime.datetime.now(datetime.UTC)
    middle, row_of = _COLUMNS.get(kind, ((), lambda _obj: []))
    # Age goes last for nodes (before VERSION in kubectl's layout) and last otherwise.
    names = ["Name", *middle, "Age"]
    if kind == "Node":
        names = ["Name", "Status", "Roles", "Age", "Version"]
    columns = [
        {"name": n, "type": "string", "format": "name" if n == "Name" else "", "description": n,
         "priority": 0}
        for n in names
    ]  # fmt: skip
    rows = []
    for obj in objects:
        cells = [
            obj["metadata"]["name"],
            *row_of(obj),
            age(obj["metadata"].get("creationTimestamp"), now),
        ]
        if kind == "Node":
            cells = [*cells[:3], cells[4], cells[3]]
        rows.append(
            {
                "cells": cells,
                "object": {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": obj["metadata"],
                },
            }
        )
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": columns,
        "rows": rows,
    }
