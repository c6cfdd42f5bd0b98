"""The null ProcessManager: for hosts where Talon manages no services.

It knows nothing and says so: inspect answers ``unknown``, every change raises.
"""

from __future__ import annotations

from talon.adapters.process.base import ServiceFile, ServiceSpec, ServiceState, ServiceStatus
from talon.capabilities import Capability
from talon.errors import AdapterUnavailable


class NullProcessManager:
    name = "null"
    capabilities: frozenset[Capability] = frozenset()  # it knows nothing and does nothing

    async def list(self, pattern: str) -> list[ServiceStatus]:
        return []

    async def inspect(self, label: str) -> ServiceStatus:
        return ServiceStatus(
            label,
            ServiceState.UNKNOWN,
            detail="no process manager is configured ([process_manager] kind = 'null')",
        )

    async def restart(self, label: str) -> None:
        raise AdapterUnavailable(f"cannot restart {label!r}: no process manager is configured")

    async def stop(self, label: str) -> None:
        raise AdapterUnavailable(f"cannot stop {label!r}: no process manager is configured")

    def service_file(self, spec: ServiceSpec) -> ServiceFile:
        raise AdapterUnavailable(
            f"cannot install {spec.label!r}: no process manager was configured or detected "
            "(set [process_manager] kind)"
        )

    async def enable(self, label: str, spec: ServiceSpec) -> None:
        raise AdapterUnavailable(f"cannot enable {label!r}: no process manager is configured")

    async def disable(self, label: str) -> None:
        raise AdapterUnavailable(f"cannot disable {label!r}: no process manager is configured")
