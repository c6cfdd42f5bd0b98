"""The lab's linux profile end to end: a real systemd user manager, a real Docker engine.

Talon runs as a unit of the manager (``talon.lab.linux.run``), with its product
adapters only: the native engine on the lab's socket (``restart_engine`` through
the engine's own unit) and systemd in the user scope. The faults are real: the
engine's unit SIGKILLed, a container wedged (running, HEALTHCHECK unhealthy), the
worker's unit SIGKILLed, and an engine whose next boot dies again (F5).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from talon.lab.daemon import merged
from talon.lab.linux import box as linux
from talon.lab.linux import containers
from talon.lab.linux.box import ENGINE, WORKER, LinuxLab
from talon.lab.linux.run import LINUX_FAST, unit_daemon
from tests.lab.e2e import recovered

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="a real dockerd and systemd need root")


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LinuxLab]:
    lab = LinuxLab(tmp_path_factory.mktemp("linux"))
    lab.up()
    short, cgroups = lab.short, (lab.meta()["manager_cgroup"], lab.meta()["engine_cgroup"])
    try:
        yield lab
    finally:
        lab.down()
        # nothing left behind: no directory, no cgroup, no mount
        assert not short.exists()
        left = [p for c in cgroups for p in Path("/sys/fs/cgroup").glob(f"*/{c}")]
        assert not left, left
        assert str(short) not in Path("/proc/self/mounts").read_text()


@pytest.fixture
def fresh(box: LinuxLab) -> Iterator[LinuxLab]:
    linux.heal_all(box)
    yield box
    linux.heal_all(box)


def test_talon_runs_under_the_manager_and_sees_a_healthy_box(
    fresh: LinuxLab, tmp_path: Path
) -> None:
    with unit_daemon(fresh, tmp_path) as run:
        assert run.pid == fresh.main_pid(linux.TALON)
        assert psutil.Process(run.pid).cmdline()[-1] == "run"
        status, health = run.health()
        assert status == 200, health
        checked = run.talon("check", "--json")
        report = json.loads(checked.stdout)
        probes = {p["key"]: p["status"] for p in report["probes"]}
        assert set(probes.values()) == {"ok"}, probes
        assert {"runtime.engine", "container.redis", "service.worker"} <= probes.keys()
    assert fresh.main_pid(linux.TALON) is None


def test_engine_down_is_restarted_through_its_unit_and_verified(
    fresh: LinuxLab, tmp_path: Path
) -> None:
    with unit_daemon(fresh, tmp_path) as run:
        linux.engine_down(fresh)
        done = run.wait_for("the incident to recover", lambda: recovered(run), timeout=60)
        [begun] = run.begun("restart_engine")
        assert begun["target"] == ENGINE
        [ended] = run.ended("restart_engine")
        assert ended["outcome"] == "done", ended
        assert done["outcome"] == "recovered", done
        assert fresh.engine().ping()
        # the services came back with their engine (restart policy unless-stopped)
        states = containers.states(fresh.engine())
        assert {s["status"] for s in states.values()} == {"running"}, states
        assert not run.begun("restart_container")  # the engine was the cause, not them


def test_a_wedged_container_is_restarted_through_the_engine(
    fresh: LinuxLab, tmp_path: Path
) -> None:
    before = containers.states(fresh.engine())["typesense"]["pid"]
    with unit_daemon(fresh, tmp_path) as run:
        linux.container_unhealthy(fresh, "typesense")
        done = run.wait_for("the incident to recover", lambda: recovered(run), timeout=60)
        [begun] = run.begun("restart_container")
        assert begun["target"] == "lab-typesense"
        assert done["outcome"] == "recovered", done
        assert not run.begun("restart_engine")
    after = containers.states(fresh.engine())["typesense"]
    assert after["pid"] != before, after
    assert after["health"] == "healthy", after


def test_a_crashed_unit_is_restarted_through_systemd(fresh: LinuxLab, tmp_path: Path) -> None:
    before = fresh.main_pid(WORKER)
    with unit_daemon(fresh, tmp_path) as run:
        linux.service_down(fresh)
        done = run.wait_for("the incident to recover", lambda: recovered(run), timeout=60)
        begun = run.begun("restart_service")
        assert {b["target"] for b in begun} == {WORKER}, begun
        assert done["outcome"] == "recovered", done
    shown = fresh.systemctl("show", "-p", "NRestarts,ActiveState", f"{WORKER}.service").stdout
    assert "ActiveState=active" in shown
    assert "NRestarts=0" in shown  # Talon restarted it, not systemd
    assert fresh.main_pid(WORKER) not in (None, before)


def test_f5_an_engine_restart_that_regresses_is_a_failed_recovery_and_a_hold(
    fresh: LinuxLab, tmp_path: Path
) -> None:
    settings = merged(
        LINUX_FAST,
        {"healing": {"durability_checks": 6, "durability_window_secs": 6, "hold_secs": 600}},
    )
    with unit_daemon(fresh, tmp_path, settings) as run:
        linux.arm_regress(fresh, 3.0)
        run.wait_for("the hold", lambda: run.state().get("hold"), 60)
        state = run.state()
        assert state["hold"]["reason"] == "failed_recovery"
        marker = run.wait_for("the marker action", lambda: run.ended("persist_marker"), 10)
        assert marker[0]["outcome"] == "done"
        assert (run.state_dir / "failed-recovery.json").exists()
        cycles = run.cycles()
        run.wait_for("three more cycles in the hold", lambda: run.cycles() >= cycles + 3)
        assert [b["target"] for b in run.begun("restart_engine")] == [ENGINE]  # never again
        status, health = run.health()
        assert (status, health["signal"]) == (503, "failed recovery")
