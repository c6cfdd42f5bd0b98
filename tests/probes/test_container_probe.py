"""The ``container`` probe against a real dockerd (tests/support/dockerd.py)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from talon.adapters.runtime.engine import EngineRuntime
from talon.config.probes import ContainerProbe
from talon.lab.linux.dockerd import Dockerd
from talon.probes import ErrorKind, ProbeContext, Status
from talon.probes import container as container_probe
from talon.report import Observation
from tests.adapters.runtime.fakes import short_dir
from tests.support.dockerd import Containers, containers, docker_engine, frozen, wait_for

__all__ = ["containers", "docker_engine"]  # the fixtures


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    with short_dir() as path:
        yield path


def _spec(**fields: Any) -> ContainerProbe:
    return ContainerProbe.model_validate({"name": "c", "kind": "container", **fields})


def _probe(ctx: ProbeContext, engine: Dockerd, **fields: Any) -> Observation:
    spec = _spec(socket=engine.host, **fields)
    return asyncio.run(container_probe.probe(spec, ctx))


def test_the_engine_answers(ctx: ProbeContext, docker_engine: Dockerd) -> None:
    obs = _probe(ctx, docker_engine)
    assert obs.status is Status.OK
    assert obs.message == f"the engine answers on {docker_engine.socket}"


def test_a_running_container(ctx: ProbeContext, containers: Containers) -> None:
    c = containers.run("web")
    obs = _probe(ctx, containers.engine, container=c.name)
    assert obs.status is Status.OK
    started = containers.state(c.name)["StartedAt"]
    assert obs.message == f"{c.name}: running since {started}"
    assert obs.detail["state"] == "running"
    assert obs.detail["health"] is None
    assert obs.detail["container"] == c.id[:12]


def test_health_starting_healthy_unhealthy(ctx: ProbeContext, containers: Containers) -> None:
    c = containers.run("api", health=True, ready=False)
    starting = _probe(ctx, containers.engine, container=c.name)
    assert starting.status is Status.WARNING  # a fresh start is not a fault
    assert starting.message == f"{c.name}: running, health check starting"
    c.ready()
    containers.wait_health(c.name, "healthy")
    healthy = _probe(ctx, containers.engine, container=c.name)
    assert healthy.status is Status.OK
    assert healthy.message.endswith(", healthy")
    c.wedge("curl: (7) Failed to connect")
    containers.wait_health(c.name, "unhealthy")
    sick = _probe(ctx, containers.engine, container=c.name)
    assert sick.status is Status.CRITICAL
    assert sick.error_kind is ErrorKind.NOT_READY
    streak = sick.detail["failing_streak"]
    assert streak >= 2  # unhealthy after 2 failures in a row (Retries)
    assert sick.message == (
        f"{c.name}: running but unhealthy (failing streak {streak}): curl: (7) Failed to connect"
    )
    assert (sick.detail["state"], sick.detail["health"]) == ("running", "unhealthy")


def test_an_exited_container_fails_with_its_exit_code(
    ctx: ProbeContext, containers: Containers
) -> None:
    c = containers.run("db", command="exit 3")
    wait_for("it to exit", lambda: containers.state(c.name)["Status"] == "exited")
    obs = _probe(ctx, containers.engine, container=c.name)
    finished = containers.state(c.name)["FinishedAt"]
    assert obs.status is Status.CRITICAL
    assert obs.error_kind is ErrorKind.NOT_READY
    assert obs.message == f"{c.name}: exited (exit code 3) at {finished}"
    assert (obs.detail["state"], obs.detail["exit_code"]) == ("exited", 3)


def test_an_oom_killed_container_says_so(ctx: ProbeContext, containers: Containers) -> None:
    c = containers.run(
        "oom",
        command="exec dd if=/dev/zero of=/dev/null bs=64M count=1",
        host_config={"Memory": 16 << 20, "MemorySwap": 16 << 20},
    )
    wait_for("it to be killed", lambda: containers.state(c.name)["Status"] == "exited")
    obs = _probe(ctx, containers.engine, container=c.name)
    assert obs.status is Status.CRITICAL
    assert obs.message.startswith(f"{c.name}: exited (exit code 137, killed for lack of memory)")


def test_a_created_container_that_never_ran(ctx: ProbeContext, containers: Containers) -> None:
    c = containers.run("new", start=False)
    obs = _probe(ctx, containers.engine, container=c.name)
    assert obs.status is Status.CRITICAL
    assert obs.message == f"{c.name}: created"


def test_a_missing_container_is_not_found(ctx: ProbeContext, docker_engine: Dockerd) -> None:
    obs = _probe(ctx, docker_engine, container="ghost")
    assert obs.status is Status.CRITICAL
    assert obs.error_kind is ErrorKind.NOT_FOUND
    assert obs.message == "no such container: ghost"


def test_paused_and_restarting_fail(ctx: ProbeContext, containers: Containers) -> None:
    paused = containers.run("paused")
    containers.post(paused.name, "pause")
    looping = containers.run("loop", command="exit 3", restart="always")
    obs = _probe(ctx, containers.engine, container=paused.name)
    assert obs.status is Status.CRITICAL
    assert obs.message == f"{paused.name}: paused"

    def restarting() -> Observation | None:
        seen = _probe(ctx, containers.engine, container=looping.name)
        return seen if "restarting" in seen.message else None

    seen = wait_for("the probe to see the engine restarting it", restarting)
    assert seen.status is Status.CRITICAL
    assert seen.error_kind is ErrorKind.NOT_READY
    assert seen.message.startswith(f"{looping.name}: restarting (restarted ")
    assert seen.message.endswith(" times, last exit code 3)")


def test_nothing_listening_fails_clearly(ctx: ProbeContext, sock_dir: Path) -> None:
    path = sock_dir / "dead.sock"
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(str(path))
    try:
        obs = asyncio.run(container_probe.probe(_spec(socket=str(path), container="web"), ctx))
    finally:
        dead.close()
    assert obs.status is Status.CRITICAL
    assert obs.error_kind is ErrorKind.REFUSED
    assert str(path) in obs.message


def test_the_socket_defaults_to_the_runtime_s(ctx: ProbeContext, docker_engine: Dockerd) -> None:
    runtime_ctx = replace(ctx, runtime=EngineRuntime({}, socket=str(docker_engine.socket)))
    obs = asyncio.run(container_probe.probe(_spec(), runtime_ctx))
    assert obs.status is Status.OK
    assert obs.detail["socket"] == str(docker_engine.socket)


def test_the_socket_defaults_to_the_environment_s(
    ctx: ProbeContext, docker_engine: Dockerd
) -> None:
    env_ctx = replace(ctx, env={**ctx.env, "DOCKER_HOST": docker_engine.host})
    obs = asyncio.run(container_probe.probe(_spec(), env_ctx))
    assert obs.status is Status.OK
    assert obs.detail["socket"] == str(docker_engine.socket)


def test_a_frozen_engine_costs_only_the_timeout(ctx: ProbeContext, docker_engine: Dockerd) -> None:
    """SIGSTOP: the kernel still accepts the connection, the engine never answers."""
    with frozen(docker_engine):
        obs = _probe(ctx, docker_engine, container="web", timeout_secs=0.3)  # unbounded: hangs
    assert obs.error_kind is ErrorKind.TIMEOUT
    assert obs.status is Status.CRITICAL
    assert str(docker_engine.socket) in obs.message


def test_spec_validation() -> None:
    assert _spec().probe_class == "infra"
    assert _spec().layer == "runtime"
    assert _spec(container="web").restart_unhealthy is True
    assert _spec(container="web").stop_timeout_secs is None
    with pytest.raises(ValueError, match="unix socket"):
        _spec(socket="tcp://127.0.0.1:2375")
    with pytest.raises(ValueError, match="container name"):
        _spec(container="../../info")
    with pytest.raises(ValueError, match='restart_unhealthy needs container = "NAME"'):
        _spec(restart_unhealthy=False)
    with pytest.raises(ValueError, match="stop_timeout_secs needs container"):
        _spec(stop_timeout_secs=5)
    with pytest.raises(ValueError, match="greater than or equal to 0"):
        _spec(container="web", stop_timeout_secs=-1)
