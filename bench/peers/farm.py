"""The comparison's target farm: loopback HTTP/TCP targets that can be switched to failing.

Run as its own process (``python -m bench.peers.farm``) so that its CPU is no
tool's. It prints ``READY <targets port> <control port>`` and serves on
127.0.0.1 until SIGTERM. The targets:

    /ok/...            200
    /hang/...          reads the request, never answers
    /t/NAME            200, or 500 once NAME is switched to failing
    anything else      404

Every connection to the targets port is counted and its arrival time kept, so a
tool's checks can be counted and timed from outside: one connection per HTTP
check, one per TCP connect. The control port answers:

    /fail/NAME, /ok/NAME   switch NAME to failing and back
    /count                 connections so far
    /times/I/J             arrival times (CLOCK_MONOTONIC) of connections I..J-1
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
import urllib.request
from typing import Any

from tests.support.farm import http_response

ARRIVALS: list[float] = []
FAILING: set[bytes] = set()


class _Http(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.buf = b""
        self.done = False
        self.arrived()

    def arrived(self) -> None:
        pass

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if self.done or b"\r\n\r\n" not in self.buf:
            return
        self.done = True
        answer = self.answer(self.buf.split(b" ", 2)[1].split(b"?")[0])
        if answer is not None:
            self.transport.write(http_response(*answer))
            self.transport.close()

    def answer(self, path: bytes) -> tuple[int, bytes] | None:
        raise NotImplementedError


class Target(_Http):
    def arrived(self) -> None:
        ARRIVALS.append(time.monotonic())

    def answer(self, path: bytes) -> tuple[int, bytes] | None:
        if path.startswith(b"/hang/"):
            return None
        if path.startswith(b"/ok/"):
            return 200, b"ok"
        if path.startswith(b"/t/"):
            return (500, b"boom") if path[3:] in FAILING else (200, b"ok")
        return 404, b"not found"


class Control(_Http):
    def answer(self, path: bytes) -> tuple[int, bytes] | None:
        verb, *args = path.strip(b"/").split(b"/")
        if verb == b"fail":
            FAILING.add(args[0])
        elif verb == b"ok":
            FAILING.discard(args[0])
        elif verb == b"times":
            return 200, json.dumps(ARRIVALS[int(args[0]) : int(args[1])]).encode()
        return 200, json.dumps(len(ARRIVALS)).encode()


async def main() -> None:
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, stop.set_result, None)
    ports = []
    for handler in (Target, Control):
        server = await loop.create_server(handler, "127.0.0.1", 0, backlog=4096)
        ports.append(server.sockets[0].getsockname()[1])
    print("READY", *ports, flush=True)
    await stop


class Farm:
    """The bench's side: switch targets, read the counters (plain urllib, off the hot path)."""

    def __init__(self, port: int, control_port: int) -> None:
        self.port = port
        self.address = f"127.0.0.1:{port}"
        self.control = control_port

    def _get(self, path: str) -> Any:
        url = f"http://127.0.0.1:{self.control}/{path}"
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.loads(response.read())

    def fail(self, name: str) -> None:
        self._get(f"fail/{name}")

    def recover(self, name: str) -> None:
        self._get(f"ok/{name}")

    def connections(self) -> int:
        return int(self._get("count"))

    def arrivals(self, start: int, end: int) -> list[float]:
        return [float(t) for t in self._get(f"times/{start}/{end}")]


if __name__ == "__main__":
    asyncio.run(main())
