"""The lab's ContainerRuntime adapter: the VM is the lab's processes on its VM address.

Health is judged on the control path (the VM's sshd port answers), never on
bookkeeping alone (R7). A force-cycle and a bridge restart run the lab's
runtime tool (``talon.lab.cycle``) as a child process, as a real adapter runs
the VM runtime's tool: bounded, killable with its group, never blocking the loop.

Its capabilities are declared from its profile, as a real adapter's are from
the platform it drives: ``agent`` cannot restart the forwards alone,
``tunnels`` can. The profile comes from ``[runtime] profile`` when it names
one (an operator's claim, which the lab's tool may refuse at run time: a
``refused`` outcome), else from the lab itself.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from talon.adapters.command import exec_env, run_command
from talon.capabilities import Capability
from talon.errors import ActionFailed, AdapterUnavailable
from talon.lab.procs import module_argv, wait_listening
from talon.lab.substrate import PROFILES, REFUSED_EXIT, Lab

VM = frozenset({Capability.FORCE_CYCLE, Capability.VM_SHELL, Capability.UPTIME})
DECLARED = {"agent": VM, "tunnels": VM | {Capability.RESTART_FORWARDING}}

# The tool's own bound; the daemon's action timeout (healing.*_timeout_secs) is longer.
TOOL_TIMEOUT_S = 120.0


class LabRuntime:
    name = "lab"

    def __init__(self, directory: Path, boot_delay_s: float = 1.0, profile: str = "") -> None:
        self.lab = Lab(directory)
        self.boot_delay_s = boot_delay_s
        self.profile = profile if profile in PROFILES else self.lab.profile()
        self.capabilities = DECLARED.get(self.profile, VM)

    async def is_healthy(self) -> bool:
        port = self.lab.ports().sshd
        return await asyncio.to_thread(wait_listening, self.lab.vm, port, 1.0)

    async def vm_address(self) -> str | None:
        return self.lab.vm if self.lab.meta_path.exists() else None

    async def uptime_s(self) -> float | None:
        boot = self.lab.boot()
        if not boot.get("running") or boot.get("booted_at") is None:
            return None
        return max(0.0, time.time() - float(boot["booted_at"]))

    def ssh_command(self, script: str) -> list[str]:
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
        await self._tool("force-cycle")

    async def restart_forwarding(self) -> None:
        await self._tool("restart-forwarders")

    async def facts(self) -> dict[str, Any]:
        status = await asyncio.to_thread(self.lab.status)
        return {"runtime": self.name, "uptime_s": await self.uptime_s(), **status}
