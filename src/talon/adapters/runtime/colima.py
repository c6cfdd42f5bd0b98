"""A colima VM (Lima underneath), driven by the ``colima`` tool.

Formats copied from colima's source: ``colima status --json`` prints one
object (``display_name``, ``driver``, ``arch``, ``runtime``, ``mount_type``,
``ip_address``, ``docker_socket`` ``unix://...``, ``containerd_socket``,
``kubernetes``, ``cpu``, ``memory``, ``disk``) or exits 1 with "... is not
running"; ``colima list --json`` prints one object per line (``name``,
``status``, ``arch``, ``cpus``, ``memory``, ``disk``, ``dir``, ``address``,
``runtime``), ``address`` only when the VM has a reachable one.

Health is judged on the control path: the engine socket answering ``/_ping``,
else the VM's shell running a command. Status text is never the verdict (R7),
but it is where colima says where the engine socket is now: the socket moves
(its directory follows colima's home, which changes with ``COLIMA_HOME``, an
upgrade or a new layout) and an old socket file stays behind, dead (F19). So
every check asks ``colima status --json`` for ``docker_socket`` first; an
operator's ``[runtime] socket`` wins, and the check says when colima reports
another. A socket that refuses (or is missing, or this user may not use it)
falls back to the VM's shell before anything reads the VM as down: a stale
socket alone never costs a force-cycle. Which socket was used, and why, is in
``health_detail`` and the facts.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
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
from talon.errors import ActionFailed, AdapterUnavailable, ErrorKind
from talon.node import home_dir

# Shares of the check's bound: asking colima where the socket is, the socket's
# answer, and the shell fallback (which gets whatever is left, at least its share).
STATUS_SHARE, PING_SHARE, SHELL_SHARE = 0.4, 0.2, 0.4
# A socket nobody answers on (a stale file, none at all) or this user may not use says
# nothing about the VM: its shell is asked. A force-cycle would fix neither.
UNUSABLE = frozenset({ErrorKind.REFUSED, ErrorKind.DENIED})


def short_name(profile: str) -> str:
    """colima's profile naming: ``colima`` and ``default`` are the default profile."""
    if profile in ("", "colima", "default"):
        return "default"
    return profile.removeprefix("colima-")


@dataclass(frozen=True, slots=True)
class SocketChoice:
    """The engine socket a check used, and why that one."""

    path: str
    source: str  # configured | colima status | last reported | conventional
    why: str

    def as_fact(self) -> dict[str, str]:
        return {"path": self.path, "source": self.source, "why": self.why}


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
        self._configured = socket_path(socket, env) if socket else ""
        self.timeout_s = timeout_s
        self._colima = colima
        self.health_detail = ""
        self._reported = ""  # the docker_socket colima reported last
        self.moved: dict[str, str] | None = None  # its last move: {"from": ..., "to": ...}
        self.last_socket: SocketChoice | None = None  # what the last check used

    def _home(self) -> Path:
        explicit = self._env.get("COLIMA_HOME", "").strip()
        if explicit:
            return Path(explicit).expanduser()
        return home_dir(self._env) / ".colima"

    def _conventional(self) -> str:
        return str(self._home() / self.profile / "docker.sock")

    def engine_socket(self) -> str:
        """The configured socket; else the one colima reported last; else colima's
        conventional one ($COLIMA_HOME/PROFILE/docker.sock). Synchronous, so it never
        asks colima itself: ``resolve_socket`` (every health check) does."""
        return self._configured or self._reported or self._conventional()

    async def status(self, timeout_s: float | None = None) -> dict[str, Any]:
        """``colima status --json``: advice for evidence and humans, never a verdict (R7)."""
        bound = self.timeout_s if timeout_s is None else timeout_s
        result = await run_tool(
            [self._colima, "status", "--json", "-p", self.profile], timeout=bound, env=self._env
        )
        if not result.ok:
            return {"answered": False, "said": failure(result, bound)}
        try:
            doc = json.loads(result.stdout)
        except json.JSONDecodeError as exc:
            return {"answered": False, "said": f"`colima status` printed invalid JSON: {exc}"}
        if not isinstance(doc, dict):
            return {"answered": False, "said": "`colima status` printed no JSON object"}
        self._note_reported(doc.get("docker_socket"))
        return {"answered": True, **doc}

    def _note_reported(self, value: object) -> None:
        reported = socket_path(value, self._env) if isinstance(value, str) else ""
        if reported and reported != self._reported:
            if self._reported:
                self.moved = {"from": self._reported, "to": reported}
            self._reported = reported

    async def resolve_socket(self, timeout_s: float | None = None) -> SocketChoice:
        """Where the engine socket is now: asked of ``colima status --json`` every time."""
        return self._choose(await self.status(timeout_s))

    def _choose(self, status: Mapping[str, Any]) -> SocketChoice:
        reported = self._reported if status.get("answered") else ""
        if self._configured:
            why = "configured ([runtime] socket)"
            if reported and reported != self._configured:
                why += f"; colima reports {reported}"
            return SocketChoice(self._configured, "configured", why)
        if reported:
            why = "reported by `colima status`"
            if self.moved and self.moved["to"] == reported:
                why += f", moved from {self.moved['from']}"
            return SocketChoice(reported, "colima status", why)
        said = status.get("said") or "no docker_socket in its answer"
        if self._reported:
            why = f"the last one colima reported; now {said}"
            return SocketChoice(self._reported, "last reported", why)
        return SocketChoice(self._conventional(), "conventional", f"colima's usual path; {said}")

    async def instance(self) -> dict[str, Any] | None:
        """This profile's object from ``colima list --json``; None when not listed."""
        result = await run_tool(
            [self._colima, "list", "--json"], timeout=self.timeout_s, env=self._env
        )
        if not result.ok:
            raise ActionFailed(failure(result, self.timeout_s))
        return next((i for i in json_lines(result.stdout) if i.get("name") == self.profile), None)

    async def is_healthy(self) -> bool:
        """The engine socket colima reports answers; if it refuses, the VM's shell decides.

        Each step has a share of ``timeout_s``, so the whole check stays within it.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        choice = self.last_socket = await self.resolve_socket(self.timeout_s * STATUS_SHARE)
        socket = choice.path
        if await asyncio.to_thread(os.path.exists, socket):
            try:
                answer = await EngineClient(socket, self.timeout_s * PING_SHARE).ping()
            except EngineError as exc:
                if exc.kind not in UNUSABLE:  # it answers wrongly or hangs: a sick engine
                    self.health_detail = f"{exc} (the socket {choice.why})"
                    return False
                refused = str(exc)
            else:
                self.health_detail = f"GET /_ping on {socket} ({choice.why}): {answer[:40]!r}"
                return answer == "OK"
        else:
            refused = f"no engine socket at {socket}"
        # A stale or missing socket is not a dead VM (F19): the VM's shell is the other path.
        shell_s = max(deadline - loop.time(), self.timeout_s * SHELL_SHARE)
        healthy, said = await shell_alive(
            self.ssh_command(HEALTH_SCRIPT), timeout=shell_s, env=self._env
        )
        self.health_detail = f"{refused} ({choice.why}); so the VM's shell was asked: {said}"
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
        facts: dict[str, Any] = {"runtime": self.name, "profile": self.profile}
        try:
            facts["status"] = status = await self.status()
            facts["engine_socket"] = self._choose(status).as_fact()
            if self.last_socket is not None:
                facts["engine_socket_last_check"] = self.last_socket.as_fact()
            facts["engine_socket_moved"] = self.moved
            facts["vm_address"] = await self.vm_address()
            facts["uptime_s"] = await self.uptime_s()
        except AdapterUnavailable as exc:
            facts["error"] = str(exc)
        return facts
