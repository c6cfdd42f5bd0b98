"""Runtimes that need no tool: ``null`` (no VM) and ``static`` (a VM at a configured address)."""

from __future__ import annotations

from typing import Any

from talon.capabilities import Capability
from talon.errors import AdapterUnavailable


class NullRuntime:
    """No container runtime: the 'vm' path of every endpoint is skipped, and says why."""

    name = "null"
    capabilities: frozenset[Capability] = frozenset()

    async def is_healthy(self) -> bool:
        raise AdapterUnavailable("no container runtime is configured ([runtime] kind = 'null')")

    async def vm_address(self) -> str | None:
        return None

    async def uptime_s(self) -> float | None:
        return None

    def ssh_command(self, script: str) -> list[str]:
        raise AdapterUnavailable("no container runtime is configured: no VM to run a witness in")

    async def force_cycle(self) -> None:
        raise AdapterUnavailable("no container runtime is configured: nothing to force-cycle")

    async def restart_forwarding(self) -> None:
        raise AdapterUnavailable("no container runtime is configured: no port forwarding to heal")

    async def facts(self) -> dict[str, Any]:
        return {"runtime": self.name, "vm_address": await self.vm_address()}


class StaticRuntime(NullRuntime):
    """A VM Talon does not manage, reachable at an address from the configuration."""

    name = "static"

    def __init__(self, address: str) -> None:
        self._address = address

    async def vm_address(self) -> str | None:
        return self._address
