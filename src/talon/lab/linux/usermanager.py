"""A real ``systemd --user`` manager on a host where systemd is not PID 1 (root only).

Facts it relies on (systemd 252, measured; docs/systemd.md):

- ``systemd --user`` refuses to start unless ``/run/systemd/system`` exists. It is
  created only inside a private mount namespace (``unshare --mount --propagation
  private``, a tmpfs over ``/run/systemd``): on the machine itself every tool would
  then believe systemd is PID 1.
- The manager is moved into its own cgroups (``<root>/<id>`` in every hierarchy)
  before it starts, or it creates its slices at the root of the machine's trees.
- ``XDG_RUNTIME_DIR`` (its private bus socket) and ``XDG_CONFIG_HOME`` (its unit
  directory; ``enable`` runs inside ``systemctl`` itself) live in the directory it
  is given, and every ``systemctl --user`` call needs both: ``env``.
- Ready when ``systemctl --user show -p SystemState --value`` prints ``running``.
- Stop: SIGTERM the manager by pid (it stops its units), ``cgroup.kill`` what is
  left, remove the cgroup directories bottom-up. Its pid, start time and cgroup id
  are kept in ``manager.json`` in the directory, so another process (the lab's
  ``down``) can stop it.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import time
from pathlib import Path

import psutil

CGROUP = Path("/sys/fs/cgroup")
SYSTEMD = "/lib/systemd/systemd"
RECORD = "manager.json"
# Inside the namespace: join the cgroups, hide /run/systemd (or /run, on a host without
# it: nothing is created outside) under a tmpfs, mark systemd as running there only, and
# become the manager (same pid: the pid Popen returned).
SCRIPT = (
    'for f in "$@"; do echo $$ > "$f"; done; '
    "if [ -d /run/systemd ]; then t=/run/systemd; else t=/run; fi; "
    'mount -t tmpfs -o mode=755 tmpfs "$t" && mkdir -p /run/systemd/system && '
    f"exec {SYSTEMD} --user"
)
UNSHARE = ("unshare", "--mount", "--propagation", "private", "sh", "-c", SCRIPT, "sh")


def cgroup_roots() -> tuple[Path, ...]:
    """The hierarchies to make a cgroup in: the unified one last (it holds cgroup.kill)."""
    if (CGROUP / "cgroup.controllers").exists():  # pure cgroup v2
        return (CGROUP,)
    return tuple(r for r in (CGROUP / "systemd", CGROUP / "unified") if r.is_dir())


class UserManager:
    """One ``systemd --user`` in ``directory``; ``start()``, then ``stop()`` (idempotent)."""

    def __init__(self, directory: Path, cgroup_id: str | None = None) -> None:
        self.dir = directory.absolute()
        self.cgroup_id = cgroup_id or f"talon-um-{os.getpid()}-{secrets.token_hex(3)}"
        self.pid: int | None = None
        self._started: float | None = None  # the process's create_time: a reused pid differs
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def env(self) -> dict[str, str]:
        """What every ``systemctl --user`` call needs, on top of its usual environment."""
        return {
            "XDG_RUNTIME_DIR": str(self.dir / "run"),
            "XDG_CONFIG_HOME": str(self.dir / "config"),
        }

    @property
    def unit_dir(self) -> Path:
        return self.dir / "config" / "systemd" / "user"

    def _cgroups(self) -> list[Path]:
        return [root / self.cgroup_id for root in cgroup_roots()]

    @classmethod
    def attach(cls, directory: Path) -> UserManager | None:
        """The manager an earlier process started in ``directory``, if it recorded one."""
        try:
            record = json.loads((directory / RECORD).read_text())
        except (OSError, ValueError):
            return None
        manager = cls(directory, record["cgroup"])
        manager.pid, manager._started = record["pid"], record["started"]
        return manager

    def start(self, timeout: float = 10.0) -> UserManager:
        (self.dir / "run").mkdir(mode=0o700, parents=True, exist_ok=True)
        self.unit_dir.mkdir(parents=True, exist_ok=True)
        for cgroup in self._cgroups():
            cgroup.mkdir(exist_ok=True)
        procs = [str(c / "cgroup.procs") for c in self._cgroups()]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **self.env}
        with open(self.dir / "manager.log", "ab") as log:
            self._proc = subprocess.Popen(
                [*UNSHARE, *procs],
                env=env,
                cwd=self.dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid = self._proc.pid
        try:
            self._started = psutil.Process(self.pid).create_time()
        except psutil.NoSuchProcess:
            self._started = 0.0
        record = {"pid": self.pid, "started": self._started, "cgroup": self.cgroup_id}
        (self.dir / RECORD).write_text(json.dumps(record))
        deadline = time.monotonic() + timeout
        while not self.ready():
            if self._proc.poll() is not None or time.monotonic() > deadline:
                log_text = (self.dir / "manager.log").read_text(errors="replace")[-2000:]
                self.stop()
                raise RuntimeError(f"systemd --user did not become ready: {log_text}")
            time.sleep(0.02)
        return self

    def ready(self) -> bool:
        try:
            said = subprocess.run(
                ["systemctl", "--user", "show", "-p", "SystemState", "--value"],
                env={**os.environ, **self.env},
                capture_output=True,
                text=True,
                timeout=5,
            )
        except subprocess.TimeoutExpired:
            return False
        return said.stdout.strip() == "running"

    def alive(self) -> bool:
        if self.pid is None:
            return False
        try:
            proc = psutil.Process(self.pid)
            same = self._started in (None, 0.0) or proc.create_time() == self._started
            return same and proc.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM the manager, then SIGKILL; kill what is left of its cgroup; remove it."""
        if self.alive() and self.pid is not None:
            os.kill(self.pid, signal.SIGTERM)
            if not self._wait(grace) and self.alive():
                os.kill(self.pid, signal.SIGKILL)
                self._wait(grace)
        if self._proc is not None:
            self._proc.wait()  # reap our child (it is gone by now)
        cgroups = [c for c in self._cgroups() if c.is_dir()]
        for cgroup in cgroups:
            kill = cgroup / "cgroup.kill"
            if kill.exists():
                kill.write_text("1")
            else:  # a kernel before 5.14: every process by pid
                for pid in _members(cgroup):
                    _kill(pid)
        deadline = time.monotonic() + grace
        for cgroup in cgroups:
            while not remove_cgroup(cgroup) and time.monotonic() < deadline:
                time.sleep(0.02)  # killed processes take a moment to leave
        (self.dir / RECORD).unlink(missing_ok=True)
        self.pid = None

    def _wait(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if (self._proc is not None and self._proc.poll() is not None) or not self.alive():
                return True
            time.sleep(0.02)
        return False

    def __enter__(self) -> UserManager:
        return self.start() if self.pid is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _members(cgroup: Path) -> list[int]:
    files = sorted(cgroup.rglob("cgroup.procs"))
    return [int(p) for f in files for p in f.read_text().split()]


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def remove_cgroup(cgroup: Path) -> bool:
    """rmdir every cgroup directory, deepest first; False while one is still busy."""
    for path, _dirs, _files in os.walk(cgroup, topdown=False):
        try:
            os.rmdir(path)
        except FileNotFoundError:
            continue
        except OSError:
            return False
    return True
