"""The emulated cluster's objects: a JSON file written atomically on every change.

It plays etcd: it survives force-cycles of the API server. Edits made to the
file while the server runs (by a lab fault verb when the API is down) are
picked up on the next request.
"""

from __future__ import annotations

import copy
import datetime
import json
import os
import uuid
from pathlib import Path
from typing import Any

from talon.store.files import atomic_write

Obj = dict[str, Any]


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch. Strategic-merge directives (``$...``) are dropped:
    the lists this lab patches (RBAC subjects and rules) are atomic anyway."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


class ClusterState:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._mtime = -1
        self.data: dict[str, Any] = {}
        self.refresh()

    def refresh(self) -> None:
        mtime = os.stat(self.path).st_mtime_ns
        if mtime != self._mtime:
            self.data = json.loads(self.path.read_bytes())
            self._mtime = mtime

    def save(self) -> None:
        atomic_write(self.path, json.dumps(self.data, indent=1, sort_keys=True).encode())
        self._mtime = os.stat(self.path).st_mtime_ns

    @property
    def lab(self) -> dict[str, Any]:
        lab: dict[str, Any] = self.data.setdefault("lab", {})
        return lab

    def _bucket(self, key: str) -> dict[str, Obj]:
        bucket: dict[str, Obj] = self.data.setdefault("objects", {}).setdefault(key, {})
        return bucket

    def get(self, key: str, namespace: str, name: str) -> Obj | None:
        return self._bucket(key).get(f"{namespace}/{name}")

    def list(self, key: str, namespace: str = "") -> list[Obj]:
        items = self._bucket(key).values()
        return [o for o in items if not namespace or o["metadata"].get("namespace") == namespace]

    def _next_version(self) -> str:
        self.data["resourceVersion"] = int(self.data.get("resourceVersion", 1)) + 1
        return str(self.data["resourceVersion"])

    @property
    def resource_version(self) -> str:
        return str(self.data.get("resourceVersion", 1))

    def put(self, key: str, namespace: str, obj: Obj, *, new: bool) -> Obj:
        """Store ``obj``; server-owned metadata is set here, as the apiserver does."""
        metadata = obj.setdefault("metadata", {})
        if namespace:
            metadata["namespace"] = namespace
        if new:
            metadata["uid"] = str(uuid.uuid4())
            metadata["creationTimestamp"] = now_rfc3339()
            metadata["generation"] = 1
        metadata["resourceVersion"] = self._next_version()
        self._bucket(key)[f"{namespace}/{metadata['name']}"] = obj
        self.save()
        return obj

    def delete(self, key: str, namespace: str, name: str) -> Obj | None:
        obj = self._bucket(key).pop(f"{namespace}/{name}", None)
        if obj is not None:
            self._next_version()
            self.save()
        return obj
