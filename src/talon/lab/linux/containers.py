"""The linux profile's services as containers of the lab's real engine, via the Engine API.

No registry: the image ``lab-host:1`` is a rootfs of symlinks (``bin``, ``lib``,
``lib64`` into ``usr``) and every container binds the host's ``/usr``
read-only, so the host's redis-server, busybox and Python run inside
unchanged (``sbin`` is a real directory: the engine mounts its init there).
The Python stand-ins also bind their interpreter, virtualenv and source
read-only at the same paths. Every container runs with ``--init`` and
``--network host`` (its port is on 127.0.0.1), a tmpfs ``/tmp`` (fresh at
each start, like a process's memory), and a HEALTHCHECK that fails while
``/tmp/wedged`` exists: ``wedge`` makes a running service unhealthy in a way
that only a restart of its container clears.
"""

from __future__ import annotations

import io
import shutil
import sys
import tarfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import talon
from talon.lab.linux.dockerd import Dockerd, DockerdError

IMAGE = "lab-host:1"
NAMES = ("redis", "inngest", "typesense")
BODIES = {"inngest": '{"status":"ok"}', "typesense": '{"ok":true}'}
WEDGE = "/tmp/wedged"
SECOND_NS = 1_000_000_000


def host_rootfs() -> bytes:
    """The image: links into the host's /usr (bound at run time), a few empty dirs."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, mode in (("usr", 0o755), ("sbin", 0o755), ("etc", 0o755), ("data", 0o755)):
            entry = tarfile.TarInfo(name)
            entry.type, entry.mode = tarfile.DIRTYPE, mode
            tar.addfile(entry)
        for name in ("bin", "lib", "lib64"):
            link = tarfile.TarInfo(name)
            link.type, link.linkname = tarfile.SYMTYPE, f"usr/{name}"
            tar.addfile(link)
        for name in ("passwd", "group"):
            tar.add(f"/etc/{name}", f"etc/{name}")
    return out.getvalue()


def import_images(engine: Dockerd) -> None:
    repo, _, tag = IMAGE.partition(":")
    path = f"/images/create?fromSrc=-&repo={quote(repo)}&tag={quote(tag)}"
    status, raw = engine.request("POST", path, host_rootfs(), "application/x-tar")
    if status != 200 or b'"error"' in raw:
        raise DockerdError(f"importing {IMAGE}: {status} {raw[:300]!r}")


def _busybox() -> str:
    found = shutil.which("busybox")
    if not found or not Path(found).resolve().is_relative_to("/usr"):
        raise DockerdError(
            "the lab's health checks need busybox under /usr: install busybox-static"
        )
    return str(Path(found).resolve())


def _python_binds() -> list[str]:
    """The interpreter, the virtualenv and Talon's source, read-only where they are."""
    roots = {Path(sys.base_prefix), Path(sys.prefix), Path(talon.__file__).resolve().parents[1]}
    outside = sorted(str(r) for r in roots if not r.resolve().is_relative_to("/usr"))
    # a root inside another is covered by it
    return [
        f"{r}:{r}:ro" for r in outside if not any(r != o and r.startswith(o + "/") for o in outside)
    ]


def spec(name: str, port: int, redis_dir: Path) -> dict[str, Any]:
    """The create body of one service's container."""
    binds = ["/usr:/usr:ro"]
    if name == "redis":
        cmd = ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--dir", "/data"]
        cmd += ["--appendonly", "yes", "--save", "", "--daemonize", "no"]
        binds.append(f"{redis_dir}:/data")
        check = f"redis-cli -p {port} ping | grep -q PONG"
    else:
        cmd = [sys.executable, "-m", "talon.lab.apps", "health"]
        cmd += ["--bind", f"127.0.0.1:{port}", "--body", BODIES[name]]
        binds += _python_binds()
        check = f"{_busybox()} wget -q -O /dev/null http://127.0.0.1:{port}/health"
    return {
        "Image": IMAGE,
        "Cmd": cmd,
        "Env": ["PYTHONDONTWRITEBYTECODE=1"],
        "Healthcheck": {
            "Test": ["CMD-SHELL", f"test ! -e {WEDGE} && {check}"],
            "Interval": SECOND_NS // 2,
            "Timeout": 2 * SECOND_NS,
            "Retries": 2,
        },
        "HostConfig": {
            "NetworkMode": "host",
            "Init": True,
            "Binds": binds,
            "Tmpfs": {"/tmp": ""},
            # As a service on a Docker box: back after an engine restart, not after a stop.
            "RestartPolicy": {"Name": "unless-stopped"},
        },
    }


def start(engine: Dockerd, name: str, port: int, redis_dir: Path) -> None:
    redis_dir.mkdir(parents=True, exist_ok=True)
    engine.api("POST", f"/containers/create?name=lab-{name}", spec(name, port, redis_dir))
    engine.api("POST", f"/containers/lab-{name}/start")


def start_all(engine: Dockerd, ports: Mapping[str, int], redis_dir: Path) -> None:
    for name in NAMES:
        start(engine, name, ports[name], redis_dir)


def _exec(engine: Dockerd, name: str, *cmd: str) -> None:
    """Run ``cmd`` inside the service's container (detached: it is done in a moment)."""
    made = engine.api("POST", f"/containers/lab-{name}/exec", {"Cmd": list(cmd)})
    engine.api("POST", f"/exec/{made['Id']}/start", {"Detach": True})


def wedge(engine: Dockerd, name: str) -> None:
    """The service keeps running but fails its health check until its container restarts."""
    _exec(engine, name, "touch", WEDGE)


def unwedge(engine: Dockerd, name: str) -> None:
    _exec(engine, name, "rm", "-f", WEDGE)


def inspect(engine: Dockerd, name: str) -> dict[str, Any]:
    doc: dict[str, Any] = engine.api("GET", f"/containers/lab-{name}/json")
    return doc


def states(engine: Dockerd) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name in NAMES:
        try:
            state = inspect(engine, name)["State"]
        except DockerdError as exc:
            out[name] = {"error": str(exc)}
            continue
        health = (state.get("Health") or {}).get("Status")
        out[name] = {"status": state["Status"], "pid": state["Pid"], "health": health}
    return out
