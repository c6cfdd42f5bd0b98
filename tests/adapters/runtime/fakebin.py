"""FAKES of ``colima`` and ``limactl`` for tests: lima and colima cannot run here.

Both start a VM (lima: QEMU or Apple's Virtualization.framework; colima: lima
plus a container engine inside it), and this machine gives tests no hypervisor
to start one with. The project's rule is real tools wherever they run here,
fakes only for launchd (``tests/support/fake_pm_tools.py``), colima and lima.

There is no fake ``ssh``: OpenSSH runs here, and everything that goes over
ssh is tested with the real client against a real sshd (``tests/support/sshd.py``).

Run as ``python -S fakebin.py TOOL ARGS...`` by the wrappers ``fakes.py``
writes first on PATH. Every call appends its argv (and pid) to
``$FAKE_RUNTIME_DIR/calls.jsonl``; behaviour comes from
``$FAKE_RUNTIME_DIR/state.json`` (VMs and their status, tools that hang or fail).

Formats copied from the tools' source:

- colima (abiosoft/colima app/app.go, config/dirs.go, limautil/instance.go,
  cmd/root/root.go, cmd/ssh.go): ``status --json`` prints one ``statusInfo``
  object, encoded as Go's json.Encoder does (compact, fields in struct order:
  display_name, driver, arch, runtime, mount_type, ip_address, docker_socket
  unix://..., containerd_socket, buildkitd_socket, incus_socket, kubernetes,
  cpu, memory, disk; the sockets and ip_address omitted when empty) or fails
  with "<name> is not running"; the sockets live in the profile's directory
  under colima's home, which is ``$COLIMA_HOME`` only when that directory
  exists, else ``~/.colima`` when it exists, else ``$XDG_CONFIG_HOME/colima``,
  else the user config directory's ``colima`` (config/dirs.go): so the socket
  colima reports moves when those directories come and go, and the old socket
  file stays where it was. ``list --json`` prints one ``InstanceInfo`` per
  line (name, status, arch, cpus, memory, disk, dir, address, runtime);
  ``ssh`` on a stopped VM fails with "<name> not running" (app.SSH); errors go
  to stderr through logrus.Fatal (``level=fatal msg=...``, exit 1).
  ``ssh -- ARGS`` reaches ``limactl shell``, which quotes each word.
- limactl (lima-vm/lima cmd/limactl/list.go, shell.go, store.Instance):
  ``list --json`` prints one object per line (name, hostname, status,
  dir, vmType, arch, cpus, memory, disk, network, sshLocalPort,
  hostAgentPID ...); ``shell INSTANCE ARGS`` quotes each word
  (shellescape.Quote) and runs ``$SHELL --login -c QUOTED``.

The "VM" is this machine: a guest command really runs here with ``sh -c``,
so quoting is tested for real; only guest-only files (``/proc/uptime``,
``ip addr``) come from ``state.json``'s ``guest`` table.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

DIR = Path(os.environ["FAKE_RUNTIME_DIR"])
STATE = DIR / "state.json"


def load() -> dict[str, Any]:
    return json.loads(STATE.read_text()) if STATE.exists() else {}


def save(state: dict[str, Any]) -> None:
    tmp = STATE.with_suffix(".tmp")
    tmp.write_text(json.dumps(state))
    tmp.replace(STATE)


def record(argv: list[str]) -> None:
    with (DIR / "calls.jsonl").open("a") as f:
        f.write(json.dumps({"argv": argv, "pid": os.getpid()}) + "\n")


def fatal(message: str, code: int = 1) -> None:
    """logrus.Fatal's text format when stderr is not a terminal."""
    sys.stderr.write(f'time="2024-05-01T10:00:00Z" level=fatal msg="{message}"\n')
    sys.exit(code)


def behave(state: dict[str, Any], tool: str, verb: str) -> None:
    """Hang or fail as state.json says, for ``tool verb`` or every verb (``*``)."""
    for key in (f"{tool} {verb}", f"{tool} *"):
        if key in state.get("hang", []):
            time.sleep(3600)
        if key in state.get("fail", {}):
            fatal(state["fail"][key])


def run_in_guest(state: dict[str, Any], command: str) -> int:
    """The guest's login shell running ``command`` (a string it splits itself)."""
    canned = state.get("guest", {})
    try:
        words = shlex.split(command)
    except ValueError:
        words = []
    if words[:2] == ["sh", "-c"] and len(words) == 3 and words[2] in canned:
        sys.stdout.write(canned[words[2]])  # guest-only files and tools
        return 0
    return subprocess.run(["sh", "-c", command], check=False).returncode


def vm(state: dict[str, Any], name: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = state.get("vms", {}).get(name)
    return found


def colima_home() -> Path:
    """colima's home (config/dirs.go configBaseDir), as on Linux."""
    explicit = os.environ.get("COLIMA_HOME", "")
    if explicit and Path(explicit).exists():
        return Path(explicit)
    home = Path(os.environ["HOME"])
    if (home / ".colima").exists():
        return home / ".colima"
    xdg = os.environ.get("XDG_CONFIG_HOME")
    return Path(xdg or home / ".config") / "colima"


def status_info(machine: dict[str, Any], display: str, config_dir: Path) -> dict[str, Any]:
    """app.go's statusInfo, in its field order; ``omitempty`` fields only when set."""
    runtime = machine.get("runtime", "docker")
    sockets = {
        "docker": {"docker_socket": "docker.sock", "containerd_socket": "containerd.sock"},
        "containerd": {
            "containerd_socket": "containerd.sock",
            "buildkitd_socket": "buildkitd.sock",
        },
        "incus": {"incus_socket": "incus.sock"},
    }.get(runtime, {})
    info: dict[str, Any] = {
        "display_name": display,
        "driver": "QEMU",
        "arch": "aarch64",
        "runtime": runtime,
        "mount_type": "sshfs",
    }
    if machine.get("address"):
        info["ip_address"] = machine["address"]
    for field in ("docker_socket", "containerd_socket", "buildkitd_socket", "incus_socket"):
        if field in sockets:
            info[field] = f"unix://{config_dir / sockets[field]}"
    info.update(kubernetes=False, cpu=2, memory=2147483648, disk=64424509440)
    return info


def colima(args: list[str], state: dict[str, Any]) -> int:
    profile, rest, words = "default", [], []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            words = args[i + 1 :]
            break
        if arg in ("-p", "--profile"):
            profile = args[i + 1]
            i += 2
            continue
        if arg.startswith("--profile="):
            profile = arg.split("=", 1)[1]
        else:
            rest.append(arg)
        i += 1
    verb = rest[0] if rest else ""
    behave(state, "colima", verb)
    display = "colima" if profile == "default" else f"colima [profile={profile}]"
    machine = vm(state, profile)
    home = colima_home()
    if verb == "status":
        if machine is None or machine.get("status") != "Running":
            fatal(f"{display} is not running")
        assert "--json" in rest
        print(json.dumps(status_info(machine, display, home / profile), separators=(",", ":")))
        return 0
    if verb in ("list", "ls"):
        assert "--json" in rest
        for name, m in state.get("vms", {}).items():
            entry = {
                "name": name,
                "status": m.get("status", "Stopped"),
                "arch": "aarch64",
                "cpus": 2,
                "memory": 2147483648,
                "disk": 64424509440,
                "dir": str(Path(os.environ.get("LIMA_HOME") or home / "_lima") / f"colima-{name}"),
            }
            if m.get("status") == "Running":
                if m.get("address"):
                    entry["address"] = m["address"]
                entry["runtime"] = m.get("runtime", "docker")
            print(json.dumps(entry, separators=(",", ":")))
        return 0
    if verb in ("ssh", "exec", "x"):
        if machine is None or machine.get("status") != "Running":
            fatal(f"{display} not running")
        # colima -> limactl shell: each word quoted, the guest shell runs the joined line.
        return run_in_guest(state, " ".join(shlex.quote(w) for w in words))
    if verb == "stop":
        if machine is not None:
            machine["status"] = "Stopped"
            save(state)
        return 0
    if verb == "start":
        if machine is None:
            machine = state.setdefault("vms", {}).setdefault(profile, {})
        machine["status"] = "Running"
        state.setdefault("guest", {})["cat /proc/uptime"] = "3.02 1.50\n"
        save(state)
        return 0
    fatal(f'unknown command "{verb}" for "colima"')
    return 1


def limactl(args: list[str], state: dict[str, Any]) -> int:
    verb = args[0] if args else ""
    behave(state, "limactl", verb)
    lima_home = Path(os.environ.get("LIMA_HOME") or Path.home() / ".lima")
    if verb in ("list", "ls"):
        assert "--json" in args
        for name, m in state.get("vms", {}).items():
            entry: dict[str, Any] = {
                "name": name,
                "hostname": f"lima-{name}",
                "status": m.get("status", "Stopped"),
                "dir": str(lima_home / name),
                "vmType": "vz",
                "arch": "aarch64",
                "cpuType": "",
                "cpus": 4,
                "memory": 4294967296,
                "disk": 107374182400,
                "sshLocalPort": 60022,
                "protected": False,
                "limaVersion": "1.0.3",
            }
            if m.get("network"):
                entry["network"] = m["network"]
            if m.get("status") == "Running":
                entry["hostAgentPID"] = 4242
                entry["driverPID"] = 4242
            print(json.dumps(entry))
        return 0
    if verb == "shell":
        words = args[1:]
        if words and words[0].startswith("--"):
            words = words[1:]
        name, command = words[0], words[1:]
        if command[:1] == ["--"]:
            command = command[1:]
        machine = vm(state, name)
        if machine is None:
            fatal(f'instance \\"{name}\\" does not exist, run `limactl create {name}`')
        if machine is not None and machine.get("status") != "Running":
            fatal("EOF")  # the start prompt cannot be answered without a terminal
        # limactl quotes each word; the guest's "$SHELL --login -c" runs the joined line.
        return run_in_guest(state, " ".join(shlex.quote(w) for w in command))
    if verb == "stop":
        name = next(a for a in args[1:] if not a.startswith("-"))
        machine = vm(state, name)
        if machine is None:
            fatal(f'instance \\"{name}\\" does not exist')
        if machine is not None:
            machine["status"] = "Stopped"
        save(state)
        return 0
    if verb == "start":
        name = next(a for a in args[1:] if not a.startswith("-"))
        state.setdefault("vms", {}).setdefault(name, {})["status"] = "Running"
        save(state)
        return 0
    fatal(f'unknown command "{verb}" for "limactl"')
    return 1


def main() -> int:
    tool, args = sys.argv[1], sys.argv[2:]
    record([tool, *args])
    state = load()
    return {"colima": colima, "limactl": limactl}[tool](args, state)


if __name__ == "__main__":
    sys.exit(main())
