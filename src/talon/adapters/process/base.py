"""The ProcessManager port: the host's service manager, whatever it is.

launchd, systemd and supervisord implement it in later issues; the core and
the probes only ever see this interface. Every method has a timeout inside the
adapter and raises ``AdapterUnavailable`` when its tool is missing or denies.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol


class ServiceState(enum.StrEnum):
    RUNNING = "running"
    STOPPED = "stopped"  # loaded but not running
    FAILED = "failed"  # exited with an error, or crash-looping
    NOT_FOUND = "not_found"  # the label is not known to the manager (in any domain)
    UNKNOWN = "unknown"  # the manager could not tell


@dataclass(frozen=True, slots=True)
class ServiceStatus:
    label: str
    state: ServiceState
    pid: int | None = None
    domain: str | None = None  # e.g. gui/501 or system for launchd; user/system for systemd
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """What ``enable`` installs: a command the manager keeps running."""

    label: str
    argv: tuple[str, ...]
    cwd: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    stdout_path: str | None = None
    stderr_path: str | None = None


class ProcessManager(Protocol):
    name: str

    async def list(self, pattern: str) -> list[ServiceStatus]: ...

    async def inspect(self, label: str) -> ServiceStatus: ...

    async def restart(self, label: str) -> None: ...

    async def stop(self, label: str) -> None: ...

    async def enable(self, label: str, spec: ServiceSpec) -> None: ...

    async def disable(self, label: str) -> None: ...
