"""The ``redis`` probe: PING on each path, and optionally persistence health."""

from __future__ import annotations

import asyncio
from functools import partial

from talon.config.probes import RedisProbe, split_host_port
from talon.probes.context import ProbeContext
from talon.probes.endpoints import Path, plan, resolve
from talon.probes.net import ProbeFailure, classify, failed, succeeded
from talon.report import ErrorKind, Observation, PathOutcome

PERSISTENCE_FIELDS = ("aof_last_write_status", "aof_last_bgrewrite_status")


def _redis_error(exc: BaseException, timeout: float) -> ProbeFailure:
    """redis-py wraps socket errors; find the cause and classify it like any other (R9)."""
    from redis import exceptions as rx

    if isinstance(exc, rx.AuthenticationError | rx.AuthorizationError):
        return ProbeFailure(ErrorKind.DENIED, f"redis denied: {exc}")
    if isinstance(exc, rx.BusyLoadingError):
        return ProbeFailure(ErrorKind.NOT_READY, "redis is loading its dataset")
    if isinstance(exc, rx.TimeoutError):
        return ProbeFailure(ErrorKind.TIMEOUT, f"no answer within {timeout:g}s")
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, OSError | TimeoutError):
            kind, message = classify(cause, timeout)
            return ProbeFailure(kind, message)
        cause = cause.__cause__ or cause.__context__
    text = str(exc)
    if "Connection closed by server" in text or "closed" in text.lower():
        return ProbeFailure(ErrorKind.EMPTY_REPLY, f"redis closed the connection: {text}")
    if "refused" in text.lower():
        return ProbeFailure(ErrorKind.REFUSED, "connection refused")
    return ProbeFailure(ErrorKind.PROTOCOL, f"redis error: {text}")


def persistence_problems(info: dict[str, object]) -> list[str]:
    """Fields of ``INFO persistence`` that report a failed write or rewrite."""
    return [f"{k}={info[k]}" for k in PERSISTENCE_FIELDS if k in info and info[k] != "ok"]


async def attempt(
    spec: RedisProbe, ctx: ProbeContext, password: str | None, path: Path
) -> PathOutcome:
    loop = asyncio.get_running_loop()
    started = loop.time()
    client = ctx.redis.get(path.host, path.port, spec.db, password, spec.timeout_secs)
    try:
        async with asyncio.timeout(spec.timeout_secs):
            await client.ping()
            if spec.check_persistence:
                info = await client.info("persistence")
                if problems := persistence_problems(info):
                    raise ProbeFailure(
                        ErrorKind.PERSISTENCE, "persistence failing: " + ", ".join(problems)
                    )
    except ProbeFailure as exc:
        return failed(path, exc, spec.timeout_secs, started)
    except Exception as exc:
        await ctx.redis.discard(path.host, path.port, spec.db, password)
        return failed(path, _redis_error(exc, spec.timeout_secs), spec.timeout_secs, started)
    return succeeded(path, started, "PONG" + (", persistence ok" if spec.check_persistence else ""))


async def probe(spec: RedisProbe, ctx: ProbeContext) -> Observation:
    password = None
    if spec.password_env:
        password = ctx.env.get(spec.password_env)
        if not password:
            return Observation.failure(
                ErrorKind.DENIED, f"password variable {spec.password_env} is not set or empty"
            )
    host, port = split_host_port(spec.address)
    paths = plan(host, port, spec.endpoint, ctx.vm_address, spec.remote)
    return await resolve(paths, partial(attempt, spec, ctx, password))
