"""The Engine API client and EngineRuntime against a real dockerd (tests/support/dockerd.py).

The fake engine (tests/adapters/runtime/fakes.py) is kept only for what a real one
cannot be made to do here: answer garbage.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
from pathlib import Path

import pytest

from talon.adapters.runtime.colima import ColimaRuntime
from talon.adapters.runtime.engine import (
    CONVENTIONAL_SOCKET,
    ContainerState,
    EngineClient,
    EngineError,
    EngineRuntime,
    default_socket,
    restart_unhealthy,
    socket_from_env,
)
from talon.adapters.runtime.null import NullRuntime
from talon.capabilities import Capability
from talon.errors import ActionFailed, AdapterUnavailable, ErrorKind
from talon.lab.linux.dockerd import Dockerd
from tests.adapters.runtime.fakes import FakeEngine
from tests.support.dockerd import Containers, containers, docker_engine, frozen, wait_for

__all__ = ["containers", "docker_engine"]  # the fixtures


def _client(engine: Dockerd, timeout: float = 5.0) -> EngineClient:
    return EngineClient(str(engine.socket), timeout)


def test_ping_version_and_info(docker_engine: Dockerd) -> None:
    async def main() -> None:
        client = _client(docker_engine)
        assert await client.ping() == "OK"
        version = await client.version()
        assert version["Version"].startswith("20.10.")
        assert version["ApiVersion"] == "1.41"
        assert (await client.info())["ServerVersion"] == version["Version"]

    asyncio.run(main())


def test_containers_lists_running_and_stopped_ones(containers: Containers) -> None:
    running = containers.run("up")
    stopped = containers.run("down", start=False)

    async def main() -> tuple[dict[str, str], dict[str, str]]:
        client = _client(containers.engine)
        every = {c["Names"][0].lstrip("/"): c["State"] for c in await client.containers()}
        live = {c["Names"][0].lstrip("/"): c["State"] for c in await client.containers(all=False)}
        return every, live

    every, live = asyncio.run(main())
    assert every[running.name] == "running"
    assert every[stopped.name] == "created"
    assert running.name in live
    assert stopped.name not in live


def test_inspect_follows_health_from_starting_to_unhealthy(containers: Containers) -> None:
    c = containers.run("api", health=True, ready=False)  # fails, but within its start period
    client = _client(containers.engine)
    state = asyncio.run(client.inspect_container(c.name))
    assert state is not None
    assert (state.name, state.id, state.status, state.running) == (c.name, c.id, "running", True)
    assert state.health == "starting"
    c.ready()
    containers.wait_health(c.name, "healthy")
    healthy = asyncio.run(client.inspect_container(c.id[:12]))  # by a short id too
    assert healthy is not None
    assert (healthy.name, healthy.health, healthy.failing_streak) == (c.name, "healthy", 0)
    c.wedge("curl: (7) Failed to connect to 127.0.0.1 port 8080")
    containers.wait_health(c.name, "unhealthy")
    sick = asyncio.run(client.inspect_container(c.name))
    assert sick is not None
    assert sick.running
    assert sick.health == "unhealthy"
    assert sick.failing_streak >= 2  # Retries: 2
    assert sick.last_health_output == "curl: (7) Failed to connect to 127.0.0.1 port 8080"


def test_an_unknown_container_is_none(docker_engine: Dockerd) -> None:
    assert asyncio.run(_client(docker_engine).inspect_container("no-such-container")) is None


def test_an_exit_code_without_oom_and_one_with(containers: Containers) -> None:
    failed = containers.run("fails", command="exit 3")
    oom = containers.run(
        "oom",
        command="exec dd if=/dev/zero of=/dev/null bs=64M count=1",
        host_config={"Memory": 16 << 20, "MemorySwap": 16 << 20},
    )
    client = _client(containers.engine)
    for c in (failed, oom):
        wait_for(f"{c.name} to exit", lambda c=c: containers.state(c.name)["Status"] == "exited")
    state = asyncio.run(client.inspect_container(failed.name))
    assert state is not None
    assert (state.status, state.running, state.exit_code, state.oom_killed) == (
        "exited",
        False,
        3,
        False,
    )
    assert state.health is None  # no health check configured
    assert not state.finished_at.startswith("0001-")  # it ran and ended
    killed = asyncio.run(client.inspect_container(oom.name))
    assert killed is not None
    assert (killed.exit_code, killed.oom_killed) == (137, True)


def test_paused_and_restarting(containers: Containers) -> None:
    paused = containers.run("paused")
    containers.post(paused.name, "pause")
    looping = containers.run("loop", command="exit 3", restart="always")
    client = _client(containers.engine)
    state = asyncio.run(client.inspect_container(paused.name))
    assert state is not None
    assert (state.status, state.paused, state.running) == ("paused", True, True)

    seen: list[ContainerState] = []

    def restarting() -> bool:
        state = asyncio.run(client.inspect_container(looping.name))
        if state is not None and state.restarting and state.status == "restarting":
            seen.append(state)  # judged as read: a moment later it may run again (exit 0)
        return bool(seen)

    wait_for("the engine's restart policy to restart it", restarting)
    assert seen[0].restart_count >= 1
    assert seen[0].exit_code == 3


def test_restart_restarts_and_an_unknown_one_is_not_found(containers: Containers) -> None:
    c = containers.run("web")
    started = containers.state(c.name)["StartedAt"]
    client = _client(containers.engine)
    asyncio.run(client.restart_container(c.name, stop_timeout=1))
    state = containers.state(c.name)
    assert state["Running"] is True
    assert state["StartedAt"] != started  # a new start
    with pytest.raises(EngineError) as info:
        asyncio.run(client.restart_container("no-such-container", 1))
    assert info.value.kind is ErrorKind.NOT_FOUND


def test_restart_unhealthy_restarts_only_a_running_unhealthy_container(
    containers: Containers,
) -> None:
    sick = containers.run("sick", health=True)
    fine = containers.run("fine", health=True)
    stopped = containers.run("stopped", health=True)
    containers.wait_health(sick.name, "healthy")
    containers.wait_health(fine.name, "healthy")
    containers.post(stopped.name, "stop", "?t=1")  # as `docker stop` by an operator
    sick.wedge("db gone")
    containers.wait_health(sick.name, "unhealthy")
    before = containers.state(sick.name)["StartedAt"]
    client = _client(containers.engine)

    said = asyncio.run(restart_unhealthy(client, sick.name, 1))
    assert said.startswith(f"restarted {sick.name} (was unhealthy, failing streak ")
    assert "db gone" in said
    assert containers.state(sick.name)["StartedAt"] != before  # the command cleared the wedge
    containers.wait_health(sick.name, "healthy")

    with pytest.raises(AdapterUnavailable, match="exited: Talon never starts a stopped"):
        asyncio.run(restart_unhealthy(client, stopped.name, 1))
    assert containers.state(stopped.name)["Status"] == "exited"  # left as the operator left it
    with pytest.raises(AdapterUnavailable, match="its health is healthy"):
        asyncio.run(restart_unhealthy(client, fine.name, 1))
    with pytest.raises(AdapterUnavailable, match="no such container"):
        asyncio.run(restart_unhealthy(client, "no-such-container", 1))


def test_restart_unhealthy_fails_when_the_engine_cannot_start_it(containers: Containers) -> None:
    """A restart the engine answers with an error is a failed action, never a success:
    here the directory bound into the container is gone, so its start fails."""
    sick = containers.run("sick", health=True)
    containers.wait_health(sick.name, "healthy")
    shutil.rmtree(sick.flags)  # /flags/ready is gone too: the check fails
    containers.wait_health(sick.name, "unhealthy")
    with pytest.raises(ActionFailed, match=r": 500 Cannot restart container .*no such file"):
        asyncio.run(restart_unhealthy(_client(containers.engine), sick.name, 1))
    assert containers.state(sick.name)["Running"] is False


def test_a_frozen_engine_is_bounded(docker_engine: Dockerd) -> None:
    with frozen(docker_engine), pytest.raises(EngineError) as info:
        asyncio.run(_client(docker_engine, 0.3).ping())  # unbounded, it would hang here
    assert info.value.kind is ErrorKind.TIMEOUT
    assert "gave no answer in time" in str(info.value)
    assert asyncio.run(_client(docker_engine).ping()) == "OK"


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


def test_an_engine_that_answers_garbage_is_a_protocol_error(sock_dir: Path) -> None:
    """FAKE: a real engine always answers JSON; this one does not."""

    async def main() -> None:
        async with FakeEngine(sock_dir / "e.sock") as engine:
            engine.garble = True
            client = EngineClient(str(sock_dir / "e.sock"), 2.0)
            with pytest.raises(EngineError) as info:
                await client.inspect_container("web")
            assert info.value.kind is ErrorKind.PROTOCOL
            assert "unexpected answer" in str(info.value)
            with pytest.raises(EngineError) as info:
                await client.version()
            assert info.value.kind is ErrorKind.PROTOCOL

    asyncio.run(main())


def test_engine_runtime_is_healthy_and_keeps_facts(containers: Containers) -> None:
    c = containers.run("web")
    runtime = EngineRuntime({"DOCKER_HOST": containers.engine.host})
    assert asyncio.run(runtime.is_healthy()) is True
    assert runtime.health_detail == f"GET /_ping on {containers.engine.socket}: 'OK'"
    facts = asyncio.run(runtime.facts())
    assert facts["socket"] == str(containers.engine.socket)
    assert facts["engine"]["ServerVersion"].startswith("20.10.")
    assert facts["engine"]["ContainersRunning"] >= 1
    listed = {f["name"]: f for f in facts["containers"]}
    assert listed[c.name]["state"] == "running"
    assert listed[c.name]["status"].startswith("Up ")


def test_engine_runtime_has_no_vm_and_never_restarts_the_engine() -> None:
    runtime = EngineRuntime({})
    assert runtime.capabilities == frozenset({Capability.RESTART_CONTAINER})
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
