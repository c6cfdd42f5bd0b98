"""A real supervisord for tests: its own config, socket and programs, stopped by pid.

The adapter is tested against the program it talks to, not a fake of it. This
helper speaks XML-RPC with the stdlib only (never through the adapter under
test), so a broken adapter cannot hide a broken fixture.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import xmlrpc.client
from pathlib import Path
from types import TracebackType
from typing import Any

import psutil

SUPERVISORD = Path(sys.executable).with_name("supervisord")
PROGRAM_DEFAULTS = {
    "autostart": "true",
    "autorestart": "true",
    "startsecs": "1",
    "startretries": "3",
    "stopasgroup": "true",
    "killasgroup": "true",
    "stopwaitsecs": "5",
}


class RealSupervisord:
    """``with RealSupervisord(tmp, {"name": "command"}) as sv:``; ``sv.url`` is its socket."""

    def __init__(
        self,
        tmp: Path,
        programs: dict[str, str] | None = None,
        http_port: int | None = None,
        *,
        http_auth: tuple[str, str] | None = None,
    ) -> None:
        self.tmp = tmp
        self.conf_dir = tmp / "conf.d"
        self.conf = tmp / "supervisord.conf"
        self.log = tmp / "supervisord.log"
        self._sock_dir = Path(tempfile.mkdtemp(prefix="tsv-", dir="/tmp"))  # fits sun_path
        self.socket = self._sock_dir / "s.sock"
        self.url = f"unix://{self.socket}"
        self.http_url = f"http://127.0.0.1:{http_port}" if http_port else ""
        self._http_port, self._http_auth = http_port, http_auth
        self._programs = dict(programs or {})
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self._proc is not None, "supervisord is not started"
        return self._proc.pid

    def __enter__(self) -> RealSupervisord:
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        (self.tmp / "childlogs").mkdir(exist_ok=True)
        for name, command in self._programs.items():
            self.write_program(name, command)
        self.conf.write_text(self._config())
        assert SUPERVISORD.exists(), f"{SUPERVISORD} is missing: pip install supervisor"
        with (self.tmp / "supervisord.stderr").open("wb") as output:
            self._proc = subprocess.Popen(
                [str(SUPERVISORD), "-c", str(self.conf)], stdout=output, stderr=output
            )
        try:
            self._wait_ready()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self, exc: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _config(self) -> str:
        inet = ""
        if self._http_port:
            inet = f"[inet_http_server]\nport = 127.0.0.1:{self._http_port}\n"
            if self._http_auth:
                inet += f"username = {self._http_auth[0]}\npassword = {self._http_auth[1]}\n"
        return (
            f"[unix_http_server]\nfile = {self.socket}\nchmod = 0700\n\n{inet}\n"
            f"[supervisord]\nnodaemon = true\nsilent = true\npidfile = {self.tmp}/supervisord.pid\n"
            f"logfile = {self.log}\nchildlogdir = {self.tmp}/childlogs\nloglevel = debug\n\n"
            "[rpcinterface:supervisor]\n"
            "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n"
            f"[include]\nfiles = {self.conf_dir}/*.conf\n"
        )

    def call(self, method: str, *params: Any, timeout: float = 10.0) -> Any:
        """One XML-RPC call on the unix socket (``sv.call("supervisor.getState")``).

        HTTP/1.0 on a plain socket: supervisord closes after its answer, so every
        call opens and closes its own connection. A fault raises xmlrpc.client.Fault.
        """
        body = xmlrpc.client.dumps(params, method).encode()
        head = (
            "POST /RPC2 HTTP/1.0\r\nHost: localhost\r\nContent-Type: text/xml\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(self.socket))
            sock.sendall(head.encode() + body)
            answer = b"".join(iter(lambda: sock.recv(65536), b""))
        status, _, rest = answer.partition(b"\r\n")
        if b" 200 " not in status:
            raise OSError(f"supervisord answered {status!r}")
        return xmlrpc.client.loads(rest.partition(b"\r\n\r\n")[2], use_builtin_types=True)[0][0]

    def _wait_ready(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise RuntimeError(f"supervisord exited: {self._tail()}")
            with contextlib.suppress(OSError, xmlrpc.client.Error):
                if self.call("supervisor.getState", timeout=1.0)["statename"] == "RUNNING":
                    return
            time.sleep(0.05)
        raise RuntimeError(f"supervisord did not answer on {self.socket}: {self._tail()}")

    def _tail(self) -> str:
        files = (self.tmp / "supervisord.stderr", self.log)
        said = [p.read_text()[-2000:] for p in files if p.exists()]
        return "\n".join(text for text in said if text) or "(no output, no log)"

    def write_program(self, name: str, command: str, **options: str) -> Path:
        """Write ``[program:name]`` to the include dir; ``options`` override the defaults."""
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        (self.tmp / "childlogs").mkdir(exist_ok=True)
        keys = {"command": command, **PROGRAM_DEFAULTS, **options}
        keys.setdefault("stdout_logfile", str(self.tmp / "childlogs" / f"{name}.out"))
        keys.setdefault("stderr_logfile", str(self.tmp / "childlogs" / f"{name}.err"))
        text = f"[program:{name}]\n" + "".join(f"{k} = {v}\n" for k, v in keys.items())
        path = self.conf_dir / f"{name}.conf"
        path.write_text(text)
        return path

    def add_program(self, name: str, command: str, **options: str) -> None:
        """Write a program and load it into the running supervisord (as `supervisorctl update`)."""
        self.write_program(name, command, **options)
        self.call("supervisor.reloadConfig")
        self.call("supervisor.addProcessGroup", name)

    def add_group(self, group: str, programs: dict[str, str]) -> None:
        """Programs in a ``[group:NAME]`` (labels ``group:name``); loaded now if running."""
        for name, command in programs.items():
            self.write_program(name, command)
        (self.conf_dir / f"group-{group}.conf").write_text(
            f"[group:{group}]\nprograms = {','.join(programs)}\n"
        )
        if self._proc is not None:
            self.call("supervisor.reloadConfig")
            self.call("supervisor.addProcessGroup", group)

    def remove_program(self, group: str) -> None:
        """Stop and unload a group (a program is its own group) and delete its files."""
        with contextlib.suppress(xmlrpc.client.Fault):
            self.call("supervisor.stopProcessGroup", group)
        with contextlib.suppress(xmlrpc.client.Fault):
            self.call("supervisor.removeProcessGroup", group)
        group_file = self.conf_dir / f"group-{group}.conf"
        members = [group]
        if group_file.exists():
            text = group_file.read_text()
            members = text.split("programs =", 1)[1].strip().split(",")
            group_file.unlink()
        for name in members:
            (self.conf_dir / f"{name}.conf").unlink(missing_ok=True)
        self.call("supervisor.reloadConfig")

    def info(self, label: str) -> dict[str, Any]:
        return dict(self.call("supervisor.getProcessInfo", label))

    def wait_state(self, label: str, *states: str, timeout: float = 15.0) -> dict[str, Any]:
        """Poll until the program's statename is one of ``states``; its info."""
        deadline = time.monotonic() + timeout
        info = self.info(label)
        while info["statename"] not in states:
            if time.monotonic() > deadline:
                raise AssertionError(f"{label} stayed {info['statename']}, wanted {states}")
            time.sleep(0.05)
            info = self.info(label)
        return info

    def close(self) -> None:
        """Stop supervisord by pid (SIGTERM, then SIGKILL), then any child still alive by pid."""
        proc, self._proc = self._proc, None
        try:
            if proc is not None:
                _stop_tree(proc)
        finally:
            shutil.rmtree(self._sock_dir, ignore_errors=True)


def _stop_tree(proc: subprocess.Popen[bytes]) -> None:
    try:
        children = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)  # supervisord stops its programs on SIGTERM
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    _gone, alive = psutil.wait_procs(children, timeout=5)
    for child in alive:  # psutil checks the create time: never a recycled pid
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()
    psutil.wait_procs(alive, timeout=5)


def leftovers(pids: list[int]) -> list[int]:
    """The pids of ``pids`` still running (not zombies)."""
    alive = []
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
    return alive
