"""Fault injection: one verb per FAULTS.md row that concerns the substrate.

Each verb changes exactly what it says, is idempotent, and is undone by
``heal_all``: F1, F2, F3, F4, F5, F6, F10, F11, F12, F17; and on the default
profile F19 (``socket_drift``: the engine's socket moves, the old file stays)
and ``engine_down`` (the VM's engine stops, its shell still answers).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from talon.lab import engine
from talon.lab.kube import layout
from talon.lab.kube.seed import KUBELET_CLIENT_CRB
from talon.lab.procs import gone, module_argv
from talon.lab.substrate import SERVICES, VM_PROCESSES, Lab, LabError

CANARY_KEYS = 50


def _service(service: str) -> str:
    if service not in SERVICES:
        raise LabError(f"unknown service {service!r}; use one of {', '.join(SERVICES)}")
    return service


def kill_forwarders(lab: Lab, service: str | None = None) -> str:
    """F1: the host agent's forwards die; the VM keeps serving on its own address."""
    targets = [_service(service)] if service else list(SERVICES)
    for name in targets:
        _sigkill(lab, f"fwd-{name}")
    return f"killed forwarders: {', '.join(targets)}"


def _sigkill(lab: Lab, name: str) -> None:
    """Kill a lab process the hard way (a crash, not a shutdown), and forget its pid file."""
    if pid := lab.procs.pid(name):
        with contextlib.suppress(ProcessLookupError):
            lab.procs.signal(name, signal.SIGKILL)
        gone(pid, 3.0)
    lab.procs.stop(name)  # clears the pid file


def flap(lab: Lab, service: str, seconds: float) -> str:
    """F2: pause a forwarder for ``seconds``; a recorded helper resumes it."""
    name = f"fwd-{_service(service)}"
    pid = lab.procs.pid(name)
    if pid is None:
        raise LabError(f"{name} is not running")
    lab.procs.freeze(name)
    lab.procs.stop(f"resume-{name}")
    lab.procs.start(
        f"resume-{name}",
        [
            sys.executable,
            "-c",
            f"import os, signal, time; time.sleep({seconds}); os.kill({pid}, signal.SIGCONT)",
        ],
    )
    return f"{name} paused for {seconds:g}s"


def service_down(lab: Lab, service: str) -> str:
    """F3: stop one service inside the VM (and leave it stopped)."""
    lab.procs.stop(f"vm-{_service(service)}")
    return f"vm-{service} stopped"


def runtime_down(lab: Lab) -> str:
    """F4: the whole VM and its host agent are gone (the VM first, as when it crashes)."""
    lab.stop_vm()
    lab.stop_forwarders()
    return "VM and forwarders stopped"


def socket_drift(lab: Lab) -> str:
    """F19: the engine comes back on a new socket, as after a VM boot behind Talon's back;
    the old socket file stays, refusing. The VM tool reports the new one."""
    old, new = lab.move_engine()
    return f"the engine's socket moved: {old} (left behind, dead) -> {new}"


def engine_down(lab: Lab) -> str:
    """The VM's engine stops; the VM, its shell and its services go on. Its socket file
    stays, refusing: from the host this looks like F19, and only the VM's shell tells."""
    left = lab.stop_engine()
    return f"the VM's engine stopped; its socket {left} stays, dead"


def hang(lab: Lab, service: str) -> str:
    """F12: a VM service that accepts connections and never answers (SIGSTOP)."""
    name = f"vm-{_service(service)}"
    if lab.procs.freeze(name) is None:
        raise LabError(f"{name} is not running")
    return f"{name} accepts but never answers"


def drop_rbac(lab: Lab) -> str:
    """F6: delete the kubelet-client binding through the real cluster client, as drift would."""
    with _api_errors():
        layout.drop_binding(lab.dir, KUBELET_CLIENT_CRB)
    return f"clusterrolebinding {KUBELET_CLIENT_CRB} deleted"


def restore_rbac(lab: Lab) -> str:
    """What the RBAC guard does: apply its manifest."""
    with _api_errors():
        layout.apply_guard(lab.dir)
    return f"clusterrolebinding {KUBELET_CLIENT_CRB} applied"


@contextlib.contextmanager
def _api_errors() -> Iterator[None]:
    """The lab's API call failed (or its client is missing): a LabError, like every verb's."""
    try:
        yield
    except RuntimeError as exc:
        raise LabError(str(exc)) from None


def network_down(lab: Lab) -> str:
    """F17: the WAN gateway dies; remote targets are unreachable, local ones are fine."""
    _sigkill(lab, "gw-wan")
    return "the WAN gateway is down"


def arm_regress(lab: Lab, seconds: float) -> str:
    """F5: the next boot (a force-cycle's) comes up, then dies after ``seconds``."""
    _arm(lab, "once", seconds)
    return f"armed: the next VM boot dies after {seconds:g}s"


def slow_boot(lab: Lab, seconds: float) -> str:
    """A force-cycle's boot takes ``seconds`` (F14, F21: time to stop Talon mid-heal)."""
    lab.slow_boot_path.parent.mkdir(parents=True, exist_ok=True)
    lab.slow_boot_path.write_text(json.dumps({"boot_s": seconds}))
    return f"a VM boot now takes {seconds:g}s"


def crashloop(lab: Lab, seconds: float, keeper_every_s: float = 1.0) -> str:
    """F11: every boot dies after ``seconds``, and a keeper restarts the VM each time."""
    _arm(lab, "always", seconds)
    if lab.boot().get("running"):
        lab.start_doom(seconds)
    argv = module_argv("talon.lab.keeper", "--dir", str(lab.dir), "--every", str(keeper_every_s))
    lab.procs.start("vm-keeper", argv)
    return f"crash loop: every boot dies after {seconds:g}s; a keeper restarts the VM"


def _arm(lab: Lab, mode: str, seconds: float) -> None:
    lab.doom_path.parent.mkdir(parents=True, exist_ok=True)
    lab.doom_path.write_text(json.dumps({"mode": mode, "after_s": seconds}))


def corrupt_aof(lab: Lab) -> str:
    """F10: canary keys, SIGKILL redis, damage the middle of the newest AOF, start it again.

    A backup of the AOF directory is kept for ``heal_all``; redis then refuses
    to load ("Bad file format reading the append only file").
    """
    port = lab.ports().redis
    _write_canaries(lab.vm, port)
    time.sleep(1.2)  # appendfsync everysec
    aof_dir = lab.redis_dir / "appendonlydir"
    backup = lab.dir / "vm" / "aof-backup"
    if not backup.exists():
        shutil.copytree(aof_dir, backup)
    lab.procs.signal("vm-redis", signal.SIGKILL)
    lab.procs.stop("vm-redis")
    newest = max(aof_dir.glob("*.incr.aof"), key=lambda p: p.stat().st_mtime)
    data = bytearray(newest.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 16] = b"\x00GARBAGE\xffGARBAGE"
    newest.write_bytes(bytes(data))
    lab.procs.start("vm-redis", lab.vm_argv("redis"))  # it will refuse the AOF and exit
    return f"damaged {newest.name} at byte {middle}; redis restarted (and refuses it)"


def heal_all(lab: Lab) -> str:
    """Undo every fault: resume what was paused, restore the AOF, start everything."""
    lab.doom_path.unlink(missing_ok=True)
    lab.slow_boot_path.unlink(missing_ok=True)
    for name in lab.procs.names():
        if name.startswith("resume-") or name in ("vm-doom", "vm-keeper"):
            lab.procs.stop(name)
    names = [f"vm-{p}" for p in VM_PROCESSES] + [engine.PROCESS]
    for name in names + [f"fwd-{s}" for s in SERVICES]:
        lab.procs.signal(name, signal.SIGCONT)
    backup = lab.dir / "vm" / "aof-backup"
    if backup.exists():
        lab.procs.stop("vm-redis")
        aof_dir = lab.redis_dir / "appendonlydir"
        shutil.rmtree(aof_dir, ignore_errors=True)
        shutil.copytree(backup, aof_dir)
        shutil.rmtree(backup)
    lab.start_vm()
    lab.start_forwarders()
    lab.start_worker()
    lab.start_wan()
    restore_rbac(lab)
    return "lab healed"


def _write_canaries(host: str, port: int) -> None:
    commands = b"".join(
        f"*3\r\n$3\r\nSET\r\n${len(k)}\r\n{k}\r\n$1\r\n1\r\n".encode()
        for k in (f"canary:{i}" for i in range(CANARY_KEYS))
    )
    with socket.create_connection((host, port), 5) as s:
        s.sendall(commands)
        received = b""
        while received.count(b"+OK") < CANARY_KEYS:
            chunk = s.recv(65_536)
            if not chunk:
                raise LabError("redis closed the connection while writing canary keys")
            received += chunk


def aof_files(lab: Lab) -> list[Path]:
    return sorted((lab.redis_dir / "appendonlydir").glob("*"))
