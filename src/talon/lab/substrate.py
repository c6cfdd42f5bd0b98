"""`talon lab up / down / status`: the lab's processes and what they stand for.

| lab process      | stands for                                  | binds            |
|------------------|---------------------------------------------|------------------|
| vm-sshd          | the VM's sshd: the runtime's control path   | VM:PORT          |
| vm-redis         | Redis in the VM (real redis-server, AOF on) | VM:PORT          |
| vm-inngest       | Inngest's health endpoint                   | VM:PORT          |
| vm-typesense     | Typesense's health endpoint                 | VM:PORT          |
| vm-kubeapi       | the cluster's API server (emulated, TLS)    | VM:PORT          |
| vm-engine        | the VM's engine (default profile only)      | vm/run/*.sock    |
| fwd-<service>    | the VM host agent's port forward            | 127.0.0.1:PORT   |
| worker           | the worker process on the host              | 127.0.0.1:PORT   |
| wan-cloud        | a service across the WAN (e.g. a cloud API) | WAN:PORT         |
| gw-wan           | the WAN gateway: the only way to the WAN    | 127.0.0.1:PORT   |

The WAN is another loopback address (127.0.0.4): the rootless stand-in for a
network namespace behind a gateway. Probes of WAN targets go through the
gateway and are marked ``remote`` in the generated config, so killing the
gateway (F17) is "network down" while everything local still answers.

Profiles say what the platform lets Talon do, and the lab offers exactly that
(DESIGN.md principle 8; ``talon.lab.profiles``, docs/lab-profiles.md). The
default profile imitates a Mac's VM runtime: the forwards belong to the VM's
host agent, and only a force-cycle of the VM restarts them (a forwarder-only
restart is refused); the engine's socket moves at every boot and the old file
stays (``talon.lab.engine``); the VM tool (``talon.lab.vmtool``, written to
``bin/``) reports the current one, and Talon drives the lab through its product
adapter for that tool. ``tunnels``: the forwards are separate tunnel processes
that can be restarted alone, leaving the VM running.

The VM is "booted" by starting its processes; each boot is counted with its
time in ``vm/boot.json``, so tests can prove that no needless force-cycle
happened. Ports are chosen free at the first ``up`` and kept in ``lab.json``.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from talon.lab import engine, profiles, records, vmtool
from talon.lab.kube import layout
from talon.lab.kube.layout import kube_server_argv
from talon.lab.procs import Procs, free_port_pair, module_argv, wait_listening
from talon.lab.services_toml import services_toml
from talon.store.files import locked

VM_ADDRESS = "127.0.0.2"  # the lab's own choice; Talon discovers it through the lab runtime
WAN_ADDRESS = "127.0.0.4"  # 127.0.0.3 is left to notification sinks (F16)
SERVICES = ("redis", "inngest", "typesense", "kubeapi")  # forwarded to the host
VM_PROCESSES = ("sshd", *SERVICES)
PROFILES = profiles.VM_PROFILES  # the VM lab's; `linux` is talon.lab.linux
IMITATES = profiles.IMITATES
DEFAULT_PROFILE = profiles.DEFAULT_PROFILE
# sysexits' EX_UNAVAILABLE: the lab's runtime tool cannot do this on this profile.
REFUSED_EXIT = 69
HEALTH_BODIES = {"sshd": "SSH-2.0-lab", "inngest": '{"status":"ok"}', "typesense": '{"ok":true}'}


class LabError(Exception):
    pass


class LabRefused(LabError):
    """The platform the lab imitates cannot do this (the runtime tool exits REFUSED_EXIT)."""


def _health_argv(bind: str, body: str) -> list[str]:
    return module_argv("talon.lab.apps", "health", "--bind", bind, "--body", body)


def _forward_argv(listen: str, to: str) -> list[str]:
    return module_argv("talon.lab.forward", "--listen", listen, "--to", to)


@dataclass(frozen=True)
class Ports:
    sshd: int
    redis: int
    inngest: int
    typesense: int
    kubeapi: int
    worker: int
    cloud: int
    health: int  # Talon's own /health in this lab

    def of(self, service: str) -> int:
        return int(getattr(self, service))


class Lab:
    def __init__(self, directory: Path, vm_address: str = VM_ADDRESS) -> None:
        self.dir = directory
        self.vm = vm_address
        self.procs = Procs(directory)
        self.meta_path = records.meta_path(directory)
        self.boot_path = records.boot_path(directory)
        self.redis_dir = directory / "vm" / "redis"
        self.config_dir = directory / "talon"
        self.doom_path = directory / "vm" / "doom.json"
        self.slow_boot_path = directory / "vm" / "slow-boot.json"
        self.redis_log = self.procs.logs / "vm-redis.server.log"

    # ports and bookkeeping
    def ports(self) -> Ports:
        try:
            return Ports(**json.loads(self.meta_path.read_text())["ports"])
        except FileNotFoundError:
            raise LabError(f"no lab at {self.dir}: run `talon lab up` first") from None

    def profile(self) -> str:
        """What the lab imitates (``PROFILES``); chosen at the first ``up``."""
        return profiles.canonical(str(records.read(self.meta_path).get("profile", DEFAULT_PROFILE)))

    def has_engine(self) -> bool:
        """The default profile's VM has a container engine whose socket moves at each boot."""
        return profiles.has_vm_tool(self.profile())

    def set_profile(self, profile: str) -> None:
        """What the lab imitates from now on (its runtime tool reads it at every call)."""
        self._choose_ports(profile)

    def _choose_ports(self, profile: str | None) -> Ports:
        profile = None if profile is None else profiles.canonical(profile)
        if profile is not None and profile not in PROFILES:
            raise LabError(f"unknown lab profile {profile!r}: use one of {', '.join(PROFILES)}")
        if self.meta_path.exists():
            if profile is not None and profile != self.profile():
                records.write(self.meta_path, {**records.read(self.meta_path), "profile": profile})
            return self.ports()
        ports = Ports(
            *(free_port_pair(WAN_ADDRESS if f.name == "cloud" else self.vm) for f in fields(Ports))
        )
        self.dir.mkdir(parents=True, exist_ok=True)
        meta = {
            "vm_address": self.vm,
            "ports": asdict(ports),
            "profile": profile or DEFAULT_PROFILE,
        }
        records.write(self.meta_path, meta)
        return ports

    def boot(self) -> dict[str, Any]:
        return records.read(self.boot_path) or {"count": 0, "booted_at": None, "running": False}

    def _write_boot(self, **changes: Any) -> None:
        records.write(self.boot_path, {**self.boot(), **changes})

    # the VM
    def vm_argv(self, service: str, ports: Ports | None = None) -> list[str]:
        port = str((ports or self.ports()).of(service))
        if service == "redis":
            binary = shutil.which("redis-server")
            if binary is None:
                raise LabError("redis-server is not installed: run scripts/setup.sh")
            return [
                binary,
                "--bind",
                self.vm,
                "--port",
                port,
                "--dir",
                str(self.redis_dir),
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--save",
                "",
                "--daemonize",
                "no",
                "--logfile",
                str(self.redis_log),
            ]
        if service == "kubeapi":
            return kube_server_argv(self.dir, f"{self.vm}:{port}")
        return _health_argv(f"{self.vm}:{port}", HEALTH_BODIES[service])

    def _listening(self, name: str, host: str, port: int) -> None:
        if not wait_listening(host, port):
            raise LabError(f"{name} did not start; see {self.procs.logs}")

    def vm_lock(self) -> AbstractContextManager[None]:
        """One lock around every VM lifecycle action, for every actor (R19)."""
        return locked(self.dir / "vm.lock")

    def start_vm(self, by: str = "lab") -> None:
        with self.vm_lock():
            self._start_vm(by)

    def stop_vm(self) -> None:
        with self.vm_lock():
            self._stop_vm()

    def _start_vm(self, by: str) -> None:
        ports = self.ports()
        booting = not self.boot().get("running")
        self.redis_dir.mkdir(parents=True, exist_ok=True)
        for name in VM_PROCESSES:
            self.procs.start(f"vm-{name}", self.vm_argv(name, ports))
        if self.has_engine():
            self._start_engine(fresh=booting)
        for name in VM_PROCESSES:
            self._listening(f"vm-{name}", self.vm, ports.of(name))
        if booting:
            boot = self.boot()
            by_counts = {**boot.get("by", {}), by: boot.get("by", {}).get(by, 0) + 1}
            self._write_boot(
                count=boot["count"] + 1,
                booted_at=time.time(),
                # the VM's shell reads its uptime against this (``vmtool``'s time namespace)
                booted_boottime=vmtool.boottime(),
                running=True,
                by=by_counts,
            )
            self._arm_doom()

    # the VM's engine (the default profile): its socket moves at each boot
    def engine_socket(self) -> Path | None:
        """This boot's engine socket (the one the VM tool reports); None without one."""
        current = self.boot().get("engine_socket")
        return Path(current) if current else None

    def _start_engine(self, *, fresh: bool) -> Path:
        """Serve the engine: on a new socket when ``fresh`` (a boot, a drift), else on this
        boot's (an engine restarted inside a running VM keeps its socket)."""
        current = self.engine_socket()
        if fresh or current is None:
            self._stop_engine()  # one left from a boot that failed half-way serves the old one
            number = int(self.boot().get("engine_sockets", 0)) + 1
            try:
                path = engine.socket_path(self.dir, number)
            except engine.SocketPathTooLong as exc:
                raise LabError(str(exc)) from None
            self._write_boot(engine_sockets=number)
        else:
            path = current
        path.parent.mkdir(parents=True, exist_ok=True)
        self.procs.start(engine.PROCESS, engine.argv(path))
        if not engine.serving(path):
            raise LabError(f"{engine.PROCESS} did not serve {path}; see {self.procs.logs}")
        self._write_boot(engine_socket=str(path))
        return path

    def _stop_engine(self) -> None:
        """The engine stops; its socket file stays behind, refusing (F19)."""
        self.procs.stop(engine.PROCESS)
        if (current := self.engine_socket()) is not None:
            engine.leave_dead(current)

    def move_engine(self) -> tuple[Path | None, Path]:
        """F19: the engine comes back on a new socket, the old file stays; (old, new)."""
        with self.vm_lock():
            if not self.has_engine():
                raise LabError(f"the {self.profile()} profile's VM has no engine socket")
            if not self.boot().get("running"):
                raise LabError("the VM is not running: its engine has no socket to move")
            old = self.engine_socket()
            self._stop_engine()
            return old, self._start_engine(fresh=True)

    def stop_engine(self) -> Path | None:
        """The VM's engine stops (its shell and services go on); its socket stays, dead."""
        with self.vm_lock():
            self._stop_engine()
            return self.engine_socket()

    def start_doom(self, after_s: float) -> None:
        """A process that stops this boot of the VM after ``after_s`` (F5, F11)."""
        self.procs.stop("vm-doom")
        argv = module_argv("talon.lab.doom", "--dir", str(self.dir), "--after", str(after_s))
        self.procs.start("vm-doom", argv)

    def restart_vm_process(self, name: str) -> None:
        """Restart one VM process (what a pod delete does for the pod's controller)."""
        service = name.removeprefix("vm-")
        if service not in VM_PROCESSES:
            raise LabError(f"unknown VM process {name!r}")
        with self.vm_lock():
            self.procs.stop(name)
            self.procs.start(name, self.vm_argv(service))
            self._listening(name, self.vm, self.ports().of(service))

    def _stop_vm(self) -> None:
        for name in VM_PROCESSES:
            self.procs.stop(f"vm-{name}")
        self._stop_engine()
        self._write_boot(running=False)

    def _arm_doom(self) -> None:
        """An armed regression (F5, once) or crash loop (F11, always) kills this boot later."""
        try:
            doom = json.loads(self.doom_path.read_text())
        except FileNotFoundError:
            return
        self.start_doom(doom["after_s"])
        if doom["mode"] == "once":
            self.doom_path.unlink()

    def vm_pids(self) -> dict[str, int | None]:
        pids = {name: self.procs.pid(f"vm-{name}") for name in VM_PROCESSES}
        if self.has_engine():
            pids["engine"] = self.procs.pid(engine.PROCESS)
        return pids

    # the host agent and the worker
    def start_forwarders(self) -> None:
        ports = self.ports()
        for service in SERVICES:
            port = ports.of(service)
            self.procs.start(
                f"fwd-{service}", _forward_argv(f"127.0.0.1:{port}", f"{self.vm}:{port}")
            )
        for service in SERVICES:  # all started first: they come up in parallel
            self._listening(f"fwd-{service}", "127.0.0.1", ports.of(service))

    def stop_forwarders(self) -> None:
        for service in SERVICES:
            self.procs.stop(f"fwd-{service}")

    def restart_forwarders(self) -> None:
        """The ``tunnels`` profile: every forward stopped and started again, the VM left alone.

        On the default profile this is refused, as the platform refuses it: there the
        forwards live in the VM's host agent, which only a restart of the VM restarts.
        """
        if self.profile() != profiles.TUNNELS:
            raise LabRefused(
                f"the {self.profile()} profile has no forwarder-only restart: its forwards live "
                "in the VM's host agent, which only a force-cycle of the VM restarts"
            )
        self.stop_forwarders()
        self.start_forwarders()

    def worker_argv(self) -> list[str]:
        """The worker app (``talon.lab.worker``): what the lab or Talon's supervisor runs."""
        record = self.dir / "worker" / "record.jsonl"
        record.parent.mkdir(parents=True, exist_ok=True)
        port = str(self.ports().worker)
        return module_argv("talon.lab.worker", "--port", port, "--record", str(record))

    def start_worker(self) -> None:
        self.procs.start("worker", self.worker_argv())
        self._listening("worker", "127.0.0.1", self.ports().worker)

    def prepare_kube(self, ports: Ports) -> None:
        logs = {
            "redis": str(self.redis_log),
            **{s: str(self.procs.logs / f"vm-{s}.log") for s in ("inngest", "typesense")},
        }
        layout.prepare(self.dir, self.vm, asdict(ports), logs, ports.kubeapi)

    # the WAN
    def start_wan(self) -> None:
        port = self.ports().cloud
        self.procs.start("wan-cloud", _health_argv(f"{WAN_ADDRESS}:{port}", '{"ok":true}'))
        self.start_gateway()
        self._listening("wan-cloud", WAN_ADDRESS, port)

    def start_gateway(self) -> None:
        port = self.ports().cloud
        self.procs.start("gw-wan", _forward_argv(f"127.0.0.1:{port}", f"{WAN_ADDRESS}:{port}"))
        self._listening("gw-wan", "127.0.0.1", port)

    # the whole lab
    def up(self, profile: str | None = None) -> Ports:
        ports = self._choose_ports(profile)
        self._prepare_vm_tool()
        self.prepare_kube(ports)
        self.start_vm()
        self.start_forwarders()
        self.start_worker()
        self.start_wan()
        self.write_talon_config()
        return ports

    def _prepare_vm_tool(self) -> None:
        """The default profile's VM tool in ``bin/``, and how its shell gets the VM's uptime."""
        meta = records.read(self.meta_path)
        if "time_namespace" not in meta:
            records.write(self.meta_path, {**meta, "time_namespace": vmtool.time_namespace()})
        if self.has_engine():
            try:
                engine.socket_path(self.dir, 1)
            except engine.SocketPathTooLong as exc:
                raise LabError(str(exc)) from None
            vmtool.install(self.dir)

    def down(self) -> list[str]:
        """Stop every process the lab started (by pid file), and nothing else.

        The VM's lock first: a keeper's boot in progress ends, its pid files written,
        before anything is stopped (killed in the middle of a boot, it would leave
        processes no pid file names). Then the helpers that start VM processes (keeper,
        doom, resumers), and only then the list of the rest is read, so a process a
        helper started before it stopped is on it.
        """
        with self.vm_lock():
            helpers = [
                n
                for n in self.procs.names()
                if n in ("vm-keeper", "vm-doom") or n.startswith("resume-")
            ]
            stopped = [n for n in helpers if self.procs.stop(n)]
            stopped += [n for n in self.procs.names() if n not in helpers and self.procs.stop(n)]
            if self.boot_path.exists():
                self._write_boot(running=False)
        return stopped

    def force_cycle(self, boot_delay_s: float = 1.0) -> None:
        """Stop the VM and its forwards, wait as a VM boot would, start both again."""
        with self.vm_lock():
            self.stop_forwarders()
            self._stop_vm()
            time.sleep(max(boot_delay_s, self._slow_boot_s()))
            self._start_vm("talon")
            self.start_forwarders()

    def power_off(self) -> None:
        """The VM tool's ``stop --force``: the VM and its host agent (the forwards) stop."""
        with self.vm_lock():
            self.stop_forwarders()
            self._stop_vm()

    def power_on(self, by: str, boot_delay_s: float = 1.0) -> None:
        """The VM tool's ``start``: a boot (which takes its time), then the host agent."""
        with self.vm_lock():
            if not self.boot().get("running"):
                time.sleep(max(boot_delay_s, self._slow_boot_s()))
            self._start_vm(by)
            self.start_forwarders()

    def _slow_boot_s(self) -> float:
        """How long a boot takes when a test made it slow (``faults.slow_boot``)."""
        try:
            return float(json.loads(self.slow_boot_path.read_text())["boot_s"])
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            return 0.0

    def status(self) -> dict[str, Any]:
        names = [f"vm-{p}" for p in VM_PROCESSES] + [f"fwd-{s}" for s in SERVICES]
        names += ["worker", "wan-cloud", "gw-wan"]
        if self.has_engine():
            names.insert(len(VM_PROCESSES), engine.PROCESS)
        socket = self.engine_socket()
        return {
            "dir": str(self.dir),
            "profile": self.profile(),
            "vm_address": self.vm,
            "ports": asdict(self.ports()) if self.meta_path.exists() else None,
            "boot": self.boot(),
            "engine_socket": str(socket) if socket else None,
            "processes": {name: self.procs.pid(name) for name in names},
        }

    # Talon's view of the lab
    def talon_settings(self) -> dict[str, dict[str, Any]]:
        """config.toml for this lab, as sections ("" is the top level)."""
        ports = self.ports()
        return {
            "": {"check_interval_secs": 10, "services_file": "services.toml"},
            "runtime": {"kind": "lab", "lab_dir": str(self.dir), "profile": self.profile()},
            "process_manager": {"kind": "lab"},
            # The cluster client's discovery cache stays in the lab, never in the user's home.
            "exec": {"env": {"KUBECACHEDIR": str(layout.cache_dir(self.dir))}},
            "health": {"bind": f"127.0.0.1:{ports.health}"},
            "healing": {"rbac_guard_manifest": str(layout.guard_path(self.dir))},
            "evidence": {
                "redis_aof": str(self.redis_dir / "appendonlydir"),
                "log_files": [str(self.redis_log)],
            },
        }

    def write_talon_config(self, overrides: Mapping[str, Mapping[str, Any]] | None = None) -> Path:
        """Write config.toml and services.toml; ``overrides`` replace keys per section."""
        ports = self.ports()
        self.config_dir.mkdir(parents=True, exist_ok=True)
        sections = self.talon_settings()
        for name, keys in (overrides or {}).items():
            sections[name] = {**sections.get(name, {}), **keys}
        config = self.config_dir / "config.toml"
        config.write_text(
            "# Generated by `talon lab up`: Talon's configuration for this lab.\n"
            + render_toml(sections)
        )
        manifest = self.redis_dir / "appendonlydir" / "appendonly.aof.manifest"
        kubeconfig = layout.kubeconfig_path(self.dir)
        (self.config_dir / "services.toml").write_text(
            services_toml(ports, self.vm, manifest, kubeconfig, runtime_probe=self.has_engine())
        )
        for path in self.config_dir.glob("*.toml"):
            os.chmod(path, 0o600)
        return config


def render_toml(sections: Mapping[str, Mapping[str, Any]]) -> str:
    """Sections of scalars, lists and inline tables: JSON spells those the TOML way."""

    def value(v: Any) -> str:
        if isinstance(v, Mapping):
            return "{ " + ", ".join(f"{json.dumps(k)} = {value(x)}" for k, x in v.items()) + " }"
        if isinstance(v, list | tuple):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return json.dumps(v)

    out = []
    for name, keys in sorted(sections.items(), key=lambda item: item[0] != ""):
        body = "".join(f"{k} = {value(v)}\n" for k, v in keys.items())
        out.append(body if name == "" else f"[{name}]\n{body}")
    return "\n".join(out)
