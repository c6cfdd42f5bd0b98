"""The ``http`` probe: a thin HTTP/1.1 client on asyncio's low-level socket API.

A probe needs a status code and sometimes a substring of the body, nothing
more; a full client (aiohttp) costs about twice the CPU per check. Parsing is
done by httptools (llhttp, the parser of Node.js), never by hand.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from urllib.parse import urlsplit

import httptools

from talon import __version__
from talon.config.probes import HttpProbe
from talon.probes.context import ProbeContext
from talon.probes.endpoints import Path, plan, resolve
from talon.probes.net import Connection, ProbeFailure, TlsConnection, connect, failed, succeeded
from talon.report import ErrorKind, Observation, PathOutcome

BODY_CAP = 64 * 1024


@functools.cache  # building a context loads the CA store: do it once
def _tls_context(verify: bool) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class _Received:
    """httptools' callbacks: what has arrived. It holds no reference to the parser, so
    parser and callbacks form no reference cycle: a check's objects are freed by
    reference counting, leaving nothing for the cyclic GC to find (a thousand checks a
    cycle would otherwise leave five thousand objects for it)."""

    __slots__ = ("body", "complete", "headers_done", "read_body")

    def __init__(self, read_body: bool) -> None:
        self.read_body = read_body
        self.body = bytearray()
        self.headers_done = False
        self.complete = False

    def on_headers_complete(self) -> None:
        self.headers_done = True
        self.complete = not self.read_body

    def on_body(self, body: bytes) -> None:
        room = BODY_CAP - len(self.body)
        if room > 0:
            self.body += body[:room]

    def on_message_complete(self) -> None:
        self.complete = True


class _Response:
    """Feeds bytes to httptools; ``complete`` once the status (and body, if wanted) is in."""

    def __init__(self, read_body: bool) -> None:
        self.got = _Received(read_body)
        self.parser = httptools.HttpResponseParser(self.got)
        self.received = False

    @property
    def complete(self) -> bool:
        return self.got.complete

    @property
    def body(self) -> bytearray:
        return self.got.body

    def feed(self, data: bytes) -> None:
        if not data:  # EOF
            if not self.received:
                raise ProbeFailure(ErrorKind.EMPTY_REPLY, "empty reply: closed without a response")
            if not self.got.headers_done:
                raise ProbeFailure(ErrorKind.PROTOCOL, "connection closed inside the headers")
            self.got.complete = True  # a body delimited by the close
            return
        self.received = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            raise ProbeFailure(ErrorKind.PROTOCOL, f"not an HTTP response: {exc}") from None

    @property
    def status(self) -> int:
        return int(self.parser.get_status_code())


async def _exchange(conn: Connection | TlsConnection, read_body: bool) -> _Response:
    response = _Response(read_body)
    while not response.complete:
        try:
            data = await conn.recv()
        except (ConnectionResetError, BrokenPipeError):
            if response.received:
                raise
            raise ProbeFailure(
                ErrorKind.EMPTY_REPLY, "connection reset before any response"
            ) from None
        response.feed(data)
    return response


@functools.lru_cache(maxsize=4096)
def _request(method: str, target: str, host: str) -> bytes:
    """The request bytes; identical every cycle, so built once."""
    return (
        f"{method} {target} HTTP/1.1\r\nHost: {host}\r\n"
        f"User-Agent: talon/{__version__}\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    ).encode("latin-1")


@functools.lru_cache(maxsize=4096)
def _parse_url(url: str) -> tuple[str, int, bool, str, str]:
    """(host, port, tls, request target, Host header of a direct request)."""
    parts = urlsplit(url)
    tls = parts.scheme == "https"
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.hostname or "", parts.port or (443 if tls else 80), tls, target, parts.netloc


def _accepted(spec: HttpProbe, status: int) -> bool:
    return status in spec.expect_status if spec.expect_status else 200 <= status < 400


async def attempt(spec: HttpProbe, target: str, tls: bool, path: Path) -> PathOutcome:
    started = asyncio.get_running_loop().time()
    read_body = spec.body_contains is not None and spec.method == "GET"
    conn: Connection | TlsConnection | None = None
    try:
        async with asyncio.timeout(spec.timeout_secs):
            host = path.target if path.path_class != "remote" else _parse_url(spec.url)[4]
            request = _request(spec.method, target, host)
            context = _tls_context(spec.tls_verify) if tls else None
            conn = await connect(path.host, path.port, context, request)
            response = await _exchange(conn, read_body)
    except (OSError, TimeoutError, ProbeFailure, ssl.CertificateError) as exc:
        return failed(path, exc, spec.timeout_secs, started)
    finally:
        if conn is not None:
            conn.close()
    status = response.status
    if not _accepted(spec, status):
        problem = ProbeFailure(ErrorKind.HTTP_STATUS, f"HTTP {status}")
        return failed(path, problem, spec.timeout_secs, started)
    if spec.body_contains is not None and spec.body_contains.encode() not in response.body:
        problem = ProbeFailure(
            ErrorKind.BODY_MISMATCH, f"HTTP {status}, body lacks {spec.body_contains!r}"
        )
        return failed(path, problem, spec.timeout_secs, started)
    return succeeded(path, started, f"HTTP {status}")


async def probe(spec: HttpProbe, ctx: ProbeContext) -> Observation:
    host, port, tls, target, _ = _parse_url(spec.url)
    paths = plan(host, port, spec.endpoint, ctx.vm_address, spec.remote)
    return await resolve(paths, functools.partial(attempt, spec, target, tls))
