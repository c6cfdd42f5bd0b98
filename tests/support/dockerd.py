"""A real Docker engine for the tests: one per xdist worker, containers per test.

The engine is ``talon.lab.linux.dockerd.Dockerd`` (Debian's dockerd as pid 1 of its own
pid + mount namespace, a private /run, its own cgroup parent; ../shared/LAB-NOTES.md)
with the busybox image ``tiny:1`` imported from a tar stream: no registry. It starts
once per worker process (``shared_engine``, whichever test module asks first) and is
stopped by its pid when the session ends.

Containers run with ``--init`` (tini as pid 1: busybox as pid 1 ignores SIGTERM) and
``--network host``, under a unique name, and are removed after each test. One with a
HEALTHCHECK checks ``/flags/wedged``, a file in a host directory bound into it: the
test writes it (its text becomes the check's output) to turn the container
unhealthy; the container's command removes it when it starts, as an application
that clears a wedged state at boot, so a restart heals it. Checks run every 0.2 s,
two failures make it unhealthy: a flip takes about half a second.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import pytest

from talon.lab.linux.dockerd import Dockerd, DockerdError, missing
from talon.lab.procs import freeze
from tests.support.procs import wait_for

IMAGE = "tiny:1"
HEALTH_INTERVAL_S = 0.2
T = TypeVar("T")

_engine: Dockerd | None = None
_names = itertools.count(1)


def shared_engine() -> Dockerd:
    """This worker's engine, started on first use."""
    global _engine
    if _engine is None:
        reason = missing()
        if reason:
            pytest.skip(reason)
        engine = Dockerd.create()
        try:
            engine.start()
            engine.import_image(IMAGE)
        except BaseException:
            engine.stop()
            raise
        _engine = engine
    return _engine


def stop_shared_engine() -> None:
    global _engine
    if _engine is not None:
        _engine.stop()
        _engine = None


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[Dockerd]:
    """The worker's real engine (imported by each module that uses it; started once)."""
    yield shared_engine()
    stop_shared_engine()


@contextlib.contextmanager
def frozen(engine: Dockerd) -> Iterator[None]:
    """SIGSTOP dockerd: the kernel still accepts connections, nobody answers."""
    pid = engine.dockerd_pid()
    assert pid is not None
    try:
        assert freeze(pid), f"dockerd ({pid}) did not stop within 5 s"
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


@dataclass
class Container:
    name: str
    id: str
    flags: Path  # bound at /flags

    def ready(self) -> None:
        (self.flags / "ready").touch()

    def wedge(self, why: str = "wedged") -> None:
        """Make its health check fail from now on, saying ``why``."""
        (self.flags / "wedged").write_text(why + "\n")

    def unwedge(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.flags / "wedged").unlink()


@dataclass
class Containers:
    """Runs containers on the engine under unique names; ``remove_all`` after the test."""

    engine: Dockerd
    made: list[str] = field(default_factory=list)

    def run(
        self,
        hint: str = "c",
        *,
        command: str = "exec sleep 3600",
        health: bool = False,
        restart: str = "no",
        start: bool = True,
        ready: bool = True,
        retries: int = 2,
        host_config: dict[str, Any] | None = None,
    ) -> Container:
        """A container running ``sh -c COMMAND`` (after it clears /flags/wedged).

        ``health``: a HEALTHCHECK every 0.2 s, unhealthy after ``retries`` failures. It
        fails while /flags/ready is missing (``ready=False``: it stays ``starting``,
        as failures in the 60 s start period do not count) or /flags/wedged exists.
        """
        name = f"t{os.getpid()}-{next(_names)}-{hint}"
        flags = self.engine.root / "flags" / name
        flags.mkdir(parents=True)
        if ready:
            (flags / "ready").touch()
        config: dict[str, Any] = {
            "Image": IMAGE,
            "Cmd": ["sh", "-c", f"rm -f /flags/wedged; {command}"],
            "HostConfig": {
                "Init": True,
                "NetworkMode": "host",
                # --mount, not -v: a missing source is an error, never created anew
                "Mounts": [{"Type": "bind", "Source": str(flags), "Target": "/flags"}],
                "RestartPolicy": {"Name": restart},
                **(host_config or {}),
            },
        }
        if health:
            check = (
                "[ -e /flags/ready ] || { echo not ready; exit 1; }; "
                "if [ -e /flags/wedged ]; then cat /flags/wedged; exit 1; fi; echo fine"
            )
            config["Healthcheck"] = {
                "Test": ["CMD-SHELL", check],
                "Interval": int(HEALTH_INTERVAL_S * 1e9),
                "Timeout": 5 * 10**9,
                "StartPeriod": 60 * 10**9,
                "Retries": retries,
            }
        created = self.engine.api("POST", f"/containers/create?name={quote(name)}", config)
        self.made.append(name)
        if start:
            self.post(name, "start")
        return Container(name, created["Id"], flags)

    def post(self, name: str, verb: str, query: str = "") -> None:
        self.engine.api("POST", f"/containers/{quote(name)}/{verb}{query}")

    def inspect(self, name: str) -> dict[str, Any]:
        doc: dict[str, Any] = self.engine.api("GET", f"/containers/{quote(name)}/json")
        return doc

    def state(self, name: str) -> dict[str, Any]:
        state: dict[str, Any] = self.inspect(name)["State"]
        return state

    def health(self, name: str) -> str | None:
        return (self.state(name).get("Health") or {}).get("Status")

    def wait_health(self, name: str, status: str, timeout: float = 20.0) -> dict[str, Any]:
        return wait_for(
            f"{name} to be {status}",
            lambda: (s := self.state(name)).get("Health", {}).get("Status") == status and s,
            timeout,
        )

    def host_pid(self, name: str) -> int:
        """The host pid of the container's pid 1 (the engine's pids are its namespace's)."""
        cid = self.inspect(name)["Id"]
        procs = Path(f"/sys/fs/cgroup/pids/{self.engine.cgroup}/{cid}/cgroup.procs")
        for pid in map(int, procs.read_text().split()):
            with contextlib.suppress(OSError):
                status = Path(f"/proc/{pid}/status").read_text()
                nspid = next(line for line in status.splitlines() if line.startswith("NSpid:"))
                if nspid.split()[-1] == "1":
                    return pid
        raise AssertionError(f"no pid 1 in {procs}")

    def crash(self, name: str) -> None:
        """SIGKILL its pid 1 from the host: a crash, which the engine did not do."""
        os.kill(self.host_pid(name), signal.SIGKILL)

    def remove(self, name: str) -> None:
        with contextlib.suppress(DockerdError):
            self.engine.api("DELETE", f"/containers/{quote(name)}?force=1&v=1")

    def remove_all(self) -> None:
        for name in self.made:
            self.remove(name)
        self.made.clear()


@pytest.fixture
def containers(docker_engine: Dockerd) -> Iterator[Containers]:
    made = Containers(docker_engine)
    try:
        yield made
    finally:
        made.remove_all()
