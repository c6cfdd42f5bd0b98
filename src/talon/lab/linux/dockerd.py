"""A real Docker engine for the lab and the tests: Debian's dockerd, alone in its namespaces.

Measured on Debian 12 (dockerd 20.10, containerd 1.6, runc 1.1, cgroup v1; see
../shared/LAB-NOTES.md):

- dockerd runs in its own pid + mount namespace, with a private /run:
  ``unshare --pid --fork --kill-child=SIGKILL --mount --propagation private
  --mount-proc docker-init -- sh -c "mount -t tmpfs tmpfs /run && exec dockerd ..."``
  in a new session, its data and socket in one short directory, its exec root
  (pid files, containerd's socket) on that private /run: a restarted engine gets a
  fresh pid namespace, where a pid file of the last boot names some other process
  ("containerd is still running", then a timeout), so they must not outlive it; no
  iptables, no bridge (containers run with ``--network host``), its cgroups under
  ``/<cgroup id>`` of every hierarchy. Ready (``GET /_ping`` -> ``OK``) in 0.2-0.8 s.
  Pid 1 is tini (docker-init, shipped with the engine): dockerd as pid 1 never
  reaps the shims it inherits, one zombie per removed container.
- Stop: SIGKILL to that pid 1, the child of ``unshare`` (which ignores SIGTERM); the
  kernel kills dockerd, containerd, the shims and every container, and the
  namespace's mounts go with it (0.03 s). Then the cgroup directories are removed
  bottom-up.
- No registry: the image is imported from a busybox-static rootfs sent as a tar
  stream (``POST /images/create?fromSrc=-``): 2 MB, 0.1 s.
- A unix socket path must stay under 108 bytes: the directory is ``/tmp/dkXXXXXXXX``.

``engine.json`` in the directory records the pid, its start time, the cgroup id and
the socket, so a later process (``talon lab down``) can stop the engine by its pid.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import os
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

CGROUP_ROOT = Path("/sys/fs/cgroup")
STATE = "engine.json"
TOOLS = ("dockerd", "containerd", "runc", "docker-init", "unshare")
SBIN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class DockerdError(Exception):
    """The engine could not be started, or answered an API call with an error."""


def missing(busybox: str = "busybox") -> str | None:
    """Why a real engine cannot run here, or None."""
    if os.geteuid() != 0:
        return "a real dockerd needs root (its own pid and mount namespace, cgroups)"
    for tool in (*TOOLS, busybox):
        if not _which(tool):
            return f"{tool} is not installed (scripts/setup.sh installs docker.io busybox-static)"
    if not _static(Path(_which(busybox) or "")):
        return f"{_which(busybox)} is not statically linked: install busybox-static"
    return None


def _which(tool: str) -> str | None:
    return shutil.which(tool, path=f"{SBIN_PATH}:{os.environ.get('PATH', '')}")


def _static(path: Path) -> bool:
    """A 64-bit ELF without an interpreter (PT_INTERP): it runs in an empty rootfs."""
    with path.open("rb") as f:
        head = f.read(64)
        if head[:5] != b"\x7fELF\x02":
            return False
        (phoff,) = struct.unpack_from("<Q", head, 32)
        size, count = struct.unpack_from("<HH", head, 54)
        f.seek(phoff)
        types = [struct.unpack("<I", f.read(size)[:4])[0] for _ in range(count)]
    return 3 not in types


def busybox_tar(busybox: str = "busybox") -> bytes:
    """A rootfs as a tar stream: bin/busybox, a symlink per applet, /tmp and /etc."""
    binary = Path(_which(busybox) or busybox)
    applets = subprocess.run(
        [str(binary), "--list"], capture_output=True, text=True, check=True, timeout=10
    ).stdout.split()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, mode in (("bin", 0o755), ("etc", 0o755), ("tmp", 0o1777)):
            entry = tarfile.TarInfo(name)
            entry.type, entry.mode = tarfile.DIRTYPE, mode
            tar.addfile(entry)
        tar.add(binary, "bin/busybox")
        for applet in sorted(set(applets) - {"busybox"}):
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
    return out.getvalue()


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


def _start_ticks(pid: int) -> int | None:
    """The process's start time (clock ticks since boot): tells it from a reused pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


class Dockerd:
    """One engine in ``root``: ``start()``, use its ``socket``, ``stop()`` (idempotent)."""

    def __init__(self, root: Path, cgroup: str) -> None:
        self.root = root
        self.cgroup = cgroup
        self.pid: int | None = None  # pid 1 of the engine's namespace: unshare's child
        self.start_ticks: int | None = None
        self._unshare: subprocess.Popen[bytes] | None = None

    @classmethod
    def create(cls, base: str = "/tmp") -> Dockerd:
        root = Path(tempfile.mkdtemp(prefix="dk", dir=base))
        return cls(root, f"talon-dk-{os.getpid()}-{os.urandom(3).hex()}")

    @classmethod
    def load(cls, root: Path) -> Dockerd:
        """The engine another process started in ``root`` (from its engine.json)."""
        state = json.loads((root / STATE).read_text())
        engine = cls(root, str(state["cgroup"]))
        engine.pid, engine.start_ticks = int(state["pid"]), state.get("start_ticks")
        return engine

    @property
    def socket(self) -> Path:
        return self.root / "d.sock"

    @property
    def host(self) -> str:
        """What DOCKER_HOST (or ``[runtime] socket``) says for this engine."""
        return f"unix://{self.socket}"

    def command(self) -> list[str]:
        r = self.root
        dockerd = [
            "dockerd", "--host", self.host, "--config-file", str(r / "daemon.json"),
            "--data-root", str(r / "data"), "--exec-root", "/run/docker",
            "--iptables=false", "--ip6tables=false", "--ip-forward=false", "--ip-masq=false",
            "--bridge=none", "--storage-driver=overlay2", f"--cgroup-parent=/{self.cgroup}",
            "--shutdown-timeout", "1",
        ]  # fmt: skip
        script = f"mount -t tmpfs tmpfs /run && exec {shlex.join(dockerd)}"
        return [
            "unshare", "--pid", "--fork", "--kill-child=SIGKILL", "--mount",
            "--propagation", "private", "--mount-proc", "docker-init", "--", "sh", "-c", script,
        ]  # fmt: skip

    def start(self, timeout: float = 30.0) -> Dockerd:
        """Start the engine; return once ``/_ping`` answers OK (or raise with its log)."""
        if reason := missing():
            raise DockerdError(reason)
        (self.root / "daemon.json").write_text("{}\n")  # never /etc/docker/daemon.json
        with (self.root / "dockerd.log").open("ab") as log:
            self._unshare = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, "PATH": SBIN_PATH},
            )
        try:
            self._wait_ready(self._unshare, time.monotonic() + timeout)
        except BaseException:
            self.stop(remove=False)
            raise
        return self

    def _wait_ready(self, unshare: subprocess.Popen[bytes], deadline: float) -> None:
        children = Path(f"/proc/{unshare.pid}/task/{unshare.pid}/children")
        while not self.ping():  # first the namespace's pid 1 (unshare's child), then an answer
            if unshare.poll() is not None or time.monotonic() > deadline:
                log = (self.root / "dockerd.log").read_text(errors="replace")[-3000:]
                raise DockerdError(f"dockerd did not come up (pid {self.pid}):\n{log}")
            if self.pid is None:
                with contextlib.suppress(OSError, ValueError, IndexError):
                    self.pid = int(children.read_text().split()[0])
                    self.start_ticks = _start_ticks(self.pid)
                    state = {"pid": self.pid, "start_ticks": self.start_ticks}
                    where = {"cgroup": self.cgroup, "socket": str(self.socket)}
                    (self.root / STATE).write_text(json.dumps(state | where) + "\n")
            time.sleep(0.01)
        if self.pid is None:
            raise DockerdError("unshare's child, the namespace's pid 1, was not found")

    def request(
        self, method: str, path: str, body: bytes | None = None, content_type: str = ""
    ) -> tuple[int, bytes]:
        """One Engine API call on the socket: (status, body)."""
        conn = _UnixConnection(str(self.socket), 30.0 if body is None else 120.0)
        try:
            headers = {"Content-Type": content_type} if content_type else {}
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def api(self, method: str, path: str, doc: Any = None) -> Any:
        """A JSON call; an answer of 400 or more raises DockerdError with the engine's message."""
        body = None if doc is None else json.dumps(doc).encode()
        status, raw = self.request(method, path, body, "application/json" if body else "")
        if status >= 400:
            raise DockerdError(f"{method} {path}: {status} {raw.decode(errors='replace')[:300]}")
        return json.loads(raw) if raw.strip() else None

    def ping(self) -> bool:
        try:
            return self.request("GET", "/_ping") == (200, b"OK")
        except OSError:
            return False

    def import_image(self, name: str = "tiny:1", busybox: str = "busybox") -> str:
        """Import a busybox rootfs as ``name`` (no registry); returns the image id."""
        repo, _, tag = name.partition(":")
        path = f"/images/create?fromSrc=-&repo={quote(repo)}&tag={quote(tag or 'latest')}"
        status, raw = self.request("POST", path, busybox_tar(busybox), "application/x-tar")
        said = [json.loads(line) for line in raw.splitlines() if line.strip()]
        errors = [d["error"] for d in said if "error" in d]
        if status != 200 or errors:
            raise DockerdError(f"importing {name}: {status} {errors or raw[:300]!r}")
        return str(said[-1].get("status", ""))

    def alive(self) -> bool:
        return self.pid is not None and _start_ticks(self.pid) == self.start_ticks

    def dockerd_pid(self) -> int | None:
        """dockerd's own pid (the child of pid 1): what freezing the engine stops."""
        if self.pid is None or not self.alive():
            return None
        with contextlib.suppress(OSError, ValueError):
            children = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()
            # By name: pid 1 may have adopted others (containerd, a shim) listed before it.
            for child in children:
                with contextlib.suppress(OSError):
                    if Path(f"/proc/{child}/comm").read_text().strip() == "dockerd":
                        return int(child)
        return None

    def stop(self, remove: bool = True, timeout: float = 10.0) -> None:
        """SIGKILL pid 1 of the engine's namespace (everything in it dies), remove its
        cgroups bottom-up, and with ``remove`` its directory. Safe to call again."""
        if self.alive():
            assert self.pid is not None
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
        elif self._unshare is not None and self._unshare.poll() is None:
            self._unshare.kill()  # its child, if any, gets SIGKILL too (--kill-child)
        if self._unshare is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._unshare.wait(timeout)
        deadline = time.monotonic() + timeout
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        self._remove_cgroups(deadline)
        if remove:
            shutil.rmtree(self.root, ignore_errors=True)

    def leftover_cgroups(self) -> list[Path]:
        return sorted(CGROUP_ROOT.glob(f"*/{self.cgroup}"))

    def _remove_cgroups(self, deadline: float) -> None:
        """A cgroup directory goes once its processes are gone: retry until the deadline."""
        for top in self.leftover_cgroups():
            for path in [*sorted(top.rglob("*"), key=lambda p: -len(p.parts)), top]:
                while path.is_dir():
                    try:
                        path.rmdir()
                    except OSError:
                        if time.monotonic() > deadline:
                            raise DockerdError(f"cgroup {path} is still busy") from None
                        time.sleep(0.01)
