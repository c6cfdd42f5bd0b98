"""Real systemd for tests: a user manager and a system manager, one each per test process.

- The user manager is ``talon.lab.linux.usermanager.UserManager`` (``systemd --user`` in a
  private mount namespace and its own cgroups, its directory under /tmp so that its
  socket path stays far below the 108 bytes of ``sun_path``).
- The system manager is a container booted by ``systemd-nspawn``
  (tests/support/nspawn.py), reached through a ``systemctl`` wrapper that sends
  ``--user`` calls to the host's tool. With the user manager's variables in its
  environment, one environment reaches both: a host where a unit may live in either
  scope, as R24 wants.

Both start on first use and stop (by pid, with their cgroups, mounts and files) when
the test session of this process ends: one of each per pytest-xdist worker, with
unique names. Tests get a ``Scope``: the manager, the environment the adapter and
``systemctl`` need, and unit names unique to the test, stopped and removed after it.
The fixtures' own checks call ``systemctl`` directly, never through the adapter under
test, so a broken adapter cannot hide a broken fixture.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from talon.adapters.command import exec_env
from talon.adapters.process.systemd import SystemdProcessManager
from talon.lab.linux.usermanager import UserManager
from talon.lab.procs import freeze
from tests.support.nspawn import NspawnSystem

WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
_STARTED: dict[str, Any] = {}


def user_manager(session: pytest.Session) -> UserManager:
    """This process's user manager, started on first use, stopped at the session's end."""
    found: UserManager | None = _STARTED.get("user")
    if found is None:
        directory = Path(tempfile.mkdtemp(prefix="tum-", dir="/tmp"))
        manager = UserManager(directory, f"talon-um-{WORKER}-{secrets.token_hex(3)}")
        try:
            manager.start()  # a failed start cleans up after itself
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            raise

        def stop() -> None:
            _STARTED.pop("user", None)
            manager.stop()
            shutil.rmtree(directory, ignore_errors=True)

        session.addfinalizer(stop)
        _STARTED["user"] = found = manager
    return found


def system_manager(session: pytest.Session) -> tuple[NspawnSystem, Path]:
    """This process's container and a directory writable inside it (same path in and out)."""
    found: tuple[NspawnSystem, Path] | None = _STARTED.get("system")
    if found is None:
        users = user_manager(session)  # first: its finalizer then runs after this one's
        shared = Path(tempfile.mkdtemp(prefix="tsh-", dir="/tmp"))
        system = NspawnSystem(f"talon-{WORKER}-{os.getpid()}", writable=[shared])
        system.env.update(users.env)  # `systemctl --user` through the wrapper finds it
        try:
            system.start()  # a failed start cleans up after itself
        except BaseException:
            shutil.rmtree(shared, ignore_errors=True)
            raise

        def stop() -> None:
            _STARTED.pop("system", None)
            system.stop()
            shutil.rmtree(shared, ignore_errors=True)

        session.addfinalizer(stop)
        _STARTED["system"] = found = (system, shared)
    return found


class Scope:
    """One manager as a test sees it; unit names from ``label`` are removed after the test."""

    def __init__(
        self,
        name: str,
        env: dict[str, str],
        unit_dir: Path,
        argv: list[str],
        host_pid: Callable[[int], int],
        manager_pid: int,
    ) -> None:
        self.name = name  # "user" or "system"
        self.env = env
        self.unit_dir = unit_dir
        self._argv = argv  # systemctl, with --user for the user scope
        self.host_pid = host_pid  # a MainPID as the host sees it
        self.manager_pid = manager_pid  # the manager itself (the container's systemd)
        self.prefix = f"t{secrets.token_hex(3)}"
        self.labels: list[str] = []

    def label(self, name: str) -> str:
        """A unit name of this test's own (without ``.service``)."""
        label = f"{self.prefix}-{name}"
        self.labels.append(label)
        return label

    def pm(self, env: dict[str, str] | None = None, **kwargs: Any) -> SystemdProcessManager:
        """The adapter for this scope (``env``: another environment than the scope's own,
        which cleanup keeps using); its units go to this manager's unit directory."""
        kwargs.setdefault("scope", self.name)
        kwargs.setdefault("timeout_s", 10.0)
        kwargs.setdefault("unit_dir", self.unit_dir)
        systemctl = self._argv[0]
        return SystemdProcessManager(env or self.env, systemctl=systemctl, **kwargs)

    def ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self._argv, *args], env=self.env, capture_output=True, text=True, timeout=30
        )

    def show(self, label: str) -> dict[str, str]:
        props = "MainPID,ActiveState,SubState,LoadState,Result,NRestarts,UnitFileState"
        said = self.ctl("show", "-p", props, f"{label}.service")
        assert said.returncode == 0, said.stderr
        return dict(line.split("=", 1) for line in said.stdout.splitlines() if "=" in line)

    def unit(self, name: str, service: str, *, start: bool = True) -> str:
        """Write ``[Service]`` lines as a unit file and start it; its label.

        No daemon-reload: a name the manager never saw is loaded from disk when named."""
        label = self.label(name)
        text = f"[Unit]\nDescription=test unit {name}\n\n[Service]\n{service.strip()}\n"
        (self.unit_dir / f"{label}.service").write_text(text)
        if start:
            started = self.ctl("start", f"{label}.service")
            assert started.returncode == 0, started.stderr
        return label

    def wait(self, label: str, what: str, ok: Callable[[dict[str, str]], bool]) -> dict[str, str]:
        """Poll ``show`` until ``ok``; 15 s at most (never a timed assertion)."""
        deadline = time.monotonic() + 15
        while not ok(shown := self.show(label)):
            assert time.monotonic() < deadline, f"{label} never {what}: {shown}"
            time.sleep(0.02)
        return shown

    def running_pid(self, label: str) -> int:
        shown = self.wait(
            label, "ran", lambda s: s["SubState"] == "running" and s["MainPID"] != "0"
        )
        return int(shown["MainPID"])

    def cleanup(self) -> None:
        """Stop this test's units and remove their files (what is left unloads itself)."""
        units = [f"{label}.service" for label in self.labels]
        if not units:
            return
        self.ctl("disable", *units)
        self.ctl("stop", *units)
        for unit in units:
            (self.unit_dir / unit).unlink(missing_ok=True)
            for link in self.unit_dir.glob(f"*.wants/{unit}"):
                link.unlink()
        self.ctl("reset-failed", *units)
        listed = self.ctl("list-units", "--all", "--plain", "--no-legend", f"{self.prefix}-*")
        assert " active " not in listed.stdout, f"left running: {listed.stdout}"


@pytest.fixture
def user_scope(request: pytest.FixtureRequest) -> Iterator[Scope]:
    """The user manager; ``env`` also says the system scope is not there (systemd is not
    PID 1 here), as on a box where Talon runs without root's system manager."""
    manager = user_manager(request.session)
    env = {**exec_env(), **manager.env}
    assert manager.pid is not None
    argv = ["systemctl", "--user"]
    scope = Scope("user", env, manager.unit_dir, argv, lambda pid: pid, manager.pid)
    try:
        yield scope
    finally:
        scope.cleanup()


@pytest.fixture
def system_scope(request: pytest.FixtureRequest) -> Iterator[Scope]:
    """The container's system manager; its ``env`` reaches the user manager too."""
    system, _ = system_manager(request.session)
    wrapper = str(system.bin / "systemctl")
    assert system.leader is not None
    env = dict(system.env)
    scope = Scope("system", env, system.unit_dir, [wrapper], system.host_pid, system.leader)
    try:
        yield scope
    finally:
        scope.cleanup()


@pytest.fixture
def system_dir(request: pytest.FixtureRequest) -> Iterator[Path]:
    """A fresh directory that the container sees at the same path, writable."""
    _, shared = system_manager(request.session)
    path = Path(tempfile.mkdtemp(dir=shared))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(params=["user", "system"])
def scope(request: pytest.FixtureRequest) -> Scope:
    """Each test once per scope."""
    found: Scope = request.getfixturevalue(f"{request.param}_scope")
    return found


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@contextlib.contextmanager
def stopped(pid: int) -> Iterator[None]:
    """SIGSTOP a manager for the block (it hangs every caller), SIGCONT after, always."""
    try:
        assert freeze(pid), f"the manager ({pid}) did not stop within 5 s"
        yield
    finally:
        os.kill(pid, signal.SIGCONT)
