"""Everything a probe needs besides its own spec, injected (no globals, no patching)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from talon.adapters.command import exec_env
from talon.adapters.process import ProcessManager
from talon.adapters.runtime import ContainerRuntime
from talon.config.models import TalonConfig
from talon.node import NodeIdentity, expand_path
from talon.probes.redis_clients import RedisClients


def children_env(config: TalonConfig) -> dict[str, str]:
    """The environment of every child Talon runs: ``[exec]`` PATH and variables (R1)."""
    env = exec_env(config.exec.path, inherit_path=config.exec.inherit_path)
    env |= {key: str(expand_path(value, env)) for key, value in config.exec.env.items()}
    return env


@dataclass(frozen=True)
class ProbeContext:
    identity: NodeIdentity
    runtime: ContainerRuntime
    process_manager: ProcessManager
    env: dict[str, str]  # environment of every child process (explicit PATH, R1)
    redis: RedisClients = field(default_factory=RedisClients)
    clock: Callable[[], float] = time.time
    vm_address: str | None = None  # discovered once per cycle by the runner

    @classmethod
    def from_config(
        cls, config: TalonConfig, identity: NodeIdentity, *, clock: Callable[[], float] = time.time
    ) -> ProbeContext:
        from talon.adapters.process.factory import build_process_manager
        from talon.adapters.runtime.factory import build_runtime

        env = children_env(config)
        timeout_s = float(config.probes.runtime_timeout_secs)
        runtime = build_runtime(config.runtime.model_dump(), env, timeout_s=timeout_s)
        settings = config.process_manager.model_dump()
        process_manager = build_process_manager(settings, env, runtime=runtime)
        return cls(
            identity=identity,
            runtime=runtime,
            process_manager=process_manager,
            env=env,
            clock=clock,
        )

    async def aclose(self) -> None:
        await self.redis.aclose()
