"""The container heal on a real Docker engine, through a real `talon run` (docs/docker.md).

``[runtime] kind = "docker"`` on the engine of tests/support/dockerd.py (it declares
``restart_container``), a ``container`` probe on one container with a HEALTHCHECK,
no process manager. The container is wedged (its check fails) and Talon restarts it,
exactly once, and proves it over the verification window; an operator's ``docker
stop`` of the same container is never undone; a restart the engine fails is a
failed action, never a recovery.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from talon.lab.linux.dockerd import Dockerd
from talon.lab.substrate import render_toml
from tests.lab.e2e import recovered
from tests.support.dockerd import Containers
from tests.support.procs import free_port
from tests.support.talon_run import TalonRun, merged

HEALING = {
    "warmup_secs": 3,  # its first health check after the restart, even on a loaded box
    "durability_checks": 2,
    "durability_interval_secs": 1,
    "durability_window_secs": 1,
    "restart_cooldown_secs": 5,
    "hold_secs": 60,
}


def node(home: Path, engine: Dockerd, container: str) -> TalonRun:
    health = free_port()
    settings = merged(
        {
            "": {"check_interval_secs": 1},
            "runtime": {"kind": "docker", "socket": engine.host},
            "process_manager": {"kind": "null"},
            "health": {"bind": f"127.0.0.1:{health}"},
            "healing": HEALING,
            "escalation": {"critical_threshold_secs": 3600},
        }
    )
    config = home / "config" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(render_toml(settings))
    (config.parent / "services.toml").write_text(
        f'[container.web]\ncontainer = "{container}"\ncritical = true\n'
        "critical_after_consecutive_failures = 2\ntimeout_secs = 3\nstop_timeout_secs = 1\n"
    )
    return TalonRun(None, home / "talon", config=config, health_port=health)


def restarts(run: TalonRun) -> list[dict[str, Any]]:
    return run.begun("restart_container")


def trail(run: TalonRun) -> list[dict[str, Any]]:
    incident = run.state().get("incident") or {}
    return list(incident.get("trail", []))


def noted(run: TalonRun, rule: str) -> list[str]:
    return [d["reason"] for d in trail(run) if d["rule"] == rule]


def test_an_unhealthy_container_is_restarted_once_and_an_operator_s_stop_is_respected(
    containers: Containers, tmp_path: Path
) -> None:
    web = containers.run("web", health=True)
    containers.wait_health(web.name, "healthy")
    with node(tmp_path, containers.engine, web.name).running() as run:
        assert run.state().get("incident") is None  # healthy: nothing to do
        before = containers.state(web.name)["StartedAt"]

        web.wedge("database connection lost")  # running, and its HEALTHCHECK now fails
        incident = run.wait_for("a verified recovery", lambda: recovered(run), 40)

        assert incident["root_cause"] == "service_down"
        (begun,) = restarts(run)
        assert begun["target"] == web.name
        assert begun["tier"] == "1c"
        (ended,) = run.ended("restart_container")
        assert ended["outcome"] == "done"
        assert ended["detail"].startswith(f"restarted {web.name} (was unhealthy, failing streak")
        assert "database connection lost" in ended["detail"]
        rules = [(d["rule"], d["outcome"]) for d in incident["trail"]]
        assert ("verify", "done") in rules
        assert rules[-1] == ("incident", "closed")
        after = containers.state(web.name)
        assert after["StartedAt"] != before  # restarted: the command cleared the wedge
        containers.wait_health(web.name, "healthy")

        # The operator stops the same container on purpose: Talon must leave it stopped.
        containers.post(web.name, "stop", "?t=1")
        stopped_at = containers.state(web.name)["FinishedAt"]
        why = run.wait_for("the reason in the trail", lambda: noted(run, "no_heal"), 20)
        assert why == [
            f"container.web: {web.name} is exited, not restarted: Talon never starts a stopped "
            "container: it may have been stopped on purpose, and the engine's restart policy "
            "restarts crashed ones"
        ]
        seen = run.cycles()
        run.wait_for("three more cycles", lambda: run.cycles() >= seen + 3, 20)
        assert len(restarts(run)) == 1  # only the heal of the unhealthy one
        state = containers.state(web.name)
        assert (state["Status"], state["FinishedAt"]) == ("exited", stopped_at)
        assert noted(run, "no_heal") == why  # said once
        status = run.talon("status", "--json")
        assert f"{web.name}: exited (exit code 143)" in status.stdout


def test_a_restart_the_engine_fails_is_a_failed_action_never_a_recovery(
    containers: Containers, tmp_path: Path
) -> None:
    web = containers.run("web", health=True)
    containers.wait_health(web.name, "healthy")
    with node(tmp_path, containers.engine, web.name).running() as run:
        shutil.rmtree(web.flags)  # its check fails; its start will fail: the mount is gone
        ended = run.wait_for("the restart's end", lambda: run.ended("restart_container"), 40)
        assert [e["outcome"] for e in ended] == ["failed"]
        assert ": 500 Cannot restart container" in ended[0]["detail"]
        # The failed restart left it stopped: Talon never starts a stopped container, so it
        # says why and leaves the rest to a human.
        run.wait_for("the reason in the trail", lambda: noted(run, "no_heal"), 20)
        incident = run.state()["incident"]
        assert incident["healed"] is False
        assert incident["results"] == {f"restart_container:{web.name}": "failed"}
        assert run.state()["verification"] is None
        assert not recovered(run)
        assert len(restarts(run)) == 1
