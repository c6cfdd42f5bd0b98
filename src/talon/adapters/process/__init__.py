"""ProcessManager adapters: launchd, systemd, supervisord (later issues) and null."""

from talon.adapters.process.base import ProcessManager, ServiceSpec, ServiceState, ServiceStatus
from talon.adapters.process.null import NullProcessManager

__all__ = ["NullProcessManager", "ProcessManager", "ServiceSpec", "ServiceState", "ServiceStatus"]
