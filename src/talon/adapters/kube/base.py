"""The ClusterClient port: what the probes and the RBAC guard ask of the cluster's API.

Outside ``talon.adapters`` nothing names the tool behind it: the k8s probe,
the RBAC guard and the daemon see this interface and ``ClusterError`` only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from talon.errors import ErrorKind


class ClusterError(Exception):
    """The cluster's API did not answer as asked; ``kind`` says how it failed."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class ExecResult:
    """A command that ran in a pod: its own exit code and output (the API path worked)."""

    exit_code: int
    stdout: str
    stderr: str


class ClusterClient(Protocol):
    name: str

    async def readyz(self, timeout: float) -> str:
        """The API server's ``/readyz`` answer, ``ok`` when ready."""
        ...

    async def nodes(self, timeout: float) -> Any:
        """The core/v1 NodeList."""
        ...

    async def daemonset(self, namespace: str, name: str, timeout: float) -> Any:
        """One apps/v1 DaemonSet."""
        ...

    async def can_i(
        self,
        verb: str,
        resource: str,
        *,
        subresource: str | None,
        as_user: str | None,
        timeout: float,
    ) -> bool:
        """Whether ``as_user`` (default: the client's own identity) may ``verb`` ``resource``."""
        ...

    async def exec(
        self,
        namespace: str,
        pod: str,
        command: Sequence[str],
        *,
        container: str | None,
        timeout: float,
    ) -> ExecResult:
        """Run ``command`` in the pod, through the API server and the kubelet (pods/exec).

        A command that ran, whatever its exit code, is an ``ExecResult``; the path
        failing (denied, refused, no such pod) is a ``ClusterError``."""
        ...

    async def logs(
        self, namespace: str, pod: str, *, container: str | None, tail_lines: int, timeout: float
    ) -> str:
        """The last ``tail_lines`` lines of the pod's log, through the kubelet (pods/log)."""
        ...

    async def apply(self, manifest: str, timeout: float) -> str:
        """Apply the manifest file at ``manifest``; what the client printed, for evidence."""
        ...
