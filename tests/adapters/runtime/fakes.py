"""Test doubles for the runtime adapters: fake tools on PATH and a fake engine socket.

The tools are FAKES (see ``fakebin.py`` for the documented formats they copy).
The engine is a FAKE too: an aiohttp server on a unix socket in a temporary
directory, answering with the Engine API reference's documented shapes:
``GET /_ping`` -> ``OK`` (text/plain, ``Api-Version`` header),
``GET /containers/{id}/json`` -> ContainerInspectResponse or 404
``{"message": "No such container: ID"}``, ``GET /info`` -> SystemInfo.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.support.fake_tools import FakeToolDir

FAKEBIN = Path(__file__).with_name("fakebin.py")


class FakeTools(FakeToolDir):
    """Fake ``colima``/``limactl``/``ssh`` first on PATH, their state and call log in ``root``."""

    def __init__(self, root: Path, tools: tuple[str, ...] = ("colima", "limactl", "ssh")) -> None:
        super().__init__(root, FAKEBIN, tools)
        self.env["FAKE_RUNTIME_DIR"] = str(root)
        self.env["COLIMA_HOME"] = str(root / "colima-home")
        self.env["LIMA_HOME"] = str(root / "lima-home")

    def set_state(self, state: dict[str, Any]) -> None:
        (self.root / "state.json").write_text(json.dumps(state))


@contextmanager
def short_dir() -> Iterator[Path]:
    """A short temporary directory: a unix socket path must fit in 104-108 bytes."""
    path = Path(tempfile.mkdtemp(prefix="tln-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def inspect_doc(
    name: str,
    status: str = "running",
    *,
    exit_code: int = 0,
    health: str | None = None,
    oom: bool = False,
    restart_count: int = 0,
    health_output: str = "",
) -> dict[str, Any]:
    """A ContainerInspectResponse as the Engine API reference documents it (trimmed)."""
    running = status in ("running", "paused", "restarting")
    state: dict[str, Any] = {
        "Status": status,
        "Running": running,
        "Paused": status == "paused",
        "Restarting": status == "restarting",
        "OOMKilled": oom,
        "Dead": status == "dead",
        "Pid": 4321 if running else 0,
        "ExitCode": exit_code,
        "Error": "",
        "StartedAt": "2024-05-01T10:00:00.000000000Z",
        "FinishedAt": "0001-01-01T00:00:00Z" if running else "2024-05-01T11:00:00.000000000Z",
    }
    if health is not None:
        state["Health"] = {
            "Status": health,
            "FailingStreak": 3 if health == "unhealthy" else 0,
            "Log": [
                {
                    "Start": "2024-05-01T10:59:00.0Z",
                    "End": "2024-05-01T10:59:01.0Z",
                    "ExitCode": 1 if health == "unhealthy" else 0,
                    "Output": health_output,
                }
            ],
        }
    return {
        "Id": hashlib.sha256(name.encode()).hexdigest(),
        "Created": "2024-05-01T09:59:00.000000000Z",
        "Path": "/docker-entrypoint.sh",
        "Args": [],
        "State": state,
        "Image": "sha256:" + "ab" * 32,
        "Name": f"/{name}",
        "RestartCount": restart_count,
        "Driver": "overlay2",
        "Platform": "linux",
        "Mounts": [],
        "Config": {"Hostname": name[:12], "Image": "nginx:1.27"},
        "NetworkSettings": {"Networks": {}},
    }


class FakeEngine:
    """A fake Engine API on ``path``; ``containers`` maps names to inspect documents."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.containers: dict[str, dict[str, Any]] = {}
        self.hang = False
        self.requests: list[str] = []
        self._runner: web.AppRunner | None = None

    async def _ping(self, request: web.Request) -> web.Response:
        self.requests.append(request.path)
        if self.hang:
            await asyncio.sleep(3600)
        return web.Response(
            text="OK",
            content_type="text/plain",
            headers={"Api-Version": "1.45", "Docker-Experimental": "false", "OSType": "linux"},
        )

    async def _inspect(self, request: web.Request) -> web.Response:
        self.requests.append(request.path)
        wanted = request.match_info["id"]
        for name, doc in self.containers.items():
            if wanted in (name, doc["Id"]) or (len(wanted) >= 12 and doc["Id"].startswith(wanted)):
                return web.json_response(doc)
        return web.json_response({"message": f"No such container: {wanted}"}, status=404)

    async def _info(self, request: web.Request) -> web.Response:
        self.requests.append(request.path)
        running = sum(1 for d in self.containers.values() if d["State"]["Running"])
        return web.json_response(
            {
                "ID": "7TRN:IPZB:QYBB:VPBQ:UWS7:CFQY:LY2K:P3ZT:5AGE:4BKB:M5YI:HY2D",
                "Containers": len(self.containers),
                "ContainersRunning": running,
                "ServerVersion": "27.1.1",
                "OperatingSystem": "Ubuntu 24.04 LTS",
                "NCPU": 4,
                "MemTotal": 2147483648,
            }
        )

    async def __aenter__(self) -> FakeEngine:
        app = web.Application()
        app.router.add_get("/_ping", self._ping)
        app.router.add_get("/containers/{id}/json", self._inspect)
        app.router.add_get("/info", self._info)
        # Versioned paths (/v1.45/...) are what clients often send; serve them too.
        app.router.add_get("/v{version}/_ping", self._ping)
        app.router.add_get("/v{version}/containers/{id}/json", self._inspect)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self._runner.setup()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        await web.UnixSite(self._runner, str(self.path)).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self.path.exists():
            os.unlink(self.path)


# The script every shell runtime must carry intact (R6): spaces, both quotes, $, ;.
TRICKY_SCRIPT = """printf '%s|' "a  b" 'c "d"' '$HOME' "e'f"; echo; exit 3"""
TRICKY_OUTPUT = """a  b|c "d"|$HOME|e'f|"""
