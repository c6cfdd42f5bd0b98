"""Socket-level helpers shared by the http, tcp and redis probes."""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl

from talon.probes.endpoints import Path
from talon.probes.result import ErrorKind, PathOutcome


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


class _Connect(asyncio.Protocol):
    """Connect and do nothing: the cheapest possible TCP check."""


async def tcp_connect(path: Path, timeout: float) -> PathOutcome:
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        async with asyncio.timeout(timeout):
            transport, _ = await loop.create_connection(_Connect, path.host, path.port)
        transport.close()
    except (OSError, TimeoutError, ProbeFailure) as exc:
        return failed(path, exc, timeout, started)
    return succeeded(path, started, "connected")
