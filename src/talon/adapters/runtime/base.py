"""The ContainerRuntime port: the VM (or engine) the cluster and services run in.

The VM address is discovered through this interface and never written in
the core: the endpoint resolver asks ``vm_address()`` every cycle.
"""

from __future__ import annotations

from typing import Any, Protocol

from talon.capabilities import Capability


class ContainerRuntime(Protocol):
    name: str
    capabilities: frozenset[Capability]  # what it can do, as plain data the core reads

    async def is_healthy(self) -> bool:
        """Judged by the real control path (socket, ssh), not status text (R7)."""
        ...

    async def vm_address(self) -> str | None:
        """Address of the VM as seen from the host; None when there is no VM."""
        ...

    async def uptime_s(self) -> float | None: ...

    def ssh_command(self, script: str) -> list[str]:
        """argv that runs ``script`` inside the VM, passed as one word (R6)."""
        ...

    async def force_cycle(self) -> None: ...

    async def restart_forwarding(self) -> None:
        """Restart the host agent's port forwards (the bridge), leaving the VM alone."""
        ...

    async def facts(self) -> dict[str, Any]:
        """What evidence should keep about the runtime: address, uptime, forwarders ..."""
        ...
