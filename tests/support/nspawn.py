"""A real system-mode systemd for tests: booted by ``systemd-nspawn`` in a skeleton root.

Never on the machine's own filesystem: a system manager's boot runs
``systemd-tmpfiles --remove --boot`` (it would wipe the shared /tmp) and starts
every unit enabled in /etc. Here it boots a throw-away root (LAB-NOTES, "Real
platforms"): a few directories, /usr bound read-only from the host, the units
the tests do not need masked (the tmpfiles services too, so nothing under the
container's /tmp is ever cleaned), plus read-only binds of this interpreter, its
venv and the repository so that an ``ExecStart=`` can run Talon, and one writable
directory bound at the same path inside and out.

``systemctl`` reaches it through a wrapper script first on ``env["PATH"]``:
``nsenter --target LEADER --mount --pid -- /usr/bin/systemctl "$@"``; with
``--user`` the wrapper runs the host's own ``systemctl`` instead (a user manager
on the host, e.g. tests/support/systemd.py's, stays reachable: one environment,
both scopes). A unit's MainPID is a pid of the container's namespace;
``host_pid`` translates.

Stopped by pid: SIGKILL the leader (the container's PID 1; the kernel kills the
rest of its pid namespace), reap ``systemd-nspawn``, kill and remove the cgroups
it was started in, remove what it leaves in /run/systemd/nspawn.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

import psutil

from talon.adapters.command import exec_env
from talon.lab.linux.usermanager import cgroup_roots, remove_cgroup
from tests.support.procs import ROOT as REPO

T = TypeVar("T")
NSPAWN_RUN = Path("/run/systemd/nspawn")
MASKED = (
    "systemd-tmpfiles-setup.service",
    "systemd-tmpfiles-setup-dev.service",
    "systemd-tmpfiles-clean.timer",
    "tmp.mount",
    "dbus.service",
    "dbus.socket",
    "systemd-logind.service",
    "console-getty.service",
    "getty.target",
    "systemd-journald.service",
    "systemd-journald.socket",
    "systemd-journald-dev-log.socket",
    "systemd-journald-audit.socket",
    "systemd-journal-flush.service",
    "systemd-update-utmp.service",
    "systemd-update-utmp-runlevel.service",
)
DIRS = ("etc/systemd/system", "var", "run", "root", "proc", "sys", "dev", "usr", "home", "srv")


@contextlib.contextmanager
def _nspawn_run_lock() -> Iterator[None]:
    """Two test workers must not remove /run/systemd/nspawn while the other's nspawn
    creates it: both hold an flock on /run/systemd (a directory: nothing left behind)."""
    fd = os.open("/run/systemd", os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _skeleton(root: Path) -> None:
    for name in DIRS:
        (root / name).mkdir(parents=True, exist_ok=True)
    (root / "tmp").mkdir(mode=0o1777, exist_ok=True)
    (root / "tmp").chmod(0o1777)
    for link in ("bin", "sbin", "lib", "lib64"):
        if (Path("/usr") / link).exists():
            (root / link).symlink_to(f"usr/{link}")
    shutil.copy(Path("/usr/lib/os-release"), root / "etc" / "os-release")
    (root / "etc" / "machine-id").write_text("")
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "etc" / "group").write_text("root:x:0:\n")
    units = root / "etc" / "systemd" / "system"
    for unit in MASKED:
        (units / unit).symlink_to("/dev/null")


def _binds_for_python() -> list[Path]:
    """What ``sys.executable -m talon`` needs inside: the interpreter, the venv, the repo."""
    wanted = [Path(sys.base_prefix), Path(sys.prefix), REPO]
    out: list[Path] = []
    for path in wanted:
        path = path.resolve()
        if path.is_relative_to("/usr") or any(path.is_relative_to(p) for p in out):
            continue
        out = [p for p in out if not p.is_relative_to(path)] + [path]
    return out


class NspawnSystem:
    """``with NspawnSystem(name) as system:``; ``system.env`` finds its ``systemctl``."""

    def __init__(self, name: str, *, writable: Sequence[Path] = ()) -> None:
        self.name = name
        self.dir = Path(tempfile.mkdtemp(prefix="tns-", dir="/tmp"))
        self.root = self.dir / "root"
        self.bin = self.dir / "bin"
        self.cgroup_id = f"{name}-{secrets.token_hex(3)}"
        self.writable = [p.absolute() for p in writable]
        self.leader: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self.env = exec_env([str(self.bin)])
        self.env.pop("XDG_RUNTIME_DIR", None)

    @property
    def unit_dir(self) -> Path:
        """/etc/systemd/system of the container, as the host sees it."""
        return self.root / "etc" / "systemd" / "system"

    def _cgroups(self) -> list[Path]:
        return [r / self.cgroup_id for r in cgroup_roots()]

    def start(self, timeout: float = 20.0) -> NspawnSystem:
        self.root.mkdir(parents=True)
        _skeleton(self.root)
        self.bin.mkdir()
        for cgroup in self._cgroups():
            cgroup.mkdir()
        argv = ["systemd-nspawn", "-D", str(self.root), "--bind-ro=/usr"]
        argv += [f"--bind-ro={p}" for p in _binds_for_python()]
        argv += [f"--bind={p}" for p in self.writable]
        argv += ["--register=no", "--keep-unit", "--link-journal=no", "--console=read-only"]
        argv += ["-M", self.name, "-b"]
        # nspawn makes its payload and supervisor cgroups under its own: join ours first.
        env = {
            **os.environ,
            "SYSTEMD_NSPAWN_UNIFIED_HIERARCHY": "1",
            "CGROUP_PROCS": " ".join(str(c / "cgroup.procs") for c in self._cgroups()),
        }
        script = 'for f in $CGROUP_PROCS; do echo $$ > "$f"; done; exec "$@"'
        deadline = time.monotonic() + timeout
        try:
            with _nspawn_run_lock(), open(self.dir / "nspawn.log", "ab") as log:
                self._proc = subprocess.Popen(
                    ["sh", "-c", script, "sh", *argv],
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
                self.leader = self._wait(self._find_leader, deadline, "the container's systemd")
            wrapper = self.bin / "systemctl"
            wrapper.write_text(
                "#!/bin/sh\n"
                "# --user: the host's own user managers; else the container's system manager.\n"
                'for a in "$@"; do [ "$a" = --user ] && exec /usr/bin/systemctl "$@"; done\n'
                f"exec nsenter --target {self.leader} --mount --pid -- /usr/bin/systemctl "
                '"$@"\n'
            )
            wrapper.chmod(0o755)
            self._wait(self._running, deadline, "SystemState=running")
        except BaseException:
            self.stop()
            raise
        return self

    def _wait(self, found: Callable[[], T | None], deadline: float, what: str) -> T:
        while (value := found()) is None:
            if self._proc is not None and self._proc.poll() is not None:
                raise RuntimeError(f"systemd-nspawn exited before {what}: {self.log()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"no {what} in time: {self.log()}")
            time.sleep(0.02)
        return value

    def _find_leader(self) -> int | None:
        assert self._proc is not None
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(self._proc.pid).children():
                if child.name() == "systemd":
                    return child.pid
        return None

    def _running(self) -> bool | None:
        said = self.systemctl("show", "-p", "SystemState", "--value")
        return True if said.stdout.strip() == "running" else None

    def log(self) -> str:
        return (self.dir / "nspawn.log").read_text(errors="replace")[-2000:]

    def systemctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The real systemctl in the container, for the tests' own checks."""
        return subprocess.run(
            [str(self.bin / "systemctl"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=30,
        )

    def host_pid(self, pid: int) -> int:
        """The host's pid of the container's ``pid`` (the last NSpid of /proc/N/status)."""
        assert self.leader is not None
        leader_ns = os.readlink(f"/proc/{self.leader}/ns/pid")
        for proc in psutil.process_iter():
            with contextlib.suppress(OSError, psutil.Error):
                if os.readlink(f"/proc/{proc.pid}/ns/pid") != leader_ns:
                    continue
                status = Path(f"/proc/{proc.pid}/status").read_text()
                line = next(x for x in status.splitlines() if x.startswith("NSpid:"))
                if int(line.split()[-1]) == pid:
                    return proc.pid
        raise LookupError(f"no process {pid} in {self.name}")

    def stop(self) -> None:
        """SIGKILL the leader, reap nspawn, kill and remove the cgroups, clean /run."""
        if self.leader is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.leader, signal.SIGKILL)
            self.leader = None
        if self._proc is not None:
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self._proc.pid, signal.SIGKILL)
                self._proc.wait()
        for cgroup in self._cgroups():
            kill = cgroup / "cgroup.kill"
            if kill.exists():
                kill.write_text("1")
        deadline = time.monotonic() + 10
        for cgroup in self._cgroups():
            while cgroup.exists() and not remove_cgroup(cgroup):
                assert time.monotonic() < deadline, f"{cgroup} stays busy"
                time.sleep(0.02)
        with _nspawn_run_lock():
            shutil.rmtree(NSPAWN_RUN / "propagate" / self.name, ignore_errors=True)
            with contextlib.suppress(OSError):
                root = os.stat(self.root)
                (NSPAWN_RUN / "locks" / f"inode-{root.st_dev}:{root.st_ino}").unlink()
            for path in (NSPAWN_RUN / "propagate", NSPAWN_RUN / "locks", NSPAWN_RUN):
                with contextlib.suppress(OSError):
                    path.rmdir()  # only once empty: another worker's container may be up
        mounted = [
            m for m in Path("/proc/mounts").read_text().split() if m.startswith(str(self.dir))
        ]
        assert not mounted, f"still mounted, not removed: {mounted}"  # never rm through a bind
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> NspawnSystem:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
