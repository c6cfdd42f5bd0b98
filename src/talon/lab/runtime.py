"""The lab's ContainerRuntime adapter: the VM is the lab's processes on its VM address.

Health is judged on the control path (the VM's sshd port answers), never on
bookkeeping alone (R7). A force-cycle stops the VM and its forwards, waits
like a boot, and starts them again; it runs in a thread so the loop never blocks.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from talon.lab.procs import wait_listening
from talon.lab.substrate import Lab


class LabRuntime:
    name = "lab"

    def __init__(self, directory: Path, boot_delay_s: float = 1.0) -> None:
        self.lab = Lab(directory)
        self.boot_delay_s = boot_delay_s

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

    async def force_cycle(self) -> None:
        await asyncio.to_thread(self.lab.force_cycle, self.boot_delay_s)
