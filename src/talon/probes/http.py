"""The ``http`` probe: a thin HTTP/1.1 client on an asyncio Protocol.

A probe needs a status code and sometimes a substring of the body, nothing
more; a full client (aiohttp) costs about twice the CPU per check. Parsing is
done by httptools (llhttp, the parser of Node.js), never by hand.
"""

from __future__ import annotations

import asyncio
import ssl
from functools import partial
from urllib.parse import urlsplit

import httptools

from talon import __version__
from talon.config.probes import HttpProbe
from talon.probes.context import ProbeContext
from talon.probes.endpoints import Path, plan, resolve
from talon.probes.net import ProbeFailure, failed, succeeded
from talon.probes.result import ErrorKind, Observation, PathOutcome

BODY_CAP = 64 * 1024
_TLS: dict[bool, ssl.SSLContext] = {}


def _tls_context(verify: bool) -> ssl.SSLContext:
    if verify not in _TLS:  # building a context loads the CA store: do it once
        context = ssl.create_default_context()
        if not verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        _TLS[verify] = context
    return _TLS[verify]


class _Exchange(asyncio.Protocol):
    """One request, one response; resolves ``done`` with (status, body)."""

    def __init__(self, request: bytes, read_body: bool) -> None:
        self.request = request
        self.read_body = read_body
        self.done: asyncio.Future[tuple[int, bytes]] = asyncio.get_running_loop().create_future()
        self.parser = httptools.HttpResponseParser(self)
        self.body = bytearray()
        self.received = False
        self.headers_done = False
        self.transport: asyncio.BaseTransport | None = None

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        self.received = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ErrorKind.PROTOCOL, f"not an HTTP response: {exc}")

    def eof_received(self) -> bool | None:
        if not self.received:
            self._fail(ErrorKind.EMPTY_REPLY, "empty reply: connection closed without a response")
        elif self.headers_done:  # body delimited by close
            self._finish()
        else:
            self._fail(ErrorKind.PROTOCOL, "connection closed in the middle of the headers")
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None:
            self._fail(ErrorKind.RESET, f"connection lost: {exc}")
        elif not self.received:
            self._fail(ErrorKind.EMPTY_REPLY, "empty reply: connection closed without a response")
        else:
            self._finish()

    # httptools callbacks
    def on_headers_complete(self) -> None:
        self.headers_done = True
        if not self.read_body:
            self._finish()

    def on_body(self, body: bytes) -> None:
        room = BODY_CAP - len(self.body)
        if room > 0:
            self.body += body[:room]

    def on_message_complete(self) -> None:
        self._finish()

    def _finish(self) -> None:
        if not self.done.done():
            self.done.set_result((self.parser.get_status_code(), bytes(self.body)))
        if self.transport is not None:
            self.transport.close()

    def _fail(self, kind: ErrorKind, message: str) -> None:
        if not self.done.done():
            self.done.set_exception(ProbeFailure(kind, message))
        if self.transport is not None:
            self.transport.close()


def _request(spec: HttpProbe, path: Path, target: str) -> bytes:
    host = path.target if path.path_class != "remote" else urlsplit(spec.url).netloc
    return (
        f"{spec.method} {target} HTTP/1.1\r\nHost: {host}\r\n"
        f"User-Agent: talon/{__version__}\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    ).encode("latin-1")


def _accepted(spec: HttpProbe, status: int) -> bool:
    return status in spec.expect_status if spec.expect_status else 200 <= status < 400


async def attempt(spec: HttpProbe, target: str, tls: bool, path: Path) -> PathOutcome:
    loop = asyncio.get_running_loop()
    started = loop.time()
    read_body = spec.body_contains is not None and spec.method == "GET"
    transport: asyncio.BaseTransport | None = None
    try:
        async with asyncio.timeout(spec.timeout_secs):
            transport, exchange = await loop.create_connection(
                partial(_Exchange, _request(spec, path, target), read_body),
                path.host,
                path.port,
                ssl=_tls_context(spec.tls_verify) if tls else None,
                server_hostname=path.host if tls else None,
            )
            status, body = await exchange.done
    except (OSError, TimeoutError, ProbeFailure, ssl.CertificateError) as exc:
        return failed(path, exc, spec.timeout_secs, started)
    finally:
        if transport is not None:
            transport.close()
    if not _accepted(spec, status):
        outcome = failed(path, ProbeFailure(ErrorKind.HTTP_STATUS, f"HTTP {status}"), 0, started)
    elif spec.body_contains is not None and spec.body_contains.encode() not in body:
        outcome = failed(
            path,
            ProbeFailure(
                ErrorKind.BODY_MISMATCH, f"HTTP {status}, body lacks {spec.body_contains!r}"
            ),
            0,
            started,
        )
    else:
        outcome = succeeded(path, started, f"HTTP {status}")
    return outcome


async def probe(spec: HttpProbe, ctx: ProbeContext) -> Observation:
    url = urlsplit(spec.url)
    tls = url.scheme == "https"
    port = url.port or (443 if tls else 80)
    target = (url.path or "/") + (f"?{url.query}" if url.query else "")
    paths = plan(url.hostname or "", port, spec.endpoint, ctx.vm_address)
    return await resolve(paths, partial(attempt, spec, target, tls))
