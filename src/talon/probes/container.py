"""The ``container`` probe: the container engine answers, and a named container runs.

The engine is asked through its API on a unix socket (``/_ping``, then the
container's inspect document), never through CLI text. The socket defaults to
the runtime adapter's, then the environment's, then the conventional one;
that choice lives in the adapter. A container with a health check must also
be healthy; ``starting`` is a warning, so a fresh start is not a fault.

Failure kinds say who failed: the engine (refused, timeout, protocol, ...) or the
container while the engine answered (``not_ready``, ``not_found``). The result's
``detail`` keeps the engine's own words, ``state`` (``State.Status``) and ``health``
(``State.Health.Status``, None without a check): the core reads them to tell a
running, unhealthy container (restarted by the ``restart_container`` heal) from a
stopped one (never started by Talon: ``talon.adapters.runtime.engine.not_restartable``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from talon.adapters.runtime.engine import (
    ContainerState,
    EngineClient,
    EngineError,
    default_socket,
    socket_path,
)
from talon.config.probes import ContainerProbe
from talon.probes.context import ProbeContext
from talon.report import ErrorKind, Observation, Status


def judge(name: str, state: ContainerState | None) -> tuple[Status, str, ErrorKind | None]:
    """A container's inspect state -> (status, message, error kind); pure."""
    if state is None:
        return Status.CRITICAL, f"no such container: {name}", ErrorKind.NOT_FOUND
    if state.running and not state.paused and not state.restarting:
        since = f" since {state.started_at}" if state.started_at else ""
        if state.health in (None, "none", "healthy"):
            healthy = ", healthy" if state.health == "healthy" else ""
            return Status.OK, f"{name}: running{since}{healthy}", None
        if state.health == "starting":
            return Status.WARNING, f"{name}: running, health check starting", ErrorKind.NOT_READY
        last = f": {state.last_health_output[:200]}" if state.last_health_output else ""
        message = (
            f"{name}: running but {state.health} (failing streak {state.failing_streak}){last}"
        )
        return Status.CRITICAL, message, ErrorKind.NOT_READY
    if state.paused:
        return Status.CRITICAL, f"{name}: paused", ErrorKind.NOT_READY
    if state.restarting or state.status == "restarting":
        message = (
            f"{name}: restarting (restarted {state.restart_count} times, "
            f"last exit code {state.exit_code})"
        )
        return Status.CRITICAL, message, ErrorKind.NOT_READY
    ran = state.status != "created"  # created and never started: no exit, no end
    why = [f"exit code {state.exit_code}"] if state.exit_code is not None and ran else []
    if state.oom_killed:
        why.append("killed for lack of memory")
    if state.error:
        why.append(state.error[:200])
    when = f" at {state.finished_at}" if state.finished_at and ran else ""
    reason = f" ({', '.join(why)})" if why else ""
    return (
        Status.CRITICAL,
        f"{name}: {state.status or 'not running'}{reason}{when}",
        ErrorKind.NOT_READY,
    )


def socket_for(spec: ContainerProbe, runtime: object, env: Mapping[str, str]) -> str:
    """The engine socket this probe (and a restart of its container) speaks to."""
    if spec.socket is not None:
        return socket_path(spec.socket, env)
    return default_socket(runtime, env)


async def probe(spec: ContainerProbe, ctx: ProbeContext) -> Observation:
    socket = socket_for(spec, ctx.runtime, ctx.env)
    client = EngineClient(socket, spec.timeout_secs)
    detail: dict[str, object] = {"socket": socket}
    try:
        async with asyncio.timeout(spec.timeout_secs):
            answer = await client.ping()
            if answer != "OK":
                message = f"the engine on {socket} answered /_ping with {answer[:80]!r}"
                return Observation(Status.CRITICAL, message, ErrorKind.PROTOCOL, detail=detail)
            if spec.container is None:
                return Observation(Status.OK, f"the engine answers on {socket}", detail=detail)
            state = await client.inspect_container(spec.container)
    except EngineError as exc:
        return Observation(Status.CRITICAL, str(exc), exc.kind, detail=detail)
    except TimeoutError:
        message = f"the engine on {socket} gave no answer within {spec.timeout_secs:g}s"
        return Observation(Status.CRITICAL, message, ErrorKind.TIMEOUT, detail=detail)
    if state is not None:
        detail |= {
            "container": state.id[:12],
            "state": state.status,
            "health": state.health,
            "failing_streak": state.failing_streak,
            "exit_code": None if state.running else state.exit_code,
            "restart_count": state.restart_count,
        }
    status, message, kind = judge(spec.container, state)
    return Observation(status, message, kind, detail=detail)
