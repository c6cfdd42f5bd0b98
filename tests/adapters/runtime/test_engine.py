"""The Engine API client and EngineRuntime against a fake engine on a unix socket."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import pytest

from talon.adapters.runtime.colima import ColimaRuntime
from talon.adapters.runtime.engine import (
    CONVENTIONAL_SOCKET,
    EngineClient,
    EngineError,
    EngineRuntime,
    default_socket,
    parse_container,
    socket_from_env,
)
from talon.adapters.runtime.null import NullRuntime
from talon.errors import AdapterUnavailable, ErrorKind
from tests.adapters.runtime.fakes import FakeEngine, inspect_doc


def test_ping_inspect_and_info(sock_dir: Path) -> None:
    async def main() -> None:
        async with FakeEngine(sock_dir / "e.sock") as engine:
            engine.containers["web"] = inspect_doc("web", health="healthy")
            client = EngineClient(str(sock_dir / "e.sock"), 2.0)
            assert await client.ping() == "OK"
            state = await client.inspect_container("web")
            assert state is not None
            assert (state.name, state.status, state.running, state.health) == (
                "web",
                "running",
                True,
                "healthy",
            )
            by_id = await client.inspect_container(engine.containers["web"]["Id"][:12])
            assert by_id is not None
            assert by_id.name == "web"
            assert await client.inspect_container("nope") is None
            assert (await client.info())["ServerVersion"] == "27.1.1"

    asyncio.run(main())


def test_parse_container_of_an_exited_oom_killed_one() -> None:
    state = parse_container(inspect_doc("db", "exited", exit_code=137, oom=True, restart_count=4))
    assert state.status == "exited"
    assert not state.running
    assert state.exit_code == 137
    assert state.oom_killed
    assert state.restart_count == 4
    assert state.health is None  # no health check configured
    assert state.finished_at.startswith("2024-05-01T11:00")


def test_parse_container_keeps_the_last_health_output() -> None:
    doc = inspect_doc("api", health="unhealthy", health_output="curl: (7) refused\n")
    state = parse_container(doc)
    assert state.health == "unhealthy"
    assert state.failing_streak == 3
    assert state.last_health_output == "curl: (7) refused"


def test_a_socket_with_nothing_listening_is_refused(sock_dir: Path) -> None:
    path = sock_dir / "dead.sock"
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(str(path))  # bound but not listening
    try:
        with pytest.raises(EngineError) as info:
            asyncio.run(EngineClient(str(path), 2.0).ping())
        assert info.value.kind is ErrorKind.REFUSED
        assert str(path) in str(info.value)
    finally:
        dead.close()


def test_a_missing_socket_is_a_clear_error(sock_dir: Path) -> None:
    runtime = EngineRuntime({}, socket=str(sock_dir / "absent.sock"))
    assert asyncio.run(runtime.is_healthy()) is False
    assert runtime.health_detail == f"no engine socket at {sock_dir / 'absent.sock'}"


def test_a_hanging_engine_is_bounded(sock_dir: Path) -> None:
    async def main() -> None:
        async with FakeEngine(sock_dir / "e.sock") as engine:
            engine.hang = True
            started = time.monotonic()
            with pytest.raises(EngineError) as info:
                await EngineClient(str(sock_dir / "e.sock"), 0.3).ping()
            assert info.value.kind is ErrorKind.TIMEOUT
            assert time.monotonic() - started < 2

    asyncio.run(main())


def test_engine_runtime_is_healthy_when_the_engine_answers(sock_dir: Path) -> None:
    runtime = EngineRuntime({"DOCKER_HOST": f"unix://{sock_dir}/e.sock"})

    async def main() -> tuple[bool, dict[str, object]]:
        async with FakeEngine(sock_dir / "e.sock"):
            return await runtime.is_healthy(), await runtime.facts()

    healthy, facts = asyncio.run(main())
    assert healthy is True
    assert facts["engine"] == {
        "ServerVersion": "27.1.1",
        "OperatingSystem": "Ubuntu 24.04 LTS",
        "Containers": 0,
        "ContainersRunning": 0,
        "NCPU": 4,
    }


def test_engine_runtime_has_no_vm_and_never_restarts_the_engine() -> None:
    runtime = EngineRuntime({})
    assert asyncio.run(runtime.vm_address()) is None
    assert asyncio.run(runtime.uptime_s()) is None
    with pytest.raises(AdapterUnavailable):
        runtime.ssh_command("true")
    with pytest.raises(AdapterUnavailable, match="does not restart"):
        asyncio.run(runtime.force_cycle())
    with pytest.raises(AdapterUnavailable):
        asyncio.run(runtime.restart_forwarding())


def test_socket_defaults() -> None:
    assert socket_from_env({}) == CONVENTIONAL_SOCKET
    assert socket_from_env({"DOCKER_HOST": "unix:///run/user/1000/e.sock"}) == (
        "/run/user/1000/e.sock"
    )
    assert socket_from_env({"DOCKER_HOST": "tcp://10.0.0.2:2375"}) == CONVENTIONAL_SOCKET
    assert EngineRuntime({}, socket="/srv/e.sock").engine_socket() == "/srv/e.sock"
    assert EngineRuntime({"HOME": "/home/u"}, socket="~/e.sock").engine_socket() == "/home/u/e.sock"


def test_default_socket_prefers_the_runtime_s_own(tmp_path: Path) -> None:
    env = {"DOCKER_HOST": "unix:///from/env.sock", "COLIMA_HOME": str(tmp_path)}
    colima = ColimaRuntime(env, profile="work")
    assert default_socket(colima, env) == str(tmp_path / "work" / "docker.sock")
    assert default_socket(NullRuntime(), env) == "/from/env.sock"
    assert default_socket(NullRuntime(), {}) == CONVENTIONAL_SOCKET
