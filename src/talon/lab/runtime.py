"""The lab's ContainerRuntime adapter (``[runtime] kind = "lab"``), by profile.

On the default profile the lab's VM has the tool of the platform it imitates
(``talon.lab.vmtool``, written to ``<lab>/bin``), and this adapter IS Talon's
product adapter for that tool, pointed at the lab's stand-in: every health
check, socket lookup, shell fallback, uptime reading and force-cycle runs the
same code it runs on a Mac. The kind stays ``lab`` so that the lab's process
manager, which serves the lab VM's services, is built beside it.

On ``tunnels`` health is judged on the control path (the VM's sshd port
answers), never on bookkeeping alone (R7). A force-cycle and a bridge restart
run the lab's runtime tool (``talon.lab.cycle``) as a child process, as a real
adapter runs the VM runtime's tool: bounded, killable with its group, never
blocking the loop.

Its capabilities are declared from its profile, as a real adapter's are from
the platform it drives: the default profile cannot restart the forwards alone,
``tunnels`` can. The profile comes from ``[runtime] profile`` when it names one
(an operator's claim, which the lab's tools may refuse at run time: a
``refused`` outcome), else from the lab itself.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from talon.adapters.command import exec_env, run_command
from talon.adapters.runtime.base import ContainerRuntime
from talon.capabilities import Capability
from talon.errors import ActionFailed, AdapterUnavailable
from talon.lab import profiles, vmtool
from talon.lab.procs import module_argv, wait_listening
from talon.lab.substrate import REFUSED_EXIT, Lab

VM = frozenset({Capability.FORCE_CYCLE, Capability.VM_SHELL, Capability.UPTIME})
DECLARED = {profiles.TUNNELS: VM | {Capability.RESTART_FORWARDING}}

# The tool's own bound; the daemon's action timeout (healing.*_timeout_secs) is longer.
TOOL_TIMEOUT_S = 120.0
# The bound of each call of the VM tool's adapter: the runtime probes' default timeout.
PROBE_TIMEOUT_S = 5.0


class LabRuntime:
    name = "lab"

    def __init__(
        self,
        directory: Path,
        boot_delay_s: float = 1.0,
        profile: str = "",
        *,
        env: Mapping[str, str] | None = None,
        timeout_s: float = PROBE_TIMEOUT_S,
    ) -> None:
        self.lab = Lab(directory)
        self.boot_delay_s = boot_delay_s
        claimed = profiles.canonical(profile)
        self.profile = claimed if claimed in profiles.VM_PROFILES else self.lab.profile()
        self.product: ContainerRuntime | None = None
        if profiles.has_vm_tool(self.profile):
            self.product = vmtool.product_runtime(
                directory,
                env=exec_env(base=os.environ if env is None else env),
                timeout_s=timeout_s,
                boot_delay_s=boot_delay_s,
            )
        self.capabilities = (
            self.product.capabilities if self.product else DECLARED.get(self.profile, VM)
        )
        self._detail = ""

    @property
    def health_detail(self) -> str:
        """Why the last health check decided as it did (the product adapter's words)."""
        return str(getattr(self.product, "health_detail", "")) if self.product else self._detail

    def engine_socket(self) -> str:
        """The engine socket the VM tool reported last; "" where the VM has none."""
        own = getattr(self.product, "engine_socket", None)
        return str(own()) if callable(own) else ""

    async def is_healthy(self) -> bool:
        if self.product:
            return await self.product.is_healthy()
        port = self.lab.ports().sshd
        healthy = await asyncio.to_thread(wait_listening, self.lab.vm, port, 1.0)
        self._detail = f"the VM's sshd on {self.lab.vm}:{port} " + (
            "accepts" if healthy else "accepts nothing"
        )
        return healthy

    async def vm_address(self) -> str | None:
        if self.product:
            return await self.product.vm_address()
        return self.lab.vm if self.lab.meta_path.exists() else None

    async def uptime_s(self) -> float | None:
        if self.product:
            return await self.product.uptime_s()
        boot = self.lab.boot()
        if not boot.get("running") or boot.get("booted_at") is None:
            return None
        return max(0.0, time.time() - float(boot["booted_at"]))

    def ssh_command(self, script: str) -> list[str]:
        if self.product:
            return self.product.ssh_command(script)
        # The lab's "VM" shares this machine: one shell word, as over ssh (R6).
        return ["sh", "-c", script]

    async def _tool(self, what: str) -> None:
        argv = module_argv(
            "talon.lab.cycle", "--dir", str(self.lab.dir), "--boot-delay", str(self.boot_delay_s)
        )
        result = await run_command(
            [*argv, what], timeout=TOOL_TIMEOUT_S, env=exec_env(base=os.environ)
        )
        if result.exit_code == REFUSED_EXIT:
            raise AdapterUnavailable(result.stderr.strip()[-500:])
        if not result.ok:
            why = "timed out" if result.timed_out else f"exited {result.exit_code}"
            raise ActionFailed(f"lab {what} {why}: {result.stderr.strip()[-500:]}")

    async def force_cycle(self) -> None:
        if self.product:
            await self.product.force_cycle()
        else:
            await self._tool("force-cycle")

    async def restart_forwarding(self) -> None:
        if self.product:
            await self.product.restart_forwarding()
        else:
            await self._tool("restart-forwarders")

    async def facts(self) -> dict[str, Any]:
        status = await asyncio.to_thread(self.lab.status)
        facts: dict[str, Any] = {"runtime": self.name, "profile": self.profile}
        if self.product:
            facts["adapter"] = await self.product.facts()
            return {**facts, "lab": status}
        return {**facts, "uptime_s": await self.uptime_s(), "lab": status}
