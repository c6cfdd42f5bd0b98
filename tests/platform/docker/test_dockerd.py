"""``talon.lab.linux.dockerd``: a real engine that starts alone in its namespaces, serves a
locally imported image, and is stopped by its pid, from this process or a later one,
leaving no process, mount, cgroup or directory behind."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from pathlib import Path

import psutil

from talon.lab.linux.dockerd import STATE, Dockerd
from tests.support.dockerd import Containers, wait_for
from tests.support.procs import ROOT


def zombies(engine: Dockerd) -> list[int]:
    assert engine.pid is not None
    found = []
    for p in psutil.Process(engine.pid).children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            if p.status() == psutil.STATUS_ZOMBIE:
                found.append(p.pid)
    return found


def _mounts(root: Path) -> list[str]:
    return [line for line in Path("/proc/mounts").read_text().splitlines() if str(root) in line]


def test_an_engine_stopped_by_a_later_process_leaves_nothing_behind(
    docker_engine: Dockerd,
) -> None:
    engine = Dockerd.create()
    assert len(str(engine.socket).encode()) < 108
    try:
        engine.start()
        engine.import_image("tiny:1")
        containers = Containers(engine)
        c = containers.run("c")
        assert containers.state(c.name)["Running"] is True
        assert engine.pid is not None
        recorded = json.loads((engine.root / STATE).read_text())
        assert recorded == {
            "pid": engine.pid,
            "start_ticks": engine.start_ticks,
            "cgroup": engine.cgroup,
            "socket": str(engine.socket),
        }
        assert psutil.Process(engine.dockerd_pid()).name() == "dockerd"
        inside = [p.pid for p in psutil.Process(engine.pid).children(recursive=True)]
        assert any(psutil.Process(p).name() == "containerd" for p in inside)
        gone = containers.run("gone")
        containers.remove(gone.name)  # its shim exits: pid 1 (tini) reaps it, dockerd would not
        wait_for("no zombie in the namespace", lambda: not zombies(engine))
        assert engine.leftover_cgroups()  # the container's cgroups live under its own

        # as `talon lab down` would: another process, only the directory to go by
        down = (
            "import sys; from pathlib import Path; from talon.lab.linux.dockerd import Dockerd; "
            "Dockerd.load(Path(sys.argv[1])).stop(remove=False)"
        )
        subprocess.run([sys.executable, "-c", down, str(engine.root)], check=True, cwd=ROOT)

        assert not psutil.pid_exists(engine.pid) or psutil.Process(engine.pid).status() == (
            psutil.STATUS_ZOMBIE
        )
        assert not [p for p in inside if psutil.pid_exists(p)]
        assert engine.leftover_cgroups() == []
        assert _mounts(engine.root) == []
        assert docker_engine.ping()  # the shared engine never noticed
    finally:
        engine.stop()
        engine.stop()  # idempotent
    assert not engine.root.exists()
