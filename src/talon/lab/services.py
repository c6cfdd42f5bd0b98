"""The lab's ProcessManager adapter: the VM's services, by the names the lab gives them.

Stands in for launchd/systemd/supervisord in the lab (those come with the
platform adapters): ``restart("redis")`` restarts the VM's real redis-server,
as a pod delete or a process manager's restart would.
"""

from __future__ import annotations

import asyncio
import fnmatch
from pathlib import Path

from talon.adapters.process.base import ServiceFile, ServiceSpec, ServiceState, ServiceStatus
from talon.capabilities import Capability
from talon.errors import AdapterUnavailable
from talon.lab.substrate import VM_PROCESSES, Lab, LabError


class LabProcessManager:
    name = "lab"
    capabilities = frozenset({Capability.RESTART_SERVICE})

    def __init__(self, directory: Path) -> None:
        self.lab = Lab(directory)

    async def list(self, pattern: str) -> list[ServiceStatus]:
        names = [n for n in VM_PROCESSES if fnmatch.fnmatch(n, pattern)]
        return [await self.inspect(n) for n in names]

    async def inspect(self, label: str) -> ServiceStatus:
        if label not in VM_PROCESSES:
            return ServiceStatus(label, ServiceState.NOT_FOUND, detail="not a lab VM service")
        pid = self.lab.procs.pid(f"vm-{label}")
        state = ServiceState.RUNNING if pid is not None else ServiceState.STOPPED
        return ServiceStatus(label, state, pid, domain="lab-vm")

    async def restart(self, label: str) -> None:
        if label not in VM_PROCESSES:
            raise AdapterUnavailable(
                f"the lab has no service {label!r} (it has {', '.join(VM_PROCESSES)}); "
                "set the probe's `service` key to one of them"
            )
        try:
            await asyncio.to_thread(self.lab.restart_vm_process, f"vm-{label}")
        except LabError as exc:
            raise AdapterUnavailable(str(exc)) from exc

    async def stop(self, label: str) -> None:
        await asyncio.to_thread(self.lab.procs.stop, f"vm-{label}")

    def service_file(self, spec: ServiceSpec) -> ServiceFile:
        raise AdapterUnavailable("the lab's services are defined by the lab, not installed")

    async def enable(self, label: str, spec: ServiceSpec) -> None:
        raise AdapterUnavailable("the lab's services are defined by the lab, not installed")

    async def disable(self, label: str) -> None:
        raise AdapterUnavailable("the lab's services are defined by the lab, not removed")
