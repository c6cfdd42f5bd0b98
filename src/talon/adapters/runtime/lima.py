"""A Lima VM, driven by ``limactl``; also the shell helpers every shell-reached runtime uses.

``limactl list --json`` prints one JSON object per line (fields of Lima's
``store.Instance``: ``name``, ``status`` Running/Stopped/Broken, ``dir``,
``vmType``, ``arch``, ``cpus``, ``memory``, ``disk``, ``network``,
``sshLocalPort``, ``hostAgentPID`` ...); it has no guest address field.
``limactl shell INSTANCE sh -c SCRIPT`` quotes every argument before ssh, so
the script stays one word (R6). Health is the shell running a command and
printing its mark (R7): an exit code alone could come from limactl itself.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from talon.adapters.tool import failure, run_tool
from talon.capabilities import Capability
from talon.errors import ActionFailed, AdapterUnavailable

# Long bounds for the VM's own lifecycle; the daemon's action timeout wraps them.
STOP_TIMEOUT_S = 120.0
START_TIMEOUT_S = 600.0

HEALTH_MARK = "talon-shell-ok"
HEALTH_SCRIPT = f"true && echo {HEALTH_MARK}"
UPTIME_SCRIPT = "cat /proc/uptime"


def parse_uptime(text: str) -> float | None:
    """``/proc/uptime`` is "SECONDS_UP SECONDS_IDLE"; None when it is not."""
    try:
        return float(text.split()[0])
    except (IndexError, ValueError):
        return None


async def shell_alive(
    argv: Sequence[str], *, timeout: float, env: Mapping[str, str]
) -> tuple[bool, str]:
    """Did the shell run ``HEALTH_SCRIPT``? (verdict, why)."""
    result = await run_tool(argv, timeout=timeout, env=env)
    if result.ok and HEALTH_MARK in result.stdout:
        return True, "the VM's shell runs commands"
    if result.ok:
        return False, f"`{argv[0]}` exited 0 but the command did not run in the VM"
    return False, failure(result, timeout)


async def shell_uptime(
    argv: Sequence[str], *, timeout: float, env: Mapping[str, str]
) -> float | None:
    result = await run_tool(argv, timeout=timeout, env=env)
    return parse_uptime(result.stdout) if result.ok else None


async def stop_then_start(
    stop_argv: Sequence[str], start_argv: Sequence[str], *, env: Mapping[str, str]
) -> None:
    """A VM's force-cycle: a forced stop, then a start; a failed stop is told with the start."""
    stop = await run_tool(stop_argv, timeout=STOP_TIMEOUT_S, env=env)
    if stop.timed_out:  # never start over a VM that may still be stopping
        raise ActionFailed(failure(stop, STOP_TIMEOUT_S))
    start = await run_tool(start_argv, timeout=START_TIMEOUT_S, env=env)
    if not start.ok:
        before = "" if stop.ok else f" (after {failure(stop, STOP_TIMEOUT_S)})"
        raise ActionFailed(failure(start, START_TIMEOUT_S) + before)


def json_lines(text: str) -> list[dict[str, Any]]:
    """One JSON object per line (the format of ``limactl list --json``); others skipped."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            doc = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(doc, dict):
            out.append(doc)
    return out


_INET = re.compile(r"\binet\s+(\d{1,3}(?:\.\d{1,3}){3})/")


class LimaRuntime:
    name = "lima"
    # No forwarder-only restart: the forwards live in the instance's host agent (F20).
    capabilities = frozenset({Capability.FORCE_CYCLE, Capability.VM_SHELL, Capability.UPTIME})

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        instance: str = "default",
        timeout_s: float = 5.0,
        address: str | None = None,
        limactl: str = "limactl",
    ) -> None:
        self._env = dict(env)
        self.instance = instance
        self.timeout_s = timeout_s
        self._address = address
        self._limactl = limactl
        self.health_detail = ""

    async def instance_info(self) -> dict[str, Any] | None:
        """This instance's object from ``limactl list --json``; None if it is not listed."""
        result = await run_tool(
            [self._limactl, "list", "--json"], timeout=self.timeout_s, env=self._env
        )
        if not result.ok:
            raise ActionFailed(failure(result, self.timeout_s))
        return next((i for i in json_lines(result.stdout) if i.get("name") == self.instance), None)

    async def is_healthy(self) -> bool:
        healthy, self.health_detail = await shell_alive(
            self.ssh_command(HEALTH_SCRIPT), timeout=self.timeout_s, env=self._env
        )
        return healthy

    async def vm_address(self) -> str | None:
        """The configured address; else, with a host-reachable network, that interface's IPv4.

        Lima's list has no address field: with user-mode networking the VM is
        reached only through forwarded localhost ports, so there is none (None).
        """
        if self._address:
            return self._address
        try:
            info = await self.instance_info()
        except ActionFailed:
            return None
        if not info or info.get("status") != "Running":
            return None
        interfaces = [n.get("interface") for n in info.get("network") or [] if n.get("interface")]
        if not interfaces:
            return None
        result = await run_tool(
            self.ssh_command(f"ip -4 -o addr show dev {interfaces[0]}"),
            timeout=self.timeout_s,
            env=self._env,
        )
        found = _INET.search(result.stdout) if result.ok else None
        return found.group(1) if found else None

    async def uptime_s(self) -> float | None:
        return await shell_uptime(
            self.ssh_command(UPTIME_SCRIPT), timeout=self.timeout_s, env=self._env
        )

    def ssh_command(self, script: str) -> list[str]:
        # limactl quotes each argument for the guest shell: the script stays one word (R6).
        return [self._limactl, "shell", self.instance, "sh", "-c", script]

    async def force_cycle(self) -> None:
        await stop_then_start(
            [self._limactl, "stop", "-f", self.instance],
            [self._limactl, "start", self.instance],
            env=self._env,
        )

    async def restart_forwarding(self) -> None:
        raise AdapterUnavailable(
            "lima has no separate port-forwarder restart: its forwards live in the instance's "
            "host agent, which only a restart of the instance restarts (a force-cycle)"
        )

    async def facts(self) -> dict[str, Any]:
        facts: dict[str, Any] = {"runtime": self.name, "instance": self.instance}
        try:
            info = await self.instance_info()
        except (ActionFailed, AdapterUnavailable) as exc:
            facts["error"] = str(exc)
            return facts
        keep = ("status", "dir", "vmType", "arch", "cpus", "memory", "disk", "sshLocalPort")
        facts["instance_info"] = {k: info[k] for k in keep if k in info} if info else None
        if info and info.get("status") == "Running":
            facts["vm_address"] = await self.vm_address()
            facts["uptime_s"] = await self.uptime_s()
        return facts
