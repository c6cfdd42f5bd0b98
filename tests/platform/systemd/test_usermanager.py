"""talon.lab.linux.usermanager: a user manager started by one process is stopped by another
(the lab's `up` and `down` are separate commands), and nothing of it is left behind."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from talon.lab.linux.usermanager import RECORD, UserManager, cgroup_roots
from tests.support.systemd import alive

START = """
import sys
from pathlib import Path
from talon.lab.linux.usermanager import UserManager
manager = UserManager(Path(sys.argv[1]), sys.argv[2]).start()
(manager.unit_dir / "sleeper.service").write_text("[Service]\\nExecStart=/bin/sleep 600\\n")
print(manager.pid, flush=True)
"""


def test_a_manager_started_by_another_process_is_stopped_from_its_directory() -> None:
    directory = Path(tempfile.mkdtemp(prefix="tum-", dir="/tmp"))  # a short socket path
    cgroup = f"talon-um-test-{os.getpid()}"
    try:
        said = subprocess.run(
            [sys.executable, "-c", START, str(directory), cgroup],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        pid = int(said.stdout)  # the starting process has exited; the manager lives on
        manager = UserManager.attach(directory)
        assert manager is not None
        assert (manager.pid, manager.cgroup_id, manager.alive()) == (pid, cgroup, True)
        env = {**os.environ, **manager.env}
        started = subprocess.run(
            ["systemctl", "--user", "start", "sleeper.service"], env=env, timeout=30
        )
        assert started.returncode == 0
        shown = subprocess.run(
            ["systemctl", "--user", "show", "-p", "MainPID", "--value", "sleeper.service"],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        unit_pid = int(shown.stdout)
        assert alive(unit_pid)
        assert all((root / cgroup).is_dir() for root in cgroup_roots())

        manager.stop()
        assert not alive(pid)
        assert not alive(unit_pid)
        assert not any((root / cgroup).exists() for root in cgroup_roots())
        assert not (directory / RECORD).exists()
        assert UserManager.attach(directory) is None
        manager.stop()  # idempotent
        assert "/run/systemd/system" not in Path("/proc/mounts").read_text()
        assert not Path("/run/systemd/system").exists()  # only ever inside its namespace
    finally:
        leftover = UserManager.attach(directory)
        if leftover is not None:
            leftover.stop()
        shutil.rmtree(directory, ignore_errors=True)
