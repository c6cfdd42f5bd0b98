"""A healthchecks.io stand-in on 127.0.0.3: records every ping, and can hang on demand.

It runs aiohttp in a thread of its own, so a synchronous test can poll what
it recorded while a real `talon run` pings it. ``hang()`` makes every request
wait (recorded on arrival, answered only after ``release()``), as a stuck
server would.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from types import TracebackType

from aiohttp import web

HOST = "127.0.0.3"


@dataclass(frozen=True)
class Ping:
    at: float  # time.monotonic() on arrival
    method: str
    path: str
    body: str


class Recorder:
    def __init__(self) -> None:
        self.pings: list[Ping] = []
        self.port = 0
        self._lock = threading.Lock()
        self._open = threading.Event()
        self._open.set()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._runner: web.AppRunner | None = None

    def __enter__(self) -> Recorder:
        self._thread.start()
        assert self._ready.wait(10), "the recorder did not start"
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def url(self, path: str = "/ping/5f1b2c7e-talon-e2e") -> str:
        return f"http://{HOST}:{self.port}{path}"

    def hang(self) -> None:
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    def seen(self) -> list[Ping]:
        with self._lock:
            return list(self.pings)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._start())
        self._ready.set()
        self._loop.run_forever()

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, HOST, 0).start()
        self.port = self._runner.addresses[0][1]

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        body = (await request.read()).decode("utf-8", "replace")
        with self._lock:
            self.pings.append(Ping(time.monotonic(), request.method, request.path, body))
        await asyncio.to_thread(self._open.wait, 60)  # hung: answer only once released
        return web.Response(text="OK")
