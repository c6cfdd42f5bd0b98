"""ProcessManager adapters: launchd, systemd, supervisord, null (and the lab's)."""

from talon.adapters.process.base import (
    ProcessManager,
    ServiceFile,
    ServiceSpec,
    ServiceState,
    ServiceStatus,
)
from talon.adapters.process.null import NullProcessManager

__all__ = [
    "NullProcessManager",
    "ProcessManager",
    "ServiceFile",
    "ServiceSpec",
    "ServiceState",
    "ServiceStatus",
]
