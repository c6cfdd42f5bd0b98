"""A target farm: real HTTP and TCP endpoints on loopback that answer, fail, hang.

Run as its own process (``python -m tests.support.farm --bind 127.0.0.1:0 ...``)
so its CPU is not Talon's. It prints ``READY <host>:<port>`` per listener and
serves until SIGTERM. Paths:

    /ok /health        200 (``{"ok":true}`` for /health)
    /fail              500
    /redirect          302
    /readyz /version   what `kubectl get --raw /readyz` asks a Kubernetes API for
    /chunked           200, chunked, the word "needle" split across two chunks
    /hang              reads the request, never answers
    /empty             closes without a byte
    /garbage           answers with something that is not HTTP
    /stats             JSON: requests served, most /hang connections open at once
    anything else      404
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal

STATS = {"requests": 0, "hang_open": 0, "hang_max_concurrent": 0}

ROUTES = {
    b"/ok": (200, b"ok"),
    b"/health": (200, b'{"ok":true}'),
    b"/fail": (500, b"boom"),
    b"/redirect": (302, b""),
    # enough of the Kubernetes API for `kubectl get --raw /readyz`
    b"/readyz": (200, b"ok"),
    b"/version": (200, b'{"major":"1","minor":"31","gitVersion":"v1.31.0"}'),
}


def http_response(status: int, body: bytes) -> bytes:
    head = f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    return head.encode() + body


class Handler(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.buf = b""
        self.hanging = False

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if b"\r\n\r\n" not in self.buf or self.hanging:
            return
        STATS["requests"] += 1
        path = self.buf.split(b" ", 2)[1].split(b"?")[0]
        write, close = self.transport.write, self.transport.close
        if path == b"/hang":
            self.hanging = True
            STATS["hang_open"] += 1
            STATS["hang_max_concurrent"] = max(STATS["hang_max_concurrent"], STATS["hang_open"])
            return
        if path == b"/empty":
            close()
        elif path == b"/garbage":
            write(b"SSH-2.0-OpenSSH_9.2\r\n")
            close()
        elif path == b"/chunked":
            write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
            write(b"4\r\nnee\xff\r\n".replace(b"\xff", b"d") + b"3\r\nle!\r\n0\r\n\r\n")
            close()
        elif path == b"/stats":
            write(http_response(200, json.dumps(STATS).encode()))
            close()
        else:
            write(http_response(*ROUTES.get(path, (404, b"not found"))))
            close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.hanging:
            STATS["hang_open"] -= 1


async def main(binds: list[str]) -> None:
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, stop.set_result, None)
    for bind in binds:
        host, port = bind.rsplit(":", 1)
        server = await loop.create_server(Handler, host, int(port), backlog=4096)
        sock_host, sock_port = server.sockets[0].getsockname()[:2]
        print(f"READY {sock_host}:{sock_port}", flush=True)
    await stop


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--bind", action="append", required=True)
    asyncio.run(main(parser.parse_args().bind))
