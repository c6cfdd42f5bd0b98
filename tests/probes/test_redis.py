"""The redis probe against a real redis-server started by the test."""

from __future__ import annotations

import asyncio
from pathlib import Path

from talon.config import EndpointSpec, RedisProbe
from talon.probes import ErrorKind, ProbeContext, Status
from talon.probes import redis as redis_probe
from talon.probes.redis import persistence_problems
from talon.report import Observation
from tests.support import procs


def _probe(spec: RedisProbe, ctx: ProbeContext) -> Observation:
    """One probe in its own loop, with the context's connections closed after."""

    async def run() -> Observation:
        try:
            return await redis_probe.probe(spec, ctx)
        finally:
            await ctx.aclose()

    return asyncio.run(run())


def _spec(port: int, **kw: object) -> RedisProbe:
    return RedisProbe(name="r", kind="redis", address=f"127.0.0.1:{port}", timeout_secs=2, **kw)  # type: ignore[arg-type]


def test_ping_and_persistence_on_a_real_server(tmp_path: Path, ctx: ProbeContext) -> None:
    with procs.redis_server(tmp_path) as port:
        obs = _probe(_spec(port, check_persistence=True), ctx)
    assert obs.status is Status.OK
    assert obs.message == "PONG, persistence ok"
    assert obs.endpoint_class == "localhost"


def test_one_connection_per_target_across_cycles(tmp_path: Path, ctx: ProbeContext) -> None:
    """A new client per check costs 20x: the same connection serves every cycle."""

    async def cycles() -> list[int]:
        from redis.asyncio import Redis

        spec = _spec(port)
        seen = []
        admin = Redis(port=port)
        for _ in range(5):
            assert (await redis_probe.probe(spec, ctx)).status is Status.OK
            info = await admin.info("stats")
            seen.append(int(info["total_connections_received"]))
        await admin.aclose()
        await ctx.aclose()
        return seen

    with procs.redis_server(tmp_path) as port:
        seen = asyncio.run(cycles())
    assert len(set(seen)) == 1, seen  # no new connection after the first cycle


def test_stopped_server_is_refused_and_the_client_reconnects_after(
    tmp_path: Path, ctx: ProbeContext
) -> None:
    async def run(spec: RedisProbe) -> Status:
        return (await redis_probe.probe(spec, ctx)).status

    async def scenario() -> None:
        with procs.redis_server(tmp_path) as port:
            spec = _spec(port)
            assert await run(spec) is Status.OK
        down = await redis_probe.probe(spec, ctx)
        assert down.status is Status.CRITICAL
        assert down.error_kind in (ErrorKind.REFUSED, ErrorKind.EMPTY_REPLY, ErrorKind.RESET)
        assert len(ctx.redis) == 0  # the broken client was dropped
        await ctx.aclose()

    asyncio.run(scenario())


def test_vm_path_answers_for_redis(tmp_path: Path, vm_ctx: ProbeContext) -> None:
    with procs.redis_server(tmp_path, host="127.0.0.2") as port:
        spec = RedisProbe(
            name="r",
            kind="redis",
            address=f"127.0.0.1:{port}",
            endpoint=EndpointSpec(),
            timeout_secs=2,
        )
        obs = _probe(spec, vm_ctx)
    assert obs.status is Status.OK
    assert obs.endpoint_class == "vm"


def test_missing_password_variable_is_reported(ctx: ProbeContext) -> None:
    obs = _probe(_spec(1, password_env="TALON_TEST_UNSET_PW"), ctx)
    assert obs.error_kind is ErrorKind.DENIED
    assert "TALON_TEST_UNSET_PW" in obs.message


def test_persistence_fields_from_info() -> None:
    """Fields as `INFO persistence` reports them (redis 7)."""
    healthy = {"aof_enabled": 1, "aof_last_write_status": "ok", "aof_last_bgrewrite_status": "ok"}
    assert persistence_problems(healthy) == []
    broken = {**healthy, "aof_last_write_status": "err"}
    assert persistence_problems(broken) == ["aof_last_write_status=err"]
