"""A colima VM (Lima underneath), driven by the ``colima`` tool.

Formats copied from colima's source: ``colima status --json`` prints one
object (``display_name``, ``driver``, ``arch``, ``runtime``, ``mount_type``,
``ip_address``, ``docker_socket`` ``unix://...``, ``containerd_socket``,
``kubernetes``, ``cpu``, ``memory``, ``disk``) or exits 1 with "... is not
running"; ``colima list --json`` prints one object per line (``name``,
``status``, ``arch``, ``cpus``, ``memory``, ``disk``, ``dir``, ``address``,
``runtime``), ``address`` only when the VM has a reachable one.

Health is judged on the control path: the engine socket answering ``/_ping``
when the VM provides one, else the VM's shell running a command. Status text
is advice only (R7): a status call that fails during a warm restart does not
by itself read as "down".
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from talon.adapters.runtime.engine import EngineClient, EngineError, socket_path
from talon.adapters.runtime.lima import (
    HEALTH_SCRIPT,
    UPTIME_SCRIPT,
    json_lines,
    shell_alive,
    shell_uptime,
    stop_then_start,
)
from talon.adapters.tool import failure, run_tool
from talon.capabilities import Capability
from talon.errors import ActionFailed, AdapterUnavailable
from talon.node import home_dir


def short_name(profile: str) -> str:
    """colima's profile naming: ``colima`` and ``default`` are the default profile."""
    if profile in ("", "colima", "default"):
        return "default"
    return profile.removeprefix("colima-")


class ColimaRuntime:
    name = "colima"
    # No forwarder-only restart: the forwards live in the VM's host agent (F20).
    capabilities = frozenset({Capability.FORCE_CYCLE, Capability.VM_SHELL, Capability.UPTIME})

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        profile: str = "default",
        socket: str = "",
        timeout_s: float = 5.0,
        colima: str = "colima",
    ) -> None:
        self._env = dict(env)
        self.profile = short_name(profile)
        self._socket = socket_path(socket, env) if socket else ""
        self.timeout_s = timeout_s
        self._colima = colima
        self.health_detail = ""

    def _home(self) -> Path:
        explicit = self._env.get("COLIMA_HOME", "").strip()
        if explicit:
            return Path(explicit).expanduser()
        return home_dir(self._env) / ".colima"

    def engine_socket(self) -> str:
        """The configured socket, else colima's: $COLIMA_HOME/PROFILE/docker.sock."""
        return self._socket or str(self._home() / self.profile / "docker.sock")

    async def status(self) -> dict[str, Any]:
        """``colima status --json``: advice for evidence and humans, never a verdict (R7)."""
        result = await run_tool(
            [self._colima, "status", "--json", "-p", self.profile],
            timeout=self.timeout_s,
            env=self._env,
        )
        if not result.ok:
            return {"answered": False, "said": failure(result, self.timeout_s)}
        try:
            doc = json.loads(result.stdout)
        except json.JSONDecodeError as exc:
            return {"answered": False, "said": f"`colima status` printed invalid JSON: {exc}"}
        return {"answered": True, **doc} if isinstance(doc, dict) else {"answered": False}

    async def instance(self) -> dict[str, Any] | None:
        """This profile's object from ``colima list --json``; None when not listed."""
        result = await run_tool(
            [self._colima, "list", "--json"], timeout=self.timeout_s, env=self._env
        )
        if not result.ok:
            raise ActionFailed(failure(result, self.timeout_s))
        return next((i for i in json_lines(result.stdout) if i.get("name") == self.profile), None)

    async def is_healthy(self) -> bool:
        socket = self.engine_socket()
        if await asyncio.to_thread(os.path.exists, socket):  # the VM's engine: its control path
            try:
                answer = await EngineClient(socket, self.timeout_s).ping()
            except EngineError as exc:
                self.health_detail = str(exc)
                return False
            self.health_detail = f"GET /_ping on {socket}: {answer[:40]!r}"
            return answer == "OK"
        healthy, self.health_detail = await shell_alive(
            self.ssh_command(HEALTH_SCRIPT), timeout=self.timeout_s, env=self._env
        )
        return healthy

    async def vm_address(self) -> str | None:
        try:
            info = await self.instance()
        except ActionFailed:
            return None
        address = (info or {}).get("address")
        return str(address) if address else None

    async def uptime_s(self) -> float | None:
        return await shell_uptime(
            self.ssh_command(UPTIME_SCRIPT), timeout=self.timeout_s, env=self._env
        )

    def ssh_command(self, script: str) -> list[str]:
        # colima hands the words to limactl shell, which quotes each one: one word stays one (R6).
        return [self._colima, "ssh", "-p", self.profile, "--", "sh", "-c", script]

    async def force_cycle(self) -> None:
        await stop_then_start(
            [self._colima, "stop", "--force", "-p", self.profile],
            [self._colima, "start", "-p", self.profile],
            env=self._env,
        )

    async def restart_forwarding(self) -> None:
        raise AdapterUnavailable(
            "colima has no separate port-forwarder restart: its forwards live in the VM's host "
            "agent, which only a restart of the VM restarts (a force-cycle, if policy allows)"
        )

    async def facts(self) -> dict[str, Any]:
        facts: dict[str, Any] = {
            "runtime": self.name,
            "profile": self.profile,
            "engine_socket": self.engine_socket(),
        }
        try:
            facts["status"] = await self.status()
            facts["vm_address"] = await self.vm_address()
            facts["uptime_s"] = await self.uptime_s()
        except AdapterUnavailable as exc:
            facts["error"] = str(exc)
        return facts
