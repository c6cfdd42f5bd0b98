"""Socket-level helpers shared by the http, tcp and redis probes."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import ipaddress
import os
import socket
import ssl
from typing import Any

from talon.probes.endpoints import Path
from talon.report import ErrorKind, PathOutcome


class ProbeFailure(Exception):
    """A classified failure raised inside a probe attempt."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind


_UNREACHABLE = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EADDRNOTAVAIL, errno.ENETDOWN}


def classify(exc: BaseException, timeout: float) -> tuple[ErrorKind, str]:
    """Map an exception from a network attempt to (kind, human message) (R9)."""
    if isinstance(exc, ProbeFailure):
        return exc.kind, str(exc)
    if isinstance(exc, TimeoutError):
        return ErrorKind.TIMEOUT, f"no answer within {timeout:g}s"
    if isinstance(exc, ConnectionRefusedError):
        return ErrorKind.REFUSED, "connection refused"
    if isinstance(exc, socket.gaierror):
        return ErrorKind.DNS, f"name resolution failed: {exc.strerror or exc}"
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return ErrorKind.TLS, f"TLS: {getattr(exc, 'reason', None) or exc}"
    if isinstance(exc, ConnectionResetError | BrokenPipeError):
        return ErrorKind.RESET, "connection reset by peer"
    if isinstance(exc, OSError) and exc.errno in _UNREACHABLE:
        return ErrorKind.UNREACHABLE, exc.strerror or str(exc)
    if isinstance(exc, OSError):
        return ErrorKind.RESET, exc.strerror or str(exc)
    return ErrorKind.INTERNAL, repr(exc)


def failed(path: Path, exc: BaseException, timeout: float, started: float) -> PathOutcome:
    kind, message = classify(exc, timeout)
    latency = (asyncio.get_running_loop().time() - started) * 1000
    return PathOutcome(path.path_class, path.target, False, latency, kind, message)


def succeeded(path: Path, started: float, message: str) -> PathOutcome:
    latency = (asyncio.get_running_loop().time() - started) * 1000
    return PathOutcome(path.path_class, path.target, True, latency, None, message)


class Connection:
    """A connected socket driven by asyncio's low-level socket API.

    Cheaper than a transport and protocol (fewer callbacks and futures per
    check), which matters when a cycle holds a thousand checks.
    """

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.loop = asyncio.get_running_loop()

    async def recv(self) -> bytes:
        return await self.loop.sock_recv(self.sock, 65_536)

    def close(self) -> None:
        self.sock.close()


class TlsConnection:
    """The same interface over asyncio streams, for https."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def recv(self) -> bytes:
        return await self.reader.read(65_536)

    def close(self) -> None:
        self.writer.close()


@functools.lru_cache(maxsize=4096)
def socket_family(host: str) -> socket.AddressFamily | None:
    """The family of an IP literal, or None for a name that needs resolving."""
    try:
        return socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:
        return None


async def connect(
    host: str, port: int, tls: ssl.SSLContext | None = None, first: bytes = b""
) -> Connection | TlsConnection:
    """Connect to ``host:port`` and send ``first``; the caller bounds it with a timeout.

    Plain sockets send ``first`` straight after the non-blocking connect: on
    loopback the handshake has usually completed by then, which saves a trip
    through the selector per check. If it has not, send() answers EAGAIN and we
    wait for the connect as usual; a refused connect raises either way.
    """
    loop = asyncio.get_running_loop()
    if tls is not None:
        reader, writer = await asyncio.open_connection(host, port, ssl=tls, server_hostname=host)
        conn = TlsConnection(reader, writer)
        await conn.send(first)
        return conn
    family = socket_family(host)
    address: tuple[Any, ...] = (host, port)
    if family is None:  # a name: resolve it off the loop
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        family, address = infos[0][0], infos[0][4]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        code = sock.connect_ex(address)
        if code not in (0, errno.EINPROGRESS):
            raise OSError(code, os.strerror(code))
        sent = 0
        if first:
            with contextlib.suppress(BlockingIOError, InterruptedError):  # still connecting
                sent = sock.send(first)
        if code == errno.EINPROGRESS and sent == 0:
            await loop.sock_connect(sock, address)
        if sent < len(first):
            await loop.sock_sendall(sock, first[sent:])
    except BaseException:
        sock.close()
        raise
    return Connection(sock)


async def tcp_connect(path: Path, timeout: float) -> PathOutcome:
    started = asyncio.get_running_loop().time()
    try:
        async with asyncio.timeout(timeout):
            conn = await connect(path.host, path.port)
        conn.close()
    except (OSError, TimeoutError, ProbeFailure) as exc:
        return failed(path, exc, timeout, started)
    return succeeded(path, started, "connected")
