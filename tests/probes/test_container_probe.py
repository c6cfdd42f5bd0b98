"""The ``container`` probe against a fake engine API on a unix socket (see tests/adapters/runtime/fakes.py)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from talon.adapters.runtime.engine import EngineRuntime
from talon.config.probes import ContainerProbe
from talon.probes import ErrorKind, ProbeContext, Status
from talon.probes import container as container_probe
from talon.report import Observation
from tests.adapters.runtime.fakes import FakeEngine, inspect_doc, short_dir


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    with short_dir() as path:
        yield path


def _spec(**fields: Any) -> ContainerProbe:
    return ContainerProbe.model_validate({"name": "c", "kind": "container", **fields})


def _run(
    spec: ContainerProbe, ctx: ProbeContext, engine_at: Path | None, **containers: dict[str, Any]
) -> Observation:
    async def main() -> Observation:
        if engine_at is None:
            return await container_probe.probe(spec, ctx)
        async with FakeEngine(engine_at) as engine:
            engine.containers.update(containers)
            return await container_probe.probe(spec, ctx)

    return asyncio.run(main())


def test_the_engine_answers(ctx: ProbeContext, sock_dir: Path) -> None:
    obs = _run(_spec(socket=f"unix://{sock_dir}/e.sock"), ctx, sock_dir / "e.sock")
    assert obs.status is Status.OK
    assert obs.message == f"the engine answers on {sock_dir}/e.sock"


def test_a_running_container(ctx: ProbeContext, sock_dir: Path) -> None:
    spec = _spec(socket=str(sock_dir / "e.sock"), container="web")
    obs = _run(spec, ctx, sock_dir / "e.sock", web=inspect_doc("web"))
    assert obs.status is Status.OK
    assert obs.message.startswith("web: running since 2024-05-01T10:00")
    assert obs.detail["state"] == "running"


def test_a_healthy_container(ctx: ProbeContext, sock_dir: Path) -> None:
    spec = _spec(socket=str(sock_dir / "e.sock"), container="web")
    obs = _run(spec, ctx, sock_dir / "e.sock", web=inspect_doc("web", health="healthy"))
    assert obs.status is Status.OK
    assert obs.message.endswith(", healthy")


def test_an_exited_container_fails_with_the_reason(ctx: ProbeContext, sock_dir: Path) -> None:
    spec = _spec(socket=str(sock_dir / "e.sock"), container="db")
    doc = inspect_doc("db", "exited", exit_code=137, oom=True)
    obs = _run(spec, ctx, sock_dir / "e.sock", db=doc)
    assert obs.status is Status.CRITICAL
    assert obs.error_kind is ErrorKind.NOT_READY
    assert obs.message == (
        "db: exited (exit code 137, killed for lack of memory) at 2024-05-01T11:00:00.000000000Z"
    )


def test_a_missing_container_is_not_found(ctx: ProbeContext, sock_dir: Path) -> None:
    spec = _spec(socket=str(sock_dir / "e.sock"), container="ghost")
    obs = _run(spec, ctx, sock_dir / "e.sock", web=inspect_doc("web"))
    assert obs.status is Status.CRITICAL
    assert obs.error_kind is ErrorKind.NOT_FOUND
    assert obs.message == "no such container: ghost"


def test_an_unhealthy_container_fails_with_its_check_output(
    ctx: ProbeContext, sock_dir: Path
) -> None:
    spec = _spec(socket=str(sock_dir / "e.sock"), container="api")
    doc = inspect_doc("api", health="unhealthy", health_output="curl: (7) Failed to connect")
    obs = _run(spec, ctx, sock_dir / "e.sock", api=doc)
    assert obs.status is Status.CRITICAL
    assert obs.error_kind is ErrorKind.NOT_READY
    assert "unhealthy (failing streak 3): curl: (7) Failed to connect" in obs.message


def test_a_starting_health_check_is_a_warning(ctx: ProbeContext, sock_dir: Path) -> None:
    spec = _spec(socket=str(sock_dir / "e.sock"), container="api")
    obs = _run(spec, ctx, sock_dir / "e.sock", api=inspect_doc("api", health="starting"))
    assert obs.status is Status.WARNING


@pytest.mark.parametrize(("state", "words"), [("paused", "paused"), ("restarting", "restarting")])
def test_paused_and_restarting_fail(
    ctx: ProbeContext, sock_dir: Path, state: str, words: str
) -> None:
    spec = _spec(socket=str(sock_dir / "e.sock"), container="w")
    obs = _run(spec, ctx, sock_dir / "e.sock", w=inspect_doc("w", state, restart_count=5))
    assert obs.status is Status.CRITICAL
    assert words in obs.message


def test_nothing_listening_fails_clearly(ctx: ProbeContext, sock_dir: Path) -> None:
    path = sock_dir / "dead.sock"
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(str(path))
    try:
        obs = _run(_spec(socket=str(path), container="web"), ctx, None)
    finally:
        dead.close()
    assert obs.status is Status.CRITICAL
    assert obs.error_kind is ErrorKind.REFUSED
    assert str(path) in obs.message


def test_the_socket_defaults_to_the_runtime_s(ctx: ProbeContext, sock_dir: Path) -> None:
    runtime_ctx = replace(ctx, runtime=EngineRuntime({}, socket=str(sock_dir / "rt.sock")))
    obs = _run(_spec(), runtime_ctx, sock_dir / "rt.sock")
    assert obs.status is Status.OK
    assert obs.detail["socket"] == str(sock_dir / "rt.sock")


def test_the_socket_defaults_to_the_environment_s(ctx: ProbeContext, sock_dir: Path) -> None:
    env_ctx = replace(ctx, env={**ctx.env, "DOCKER_HOST": f"unix://{sock_dir}/env.sock"})
    obs = _run(_spec(), env_ctx, sock_dir / "env.sock")
    assert obs.status is Status.OK
    assert obs.detail["socket"] == str(sock_dir / "env.sock")


def test_a_hung_engine_costs_only_the_timeout(ctx: ProbeContext, sock_dir: Path) -> None:
    spec = _spec(socket=str(sock_dir / "e.sock"), timeout_secs=0.3)

    async def main() -> Observation:
        async with FakeEngine(sock_dir / "e.sock") as engine:
            engine.hang = True
            return await container_probe.probe(spec, ctx)

    started = time.monotonic()
    obs = asyncio.run(main())
    assert time.monotonic() - started < 2
    assert obs.error_kind is ErrorKind.TIMEOUT


def test_spec_validation() -> None:
    assert _spec().probe_class == "infra"
    assert _spec().layer == "runtime"
    with pytest.raises(ValueError, match="unix socket"):
        _spec(socket="tcp://127.0.0.1:2375")
    with pytest.raises(ValueError, match="container name"):
        _spec(container="../../info")
