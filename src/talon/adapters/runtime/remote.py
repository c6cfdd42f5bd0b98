"""A machine reached over ssh: the cluster runs there, Talon watches from here.

ssh joins its command words with spaces and the remote login shell splits
them again, so the script is sent as ONE word, ``sh -c 'SCRIPT'`` quoted with
``shlex.quote`` (R6). BatchMode keeps ssh from ever prompting; ConnectTimeout
and Talon's own bound keep it from hanging. Talon does not power-cycle a
machine it reaches only over ssh.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from talon.adapters.runtime.lima import HEALTH_SCRIPT, UPTIME_SCRIPT, shell_alive, shell_uptime
from talon.adapters.ssh import ssh_argv
from talon.capabilities import Capability
from talon.errors import AdapterUnavailable


class RemoteRuntime:
    name = "remote"
    capabilities = frozenset({Capability.VM_SHELL, Capability.UPTIME})

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        host: str,
        ssh_options: Sequence[str] = (),
        timeout_s: float = 5.0,
        address: str | None = None,
        ssh: str = "ssh",
    ) -> None:
        self._env = dict(env)
        self.host = host
        self.ssh_options = tuple(ssh_options)
        self.timeout_s = timeout_s
        self._address = address
        self._ssh = ssh
        self.health_detail = ""

    def ssh_command(self, script: str) -> list[str]:
        # ssh gives up connecting a little before Talon's bound, so it can say why.
        return ssh_argv(
            self.host, script, timeout_s=self.timeout_s, options=self.ssh_options, ssh=self._ssh
        )

    async def is_healthy(self) -> bool:
        healthy, self.health_detail = await shell_alive(
            self.ssh_command(HEALTH_SCRIPT), timeout=self.timeout_s, env=self._env
        )
        return healthy

    async def vm_address(self) -> str | None:
        return self._address

    async def uptime_s(self) -> float | None:
        return await shell_uptime(
            self.ssh_command(UPTIME_SCRIPT), timeout=self.timeout_s, env=self._env
        )

    async def force_cycle(self) -> None:
        raise AdapterUnavailable(
            f"Talon does not power-cycle {self.host}: it is reached only over ssh"
        )

    async def restart_forwarding(self) -> None:
        raise AdapterUnavailable(f"{self.host} is reached over ssh: there is no forwarder to heal")

    async def facts(self) -> dict[str, Any]:
        facts: dict[str, Any] = {
            "runtime": self.name,
            "host": self.host,
            "vm_address": self._address,
        }
        try:
            facts["uptime_s"] = await self.uptime_s()
        except AdapterUnavailable as exc:
            facts["error"] = str(exc)
        return facts
