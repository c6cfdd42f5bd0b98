"""The daemon's runner of the container heal against a real engine: what each situation
the probe could not see coming comes to. The core chose the heal on what the probe saw;
between that and the restart the container can be removed or stopped, the config can
change, the engine can hang. None of these is a ``done``."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from talon.actions.outcome import Outcome
from talon.clock import Clock
from talon.config import load
from talon.core import Action, ActionKind, ActionStatus, CoreState
from talon.daemon.executor import Executor
from talon.daemon.view import CycleView
from talon.daemon.wiring import Wiring
from talon.lab.substrate import render_toml
from talon.node import NodeIdentity
from tests.support.dockerd import Container, Containers, frozen


def restart(
    identity: NodeIdentity, tmp_path: Path, containers: Containers, name: str, probe: str = "web"
) -> Outcome:
    """The executor's answer to the core's ``restart_container`` of ``name`` for ``probe``."""
    config = identity.config_dir / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    settings = {
        "runtime": {"kind": "docker", "socket": containers.engine.host},
        "process_manager": {"kind": "null"},
        "healing": {"restart_timeout_secs": 2},
    }
    config.write_text(render_toml(settings))
    (config.parent / "services.toml").write_text(
        f'[container.web]\ncontainer = "{name}"\nstop_timeout_secs = 1\n'
    )
    wiring = Wiring.build(load(config, identity=identity), tmp_path / "state", Clock())
    executor = Executor(lambda: wiring, None, tmp_path / "state", Clock())  # type: ignore[arg-type]
    action = Action(
        ActionKind.RESTART_CONTAINER,
        f"n-1/1c/restart_container:{name}/1",
        "n-1",
        "service_down on container.web",
        name,
        "1c",
        f"container.{probe}",
    )

    async def main() -> Outcome:
        try:
            return await executor._dispatch(action, CycleView(CoreState(), None, ()))
        finally:
            await wiring.aclose()

    return asyncio.run(main())


def unhealthy(containers: Containers) -> Container:
    c = containers.run("web", health=True)
    containers.wait_health(c.name, "healthy")
    c.wedge("stuck")
    containers.wait_health(c.name, "unhealthy")
    return c


def test_a_running_unhealthy_container_is_restarted(
    identity: NodeIdentity, tmp_path: Path, containers: Containers
) -> None:
    c = unhealthy(containers)
    outcome = restart(identity, tmp_path, containers, c.name)
    assert outcome.status is ActionStatus.DONE
    assert outcome.detail.startswith(f"restarted {c.name} (was unhealthy, failing streak ")


def test_removed_between_the_probe_and_the_heal_is_refused(
    identity: NodeIdentity, tmp_path: Path, containers: Containers
) -> None:
    c = unhealthy(containers)
    containers.remove(c.name)
    outcome = restart(identity, tmp_path, containers, c.name)
    assert outcome.status is ActionStatus.REFUSED
    assert f"no such container: {c.name} (removed since the probe)" in outcome.detail


def test_stopped_between_the_probe_and_the_heal_is_refused_and_stays_stopped(
    identity: NodeIdentity, tmp_path: Path, containers: Containers
) -> None:
    c = unhealthy(containers)
    containers.post(c.name, "stop", "?t=1")  # the operator was quicker
    outcome = restart(identity, tmp_path, containers, c.name)
    assert outcome.status is ActionStatus.REFUSED
    assert "is exited: Talon never starts a stopped container" in outcome.detail
    assert containers.state(c.name)["Status"] == "exited"


def test_a_probe_no_longer_configured_is_refused(
    identity: NodeIdentity, tmp_path: Path, containers: Containers
) -> None:
    c = unhealthy(containers)
    before = containers.state(c.name)["StartedAt"]
    outcome = restart(identity, tmp_path, containers, c.name, probe="renamed")
    assert outcome.status is ActionStatus.REFUSED
    assert outcome.detail == f"no container probe container.renamed watches {c.name} any more"
    assert containers.state(c.name)["StartedAt"] == before


def test_a_frozen_engine_is_a_timeout(
    identity: NodeIdentity, tmp_path: Path, containers: Containers
) -> None:
    c = unhealthy(containers)
    with frozen(containers.engine):  # accepts the connection, never answers
        outcome = restart(identity, tmp_path, containers, c.name)
    assert outcome.status is ActionStatus.TIMEOUT
    assert outcome.detail.startswith(f"restart container {c.name} on ")
    assert outcome.detail.endswith("did not finish within 2s")


pytestmark = pytest.mark.usefixtures("docker_engine")
