"""Tier-1 heals: the bridge, the runtime, the engine, a heal script, a service, the RBAC guard.

Each runs through ``bounded`` (a timeout longer than the work it guards, R20)
and every runtime action under the runtime lock (R19). None of them decides
anything: the core chose the action; these only carry it out and say how it went.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

from talon.actions.outcome import DONE, FAILED, Outcome, bounded, from_command
from talon.actions.runtime_lock import LockTimeout, runtime_lock
from talon.adapters.command import run_command
from talon.adapters.kube import ClusterClient, ClusterError
from talon.adapters.process import ProcessManager
from talon.adapters.runtime import ContainerRuntime
from talon.errors import ActionFailed

LOCK_WAIT_S = 60.0


async def bridge_heal(runtime: ContainerRuntime, lock: Path, timeout: float, who: str) -> Outcome:
    done = f"{runtime.name}: port forwarding restarted"
    return await _runtime_action(
        runtime.restart_forwarding, lock, timeout, who, "bridge heal", done
    )


async def force_cycle(runtime: ContainerRuntime, lock: Path, timeout: float, who: str) -> Outcome:
    done = f"{runtime.name}: force-cycled"
    return await _runtime_action(runtime.force_cycle, lock, timeout, who, "force-cycle", done)


async def _runtime_action(
    call: Callable[[], Awaitable[None]], lock: Path, timeout: float, who: str, what: str, done: str
) -> Outcome:
    async def work() -> str:
        async with runtime_lock(lock, timeout=LOCK_WAIT_S, who=who):
            await call()
        return done

    return await _locked(work, timeout, what)


async def heal_script(
    command: str,
    *,
    lock: Path,
    timeout: float,
    env: Mapping[str, str],
    who: str,
    extra_env: Mapping[str, str],
) -> Outcome:
    """``sh -c COMMAND`` in its own process group, killed as a group on timeout (R21).

    The script inherits the locked runtime lock: it holds the lock as long as it
    lives, and must not take it again (TALON_RUNTIME_LOCK_HELD=1 says so).
    """

    async def work() -> Outcome:
        async with runtime_lock(lock, timeout=LOCK_WAIT_S, who=who) as fd:
            child_env = {
                **env,
                **extra_env,
                "TALON_RUNTIME_LOCK": str(lock),
                "TALON_RUNTIME_LOCK_HELD": "1",
            }
            result = await run_command(
                ["sh", "-c", command], timeout=timeout, env=child_env, pass_fds=(fd,)
            )
        return from_command(result, "heal script", timeout)

    # The lock wait and the script's own timeout both fit inside the action's bound.
    return await _locked(work, timeout + LOCK_WAIT_S + 5.0, "heal script")


async def restart_engine(
    pm: ProcessManager, label: str, lock: Path, timeout: float, who: str
) -> Outcome:
    """A native container engine restarted through its process manager: a runtime
    action like a force-cycle, so it runs under the runtime lock (R19)."""

    async def restart() -> None:
        await pm.restart(label)

    return await _runtime_action(
        restart, lock, timeout, who, f"restart {label}", f"{pm.name}: restarted {label}"
    )


async def restart_service(pm: ProcessManager, label: str, timeout: float) -> Outcome:
    async def work() -> str:
        await pm.restart(label)
        status = await pm.inspect(label)
        return f"{pm.name}: restarted {label} ({status.state}, pid {status.pid})"

    return await bounded(work, timeout, f"restart {label}")


async def apply_rbac_guard(
    client: ClusterClient,
    manifest: str,
    timeout: float,
    recheck: Callable[[], Awaitable[tuple[bool, str]]],
) -> Outcome:
    """The cluster client applies MANIFEST, then the can-i checks run again (F6)."""

    async def work() -> Outcome:
        try:
            output = await client.apply(manifest, timeout)
        except ClusterError as exc:
            raise ActionFailed(f"the cluster client could not apply {manifest}: {exc}") from None
        ok, why = await recheck()
        if not ok:
            return Outcome(FAILED, f"applied {manifest}, but can-i still fails: {why}", output)
        return Outcome(DONE, f"applied {manifest}; can-i passes again: {why}", output)

    return await bounded(work, timeout * 2 + 5.0, "RBAC guard")


async def _locked(
    work: Callable[[], Awaitable[str | Outcome]], timeout: float, what: str
) -> Outcome:
    async def guarded() -> str | Outcome:
        try:
            return await work()
        except LockTimeout as exc:
            return Outcome(FAILED, f"{what}: {exc}")

    return await bounded(guarded, timeout, what)
