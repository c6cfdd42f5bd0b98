"""The lab's ``linux`` profile: a Linux box with systemd and a native container engine.

Nothing is imitated that runs here for real (DESIGN.md principle 8):

| piece                     | what runs                                                    |
|---------------------------|--------------------------------------------------------------|
| the service manager       | a real ``systemd --user`` (``usermanager``), its own cgroups  |
| the engine                | Debian's real dockerd, a unit of that manager (``ENGINE``)    |
| the services              | containers of that engine, ``--network host`` on 127.0.0.1:  |
|                           | ``lab-redis`` (the host's redis-server, /usr bound read-only) |
|                           | and ``lab-inngest``/``lab-typesense`` (the lab's stand-ins), |
|                           | each with a HEALTHCHECK                                       |
| the worker                | a unit of the manager (``WORKER``): systemd owns it (F9)      |
| Talon (``talon_unit``)    | a unit of the manager, when a test or an operator starts it   |

Talon sees it through its product adapters only: ``[runtime] kind`` is the
native engine on the lab's socket with ``engine_service`` = the engine's unit,
``[process_manager]`` is systemd in the user scope, and the manager's
``XDG_RUNTIME_DIR``/``XDG_CONFIG_HOME`` reach every child through ``[exec] env``.

The manager and the engine keep their sockets in a short directory under /tmp
(a unix socket path has 108 bytes), recorded in ``linux.json``; ``down`` stops
the manager by its pid (its units, the engine and with it every container go
too), removes every cgroup and that directory.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from talon.adapters.process.systemd import environment_line, exec_word, parse_show
from talon.lab.linux import containers
from talon.lab.linux.dockerd import SBIN_PATH, Dockerd, DockerdError
from talon.lab.linux.usermanager import UserManager
from talon.lab.procs import free_port_pair, module_argv

PROFILE = "linux"
ENGINE = "talon-lab-engine"
WORKER = "talon-lab-worker"
TALON = "talon-lab-talon"
ADDRESS = "127.0.0.1"
META = "linux.json"
PORTS = ("redis", "inngest", "typesense", "worker", "health")


class LinuxLabError(Exception):
    pass


# What the profile's operations raise for an operator to read (the CLI prints them).
ERRORS = (LinuxLabError, DockerdError)


class LinuxLab:
    """The ``linux`` profile of the lab in ``directory``: ``up()``, ``down()``, ``status()``."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory.absolute()
        self.meta_path = self.dir / META
        self.config_dir = self.dir / "talon"
        self.redis_dir = self.dir / "redis"
        self.record = self.dir / "worker" / "record.jsonl"

    # bookkeeping -----------------------------------------------------
    def meta(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(self.meta_path.read_text())
            return data
        except FileNotFoundError:
            raise LinuxLabError(f"no linux lab at {self.dir}: run `talon lab up`") from None

    def ports(self) -> dict[str, int]:
        return {k: int(v) for k, v in self.meta()["ports"].items()}

    @property
    def short(self) -> Path:
        return Path(self.meta()["short"])

    def manager(self) -> UserManager:
        return UserManager(self.short / "um", self.meta()["manager_cgroup"])

    def engine(self) -> Dockerd:
        return Dockerd(self.short / "dk", self.meta()["engine_cgroup"])

    @property
    def manager_env(self) -> dict[str, str]:
        """What every ``systemctl --user`` call needs to reach the lab's manager."""
        return self.manager().env

    def systemctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            ["systemctl", "--user", *args],
            env={**os.environ, **self.manager_env},
            capture_output=True,
            text=True,
            timeout=30,
        )
        if check and done.returncode != 0:
            raise LinuxLabError(f"systemctl --user {' '.join(args)}: {done.stderr.strip()}")
        return done

    def main_pid(self, unit: str) -> int | None:
        said = self.systemctl("show", "-p", "MainPID", "--value", f"{unit}.service")
        pid = int(said.stdout.strip() or 0)
        return pid or None

    # up and down -----------------------------------------------------
    def up(self) -> dict[str, int]:
        if self.meta_path.exists() and UserManager.attach(self.short / "um") is not None:
            return self.ports()  # already up
        self.dir.mkdir(parents=True, exist_ok=True)
        short = Path(tempfile.mkdtemp(prefix="tl", dir="/tmp"))
        tag = f"{os.getpid()}-{os.urandom(3).hex()}"
        meta = {
            "profile": PROFILE,
            "short": str(short),
            "manager_cgroup": f"talon-lab-um-{tag}",
            "engine_cgroup": f"talon-lab-dk-{tag}",
            "ports": {name: free_port_pair(ADDRESS, ADDRESS) for name in PORTS},
        }
        self.meta_path.write_text(json.dumps(meta))
        try:
            self.manager().start()
            self._start_engine()
            containers.start_all(self.engine(), self.ports(), self.redis_dir)
            self._start_worker()
        except BaseException:
            self.down()
            raise
        return self.ports()

    def _start_engine(self) -> None:
        engine = self.engine()
        engine.root.mkdir(parents=True, exist_ok=True)
        (engine.root / "daemon.json").write_text("{}\n")
        self.write_unit(ENGINE, engine.command(), env={"PATH": SBIN_PATH}, restart="no")
        self.systemctl("start", f"{ENGINE}.service")
        self.wait_engine()
        containers.import_images(engine)

    def wait_engine(self, timeout: float = 30.0) -> None:
        engine, deadline = self.engine(), time.monotonic() + timeout
        while not engine.ping():
            if time.monotonic() > deadline:
                log = self.systemctl("status", f"{ENGINE}.service", check=False).stdout
                raise LinuxLabError(f"the lab's engine did not answer in {timeout:g}s:\n{log}")
            time.sleep(0.02)

    def _start_worker(self) -> None:
        self.record.parent.mkdir(parents=True, exist_ok=True)
        port = str(self.ports()["worker"])
        argv = module_argv("talon.lab.worker", "--port", port, "--record", str(self.record))
        self.write_unit(WORKER, argv, restart="no")
        self.systemctl("start", f"{WORKER}.service")

    def write_unit(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        restart: str = "no",
        extra: Sequence[str] = (),
    ) -> Path:
        """A unit of the lab's manager; the manager re-reads its units at once."""
        lines = ["[Unit]", f"Description=talon lab: {name}", "", "[Service]"]
        lines.append(
            "ExecStart=" + " ".join(exec_word(w, first=i == 0) for i, w in enumerate(argv))
        )
        lines += [environment_line(key, value) for key, value in (env or {}).items()]
        log = self.log_path(name)
        log.parent.mkdir(parents=True, exist_ok=True)
        lines += [f"StandardOutput=append:{log}", "StandardError=inherit"]
        lines += [f"Restart={restart}", "TimeoutStopSec=10", *extra]
        path = self.manager().unit_dir / f"{name}.service"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n")
        self.systemctl("daemon-reload")
        return path

    def log_path(self, unit: str) -> Path:
        """Where a unit's output goes (the lab's manager has no journal)."""
        return self.dir / "logs" / f"{unit}.log"

    def down(self) -> list[str]:
        """Stop the manager by its pid (its units, the engine, the containers), clean up."""
        if not self.meta_path.exists():
            return []
        from talon.lab.procs import Procs

        stopped = [REGRESS] if Procs(self.dir).stop(REGRESS) else []
        manager = UserManager.attach(self.short / "um")
        if manager is not None:
            manager.stop()
            stopped.append("systemd --user")
        else:
            self.manager().stop()  # its cgroups, if a crash left them
        self.engine().stop(remove=False)  # the engine's cgroups (its processes died above)
        shutil.rmtree(self.short, ignore_errors=True)
        self.meta_path.unlink(missing_ok=True)
        return stopped

    def status(self) -> dict[str, Any]:
        if not self.meta_path.exists():
            return {"dir": str(self.dir), "profile": PROFILE, "up": False}
        units = {}
        for unit in (ENGINE, WORKER, TALON):
            said = self.systemctl(
                "show", "-p", "ActiveState,MainPID", f"{unit}.service", check=False
            )
            units[unit] = parse_show(said.stdout)
        engine = self.engine()
        return {
            "dir": str(self.dir),
            "profile": PROFILE,
            "up": True,
            "ports": self.ports(),
            "engine_socket": str(engine.socket),
            "manager_env": self.manager_env,
            "units": units,
            "containers": containers.states(engine) if engine.ping() else {},
        }

    # Talon's view ----------------------------------------------------
    def talon_settings(self) -> dict[str, dict[str, Any]]:
        ports = self.ports()
        return {
            "": {"check_interval_secs": 10, "services_file": "services.toml"},
            "runtime": {
                "kind": "docker",
                "socket": str(self.engine().socket),
                "engine_service": ENGINE,
            },
            "process_manager": {"kind": "systemd", "systemd_scope": "user"},
            "exec": {"env": self.manager_env},
            "health": {"bind": f"{ADDRESS}:{ports['health']}"},
            "evidence": {"redis_aof": str(self.redis_dir / "appendonlydir")},
        }

    def write_talon_config(self, overrides: Mapping[str, Mapping[str, Any]] | None = None) -> Path:
        from talon.lab.substrate import render_toml

        sections = self.talon_settings()
        for name, keys in (overrides or {}).items():
            sections[name] = {**sections.get(name, {}), **keys}
        self.config_dir.mkdir(parents=True, exist_ok=True)
        config = self.config_dir / "config.toml"
        config.write_text(
            "# Generated by `talon lab up --profile linux`.\n" + render_toml(sections)
        )
        (self.config_dir / "services.toml").write_text(services_toml(self.ports()))
        for path in self.config_dir.glob("*.toml"):
            os.chmod(path, 0o600)
        return config

    def talon_unit(self, config: Path, env: Mapping[str, str]) -> None:
        """Talon as a unit of the lab's manager (started with ``systemctl --user start``)."""
        argv = [sys.executable, "-m", "talon", "--config", str(config), "run"]
        self.write_unit(TALON, argv, env=env, restart="no", extra=["KillMode=process"])


def services_toml(ports: Mapping[str, int]) -> str:
    """The probes of a systemd + engine box: containers, their ports, the worker's unit."""
    out = ["# Generated by `talon lab up --profile linux`.\n"]
    out.append(
        "# The engine answers its API (its unit is restarted through systemd when it does not).\n"
        "[runtime.engine]\ncritical = true\ncritical_after_consecutive_failures = 2\n"
    )
    for name in containers.NAMES:
        out.append(
            f'[container.{name}]\ncontainer = "lab-{name}"\ncritical = true\n'
            "critical_after_consecutive_failures = 2\n"
        )
    out.append(f'[redis.redis]\naddress = "{ADDRESS}:{ports["redis"]}"\n')
    for name in ("inngest", "typesense"):
        out.append(f'[http.{name}]\nurl = "http://{ADDRESS}:{ports[name]}/health"\n')
    out.append(
        f"# The worker is a unit: systemd owns it, Talon restarts it through systemd (tier 1c).\n"
        f'[service.worker]\nlabel = "{WORKER}"\n'
        "critical = true\ncritical_after_consecutive_failures = 2\n"
    )
    out.append(
        f'[http.worker]\nurl = "http://{ADDRESS}:{ports["worker"]}/api/inngest"\n'
        f'service = "{WORKER}"\n'
    )
    return "\n".join(out)


# faults ------------------------------------------------------------------
REGRESS = "linux-regress"  # the helper process that kills the engine's next boot (F5)


def engine_down(lab: LinuxLab) -> str:
    """The engine dies (SIGKILL to its unit): its socket refuses, its containers are gone."""
    lab.systemctl("kill", "-s", "KILL", f"{ENGINE}.service")
    _wait(lambda: lab.main_pid(ENGINE) is None, "the engine to die")
    return f"{ENGINE} killed"


def container_unhealthy(lab: LinuxLab, service: str) -> str:
    """A service keeps running but fails its HEALTHCHECK until its container restarts."""
    if service not in containers.NAMES:
        raise LinuxLabError(
            f"unknown service {service!r}; use one of {', '.join(containers.NAMES)}"
        )
    containers.wedge(lab.engine(), service)
    return f"lab-{service} wedged: unhealthy until restarted"


def service_down(lab: LinuxLab, service: str = "worker") -> str:
    """A unit's main process crashes (SIGKILL); with Restart=no the unit stays failed."""
    if service != "worker":
        raise LinuxLabError(f"the linux profile's units: worker (not {service!r})")
    lab.systemctl("kill", "-s", "KILL", f"{WORKER}.service")
    _wait(lambda: lab.main_pid(WORKER) is None, "the worker to die")
    return f"{WORKER} killed"


def arm_regress(lab: LinuxLab, after_s: float) -> str:
    """F5: the engine dies now, and its next boot dies again ``after_s`` after it starts."""
    from talon.lab.procs import Procs

    procs = Procs(lab.dir)
    procs.stop(REGRESS)
    argv = module_argv(
        "talon.lab.linux.box", "regress", "--dir", str(lab.dir), "--after", str(after_s)
    )
    procs.start(REGRESS, argv)
    engine_down(lab)
    return f"{ENGINE} killed; its next boot dies {after_s:g}s after it starts"


def heal_all(lab: LinuxLab) -> str:
    from talon.lab.procs import Procs

    Procs(lab.dir).stop(REGRESS)
    for unit in (ENGINE, WORKER):
        if lab.main_pid(unit) is None:
            lab.systemctl("reset-failed", f"{unit}.service", check=False)
            lab.systemctl("start", f"{unit}.service")
    lab.wait_engine()
    for name in containers.NAMES:
        with contextlib.suppress(DockerdError):
            containers.unwedge(lab.engine(), name)
    return "engine and worker running, containers unwedged"


def _regress(directory: Path, after_s: float) -> None:
    """Wait for the engine's next main process, let it live ``after_s``, kill it."""
    lab = LinuxLab(directory)
    first = lab.main_pid(ENGINE)
    while (pid := lab.main_pid(ENGINE)) is None or pid == first:
        first = None if pid is None else first  # dead now: any pid that follows is a new boot
        time.sleep(0.1)
    time.sleep(after_s)
    lab.systemctl("kill", "-s", "KILL", f"{ENGINE}.service", check=False)


def _wait(done: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise LinuxLabError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m talon.lab.linux.box")
    parser.add_argument("what", choices=["regress"])
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--after", type=float, default=5.0)
    args = parser.parse_args()
    _regress(args.dir, args.after)


if __name__ == "__main__":
    main()
