"""The ProcessManager port: the host's service manager, whatever it is.

launchd, systemd and supervisord implement it; the core and the probes only
ever see this interface. ``inspect`` looks in every domain the manager has
(gui/UID and system, user and system) and says which one it found (R24).
Every method has a timeout inside the adapter and raises ``AdapterUnavailable``
when its tool is missing (``ToolMissing``) or denies.

``STOPPED`` means what an operator does: a clean stop through the manager
(``systemctl stop``, ``supervisorctl stop``, ``launchctl kill SIGTERM``), or a
service never started. A crash, a kill or a bad exit is ``FAILED``; a state on
its way up or down is ``CHANGING``. The service probe reports a stopped
service and the core never restarts it (F28).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from talon.capabilities import Capability


class ServiceState(enum.StrEnum):
    RUNNING = "running"  # up (or, for a oneshot, done and still active)
    CHANGING = "changing"  # on its way up or down (systemd activating, deactivating): look again
    STOPPED = "stopped"  # stopped cleanly through the manager (or never started): an operator's
    FAILED = "failed"  # exited with an error, killed, or crash-looping
    NOT_FOUND = "not_found"  # the label is not known to the manager (in any domain)
    UNKNOWN = "unknown"  # the manager could not tell


@dataclass(frozen=True, slots=True)
class ServiceStatus:
    label: str
    state: ServiceState
    pid: int | None = None
    domain: str | None = None  # e.g. gui/501 or system for launchd; user/system for systemd
    detail: str = ""
    start_command: str = ""  # how a human starts it again through the manager (when STOPPED)


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """What ``enable`` installs: a command the manager keeps running."""

    label: str
    argv: tuple[str, ...]
    cwd: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    stdout_path: str | None = None
    stderr_path: str | None = None
    description: str = ""


@dataclass(frozen=True, slots=True)
class ServiceFile:
    """The file ``enable`` writes for a spec (a plist, a unit, a program section)."""

    path: Path
    text: str
    domain: str  # where it is loaded: gui/501, system, user, a supervisord URL ...


class ProcessManager(Protocol):
    name: str
    capabilities: frozenset[Capability]  # what it can do, as plain data the core reads

    async def list(self, pattern: str) -> list[ServiceStatus]: ...

    async def inspect(self, label: str) -> ServiceStatus: ...

    async def restart(self, label: str) -> None: ...

    async def stop(self, label: str) -> None: ...

    def service_file(self, spec: ServiceSpec) -> ServiceFile:
        """What ``enable(spec.label, spec)`` would write, without writing it (``--print``)."""
        ...

    async def enable(self, label: str, spec: ServiceSpec) -> None:
        """Write ``service_file(spec)``, load it, and start it now and at boot."""
        ...

    async def disable(self, label: str) -> None:
        """Stop it, unload it, and remove the file ``enable`` wrote."""
        ...
