"""The lab's stand-in for colima, the VM tool of its default profile (named after it).

The lab writes ``<lab>/bin/colima`` (``python -m talon.lab.vmtool --lab DIR``),
and Talon's product ``ColimaRuntime`` drives the lab's VM through it exactly as
it drives colima on a Mac: the lab exercises the adapter's own code. It
answers what the adapter asks, in colima's own formats (abiosoft/colima
app/app.go ``statusInfo``, limautil/instance.go ``InstanceInfo``, cmd/*.go;
errors through logrus.Fatal: ``level=fatal msg=...``, exit 1), and nothing
colima cannot do:

- ``status [--json]``: one ``statusInfo`` object, encoded as Go's json.Encoder
  does (compact, struct order, ``omitempty`` fields only when set), whose
  ``docker_socket`` is this boot's engine socket; "colima is not running"
  when the VM is down;
- ``list [--json]``: one ``InstanceInfo`` per line (``address`` and
  ``runtime`` only while it runs);
- ``ssh -- CMD...``: the words quoted one by one (as Lima's shell does) and
  run by ``sh -c`` through the VM's sshd, which must answer (else ssh's exit
  255); "colima not running" when the VM is down. The "VM" shares this
  machine, so a command runs here, in a time namespace whose boot is the VM's
  (``/proc/uptime`` says how long the VM is up) where the kernel allows one;
- ``stop [--force]``: the VM and its host agent (the forwards) stop;
- ``start``: the VM boots (a new engine socket) and its host agent starts;
  "already running" when it runs.

Only this module names the tool (and ``profiles.TOOL``, the profile named after
it). It imports only the standard library, so each call starts in a few tens of
milliseconds; ``stop`` and ``start`` load the lab.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from talon.lab import records
from talon.lab.profiles import TOOL

if TYPE_CHECKING:
    from talon.adapters.runtime.base import ContainerRuntime

PROFILE = "default"  # the tool's one profile in the lab
DISPLAY = "colima"  # how colima names its default profile in messages
# Read by ``start``: who boots the VM (vm/boot.json ``by``), and how long a boot takes.
BOOT_BY_VAR = "TALON_LAB_BOOT_BY"
BOOT_DELAY_VAR = "TALON_LAB_BOOT_DELAY_S"
MEMORY, DISK = 2 * 1024**3, 60 * 1024**3  # what the lab's VM claims to be given


def wrapper_path(lab_dir: Path) -> Path:
    return lab_dir / "bin" / TOOL


def install(lab_dir: Path) -> Path:
    """Write ``<lab>/bin/colima``: this interpreter running this module for ``lab_dir``."""
    path = wrapper_path(lab_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", __name__, "--lab", str(lab_dir)]
    path.write_text(
        "#!/bin/sh\n# Written by `talon lab up`: the lab's stand-in for colima.\n"
        f'exec {" ".join(shlex.quote(a) for a in argv)} "$@"\n'
    )
    path.chmod(0o755)
    return path


def product_runtime(
    lab_dir: Path, *, env: Mapping[str, str], timeout_s: float, boot_delay_s: float
) -> ContainerRuntime:
    """Talon's own colima adapter, pointed at this lab's stand-in (by its path)."""
    from talon.adapters.runtime.colima import ColimaRuntime

    tool_env = {
        **env,
        # colima's home, so the adapter's own guess never looks at a real one
        "COLIMA_HOME": str(lab_dir / "vm"),
        BOOT_BY_VAR: "talon",
        BOOT_DELAY_VAR: str(boot_delay_s),
    }
    return ColimaRuntime(
        tool_env, profile=PROFILE, timeout_s=timeout_s, colima=str(wrapper_path(lab_dir))
    )


def boottime() -> float | None:
    """The host's CLOCK_BOOTTIME now (Linux); None where there is none. The lab keeps it
    at each boot, so the VM's shell can count its uptime from that boot."""
    clock = getattr(time, "CLOCK_BOOTTIME", None)
    return None if clock is None else time.clock_gettime(clock)


def time_namespace() -> list[str]:
    """How the VM's shell gets a time namespace of its own (its uptime), as this user:
    ``unshare --time`` (root), else inside a user namespace; [] where neither works."""
    unshare = shutil.which("unshare")
    if unshare is None or boottime() is None:
        return []
    for prefix in ([unshare, "--time"], [unshare, "--user", "--map-root-user", "--time"]):
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            argv = [*prefix, "--boottime", "0", "true"]
            if subprocess.run(argv, capture_output=True, timeout=10, check=False).returncode == 0:
                return prefix
    return []


# The tool ---------------------------------------------------------------------------


def fatal(message: str, code: int = 1) -> NoReturn:
    """logrus.Fatal's text format when stderr is not a terminal."""
    _log("fatal", message)
    sys.exit(code)


def _log(level: str, message: str) -> None:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    sys.stderr.write(f'time="{stamp}" level={level} msg="{message}"\n')


def _go_json(value: Mapping[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"))


def _arch() -> str:
    machine = platform.machine().lower()
    return {"arm64": "aarch64", "amd64": "x86_64"}.get(machine, machine)


class View:
    """The lab's VM as the tool sees it: its records, read once per call."""

    def __init__(self, lab_dir: Path) -> None:
        self.dir = lab_dir
        self.meta = records.read(records.meta_path(lab_dir))
        self.boot = records.read(records.boot_path(lab_dir))
        if not self.meta:
            fatal(f"no lab at {lab_dir}: run `talon lab up` first")

    @property
    def running(self) -> bool:
        return bool(self.boot.get("running"))

    @property
    def address(self) -> str:
        return str(self.meta.get("vm_address", ""))

    def status_info(self) -> dict[str, Any]:
        """app.go's statusInfo, field for field and in its order."""
        info: dict[str, Any] = {
            "display_name": DISPLAY,
            "driver": "talon lab",
            "arch": _arch(),
            "runtime": "docker",
            "mount_type": "",  # the lab mounts nothing
        }
        if self.address and self.address != "127.0.0.1":
            info["ip_address"] = self.address
        if self.boot.get("engine_socket"):
            info["docker_socket"] = f"unix://{self.boot['engine_socket']}"
            run = Path(self.boot["engine_socket"]).parent
            info["containerd_socket"] = f"unix://{run / 'containerd.sock'}"  # none in the lab
        # colima's own k3s: the lab's cluster API is a stand-in of its own, not colima's
        info.update(kubernetes=False, cpu=os.cpu_count() or 1, memory=MEMORY, disk=DISK)
        return info

    def instance_info(self) -> dict[str, Any]:
        """limautil.InstanceInfo as ``colima list --json`` prints it (all omitempty)."""
        info: dict[str, Any] = {
            "name": PROFILE,
            "status": "Running" if self.running else "Stopped",
            "arch": _arch(),
            "cpus": os.cpu_count() or 1,
            "memory": MEMORY,
            "disk": DISK,
            "dir": str(self.dir / "vm"),
        }
        if self.running:
            if self.address and self.address != "127.0.0.1":
                info["address"] = self.address
            info["runtime"] = "docker"
        return info

    def sshd_answers(self) -> bool:
        port = int(self.meta.get("ports", {}).get("sshd", 0))
        with contextlib.suppress(OSError), socket.create_connection((self.address, port), 1.0):
            return True
        return False

    def guest_argv(self, line: str) -> list[str]:
        """``sh -c LINE`` in a time namespace whose boot is this VM boot's, if allowed."""
        prefix = list(self.meta.get("time_namespace") or [])
        booted = self.boot.get("booted_boottime")
        if prefix and isinstance(booted, int | float):
            prefix += ["--boottime", str(-int(booted))]
        else:
            prefix = []
        return [*prefix, "sh", "-c", line]


def _parse(args: list[str]) -> tuple[str, str, list[str], list[str]]:
    """colima's flags the way cobra reads them: (profile, verb, flags, words after --)."""
    profile, verb, flags, words = PROFILE, "", [], []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            words += args[i + 1 :]
            break
        if arg in ("-p", "--profile") and i + 1 < len(args):
            profile = args[i + 1]
            i += 2
            continue
        if arg.startswith("--profile="):
            profile = arg.split("=", 1)[1]
        elif arg.startswith("-"):
            flags.append(arg)
        elif not verb:
            verb = arg
        else:
            words.append(arg)
        i += 1
    return profile, verb, flags, words


# The flags each verb takes (cobra refuses any other); ``start`` takes many, all ignored here.
FLAGS = {
    "status": {"--json", "-j", "--extended", "-e"},
    "list": {"--json", "-j"},
    "ls": {"--json", "-j"},
    "stop": {"--force", "-f"},
    "ssh": {"--layer", "-l"},
}
GLOBAL_FLAGS = {"--verbose"}


def run(lab_dir: Path, args: list[str]) -> int:
    profile, verb, flags, words = _parse(args)
    allowed = FLAGS.get("ssh" if verb in ("exec", "x") else verb)
    for flag in flags:
        if allowed is not None and flag.split("=")[0] not in allowed | GLOBAL_FLAGS:
            fatal(
                f"unknown flag: {flag}"
                if flag.startswith("--")
                else f"unknown shorthand flag: '{flag[1:2]}' in {flag}"
            )
    if profile not in ("", "colima", PROFILE):
        display = f"colima [profile={profile.removeprefix('colima-')}]"
        if verb in ("status", "ssh", "exec", "x"):
            fatal(f"{display} {'is not' if verb == 'status' else 'not'} running")
        fatal(f"the lab has one VM, colima's default profile; {display} does not exist")
    as_json = "--json" in flags or "-j" in flags
    if verb == "status":
        view = View(lab_dir)
        if not view.running:
            fatal(f"{DISPLAY} is not running")
        info = view.status_info()
        if as_json:
            sys.stdout.write(_go_json(info) + "\n")
        else:
            _log("info", f"{DISPLAY} is running using {info['driver']}")
            _log("info", f"arch: {info['arch']}")
            _log("info", f"runtime: {info['runtime']}")
            if "docker_socket" in info:
                _log("info", f"docker socket: {info['docker_socket']}")
        return 0
    if verb in ("list", "ls"):
        info = View(lab_dir).instance_info()
        if as_json:
            sys.stdout.write(_go_json(info) + "\n")
        else:
            print("PROFILE    STATUS     ARCH      CPUS    MEMORY    DISK     ADDRESS")
            print(f"{info['name']}    {info['status']}    {info['arch']}    {info['cpus']}")
        return 0
    if verb in ("ssh", "exec", "x"):
        return _ssh(View(lab_dir), words)
    if verb == "stop":
        return _stop(lab_dir)
    if verb == "start":
        return _start(lab_dir)
    fatal(f'unknown command "{verb}" for "colima"')


def _ssh(view: View, words: list[str]) -> int:
    if not view.running:
        fatal(f"{DISPLAY} not running")  # app.SSH's own words (no "is")
    if not words:
        fatal("the lab's VM has no interactive shell: give a command after --")
    if not view.sshd_answers():  # Lima's shell reaches the guest through its sshd
        port = view.meta.get("ports", {}).get("sshd")
        sys.stderr.write(f"ssh: connect to host {view.address} port {port}: Connection refused\n")
        return 255
    line = " ".join(shlex.quote(w) for w in words)  # Lima's shell quotes each word
    (view.dir / "vm").mkdir(parents=True, exist_ok=True)
    return subprocess.run(view.guest_argv(line), cwd=view.dir / "vm", check=False).returncode


def _stop(lab_dir: Path) -> int:
    from talon.lab.substrate import Lab

    _log("info", f"stopping {DISPLAY}")
    Lab(lab_dir).power_off()
    _log("info", "done")
    return 0


def _start(lab_dir: Path) -> int:
    from talon.lab.substrate import Lab, LabError

    if View(lab_dir).running:
        _log("warning", "already running, ignoring")
        return 0
    _log("info", f"starting {DISPLAY}")
    by = os.environ.get(BOOT_BY_VAR) or TOOL
    try:
        delay = float(os.environ.get(BOOT_DELAY_VAR) or 1.0)
    except ValueError:
        delay = 1.0
    try:
        Lab(lab_dir).power_on(by=by, boot_delay_s=delay)
    except LabError as exc:
        fatal(f"error starting vm: {exc}")
    _log("info", "done")
    return 0


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] != ["--lab"] or len(args) < 2:
        sys.stderr.write("usage: python -m talon.lab.vmtool --lab DIR COLIMA-ARGS...\n")
        sys.exit(2)
    sys.exit(run(Path(args[1]), args[2:]))


if __name__ == "__main__":
    main()
