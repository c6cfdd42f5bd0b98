"""Test doubles for the runtime adapters: fake tools on PATH and a fake engine socket.

The tools are FAKES of ``colima`` and ``limactl``, which start VMs and cannot
run here (see ``fakebin.py`` for why, and for the documented formats they copy).
There is no fake ``ssh``: what goes over ssh uses the real client against a real
sshd (``tests/support/sshd.py``).
The engine is a FAKE too, kept only for what the real engine the tests run
(tests/support/dockerd.py) cannot be made to do: answer something that is not the
Engine API's JSON. It is an aiohttp server on a unix socket in a temporary
directory: ``GET /_ping`` -> ``OK`` (text/plain, ``Api-Version`` header), and with
``garble`` set, a broken body for every other call. (Colima's adapter tests use it
as the socket a VM forwards.)
"""

from __future__ import annotations

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
    """Fake ``colima``/``limactl`` first on PATH; their state and call log in ``root``."""

    def __init__(self, root: Path, tools: tuple[str, ...] = ("colima", "limactl")) -> None:
        super().__init__(root, FAKEBIN, tools)
        self.env["FAKE_RUNTIME_DIR"] = str(root)
        # colima honours COLIMA_HOME only when the directory exists (fakebin.colima_home)
        (root / "colima-home").mkdir(exist_ok=True)
        self.env["COLIMA_HOME"] = str(root / "colima-home")
        self.env["LIMA_HOME"] = str(root / "lima-home")
        self.env["HOME"] = str(root / "home")  # the fakes never look at the real home
        self.env.pop("XDG_CONFIG_HOME", None)

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


class FakeEngine:
    """A fake engine on ``path``: a good ``/_ping``, and with ``garble`` garbage elsewhere."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.garble = False
        self.requests: list[str] = []
        self._runner: web.AppRunner | None = None

    async def _ping(self, request: web.Request) -> web.Response:
        self.requests.append(request.path)
        return web.Response(
            text="OK",
            content_type="text/plain",
            headers={"Api-Version": "1.45", "Docker-Experimental": "false", "OSType": "linux"},
        )

    async def _other(self, request: web.Request) -> web.Response:
        self.requests.append(request.path)
        if self.garble:
            return web.Response(text='{"Id": "4f2a', content_type="application/json")
        return web.json_response({"message": "page not found"}, status=404)

    async def __aenter__(self) -> FakeEngine:
        app = web.Application()
        app.router.add_get("/_ping", self._ping)
        app.router.add_route("*", "/{tail:.*}", self._other)
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


# colima's ``status --json`` fields for the docker runtime, in app.go statusInfo's order
# (ip_address only with a reachable address): what the fake and the lab's stand-in print.
COLIMA_STATUS_FIELDS = [
    "display_name", "driver", "arch", "runtime", "mount_type", "ip_address",
    "docker_socket", "containerd_socket", "kubernetes", "cpu", "memory", "disk",
]  # fmt: skip

# The script every shell runtime must carry intact (R6): spaces, both quotes, $, ;.
TRICKY_SCRIPT = """printf '%s|' "a  b" 'c "d"' '$HOME' "e'f"; echo; exit 3"""
TRICKY_OUTPUT = """a  b|c "d"|$HOME|e'f|"""
