"""Ask every peer's ``/health`` at once (aiohttp): each bounded, the whole bounded too.

Each peer gets its own time bound, covering its token's resolution, the
connection, the request and the body. The gather as a whole waits at most the
largest bound plus a little grace; whatever is still running then is cancelled
and reported as a timeout, so one silent peer can never hang the command and
no peer is ever left out of the answer. Redirects are not followed (a token
must not travel to another host) and bodies are capped.

What went wrong is classified here (``transport_error``) because only this
module knows aiohttp's exception types; what an answer *means* is decided by
the pure ``talon.fleet.view``.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from talon import __version__
from talon.actions.secrets import SecretError, Secrets
from talon.fleet import view
from talon.fleet.view import Answer, Target
from talon.redact import redact_text

if TYPE_CHECKING:
    import aiohttp

MAX_BODY = 256 * 1024  # a health document is about 1 kB
GRACE_S = 0.5  # the whole gather may outlast the largest per-peer bound by this much


def bound(targets: Sequence[Target]) -> float:
    """The longest the whole fetch may take."""
    return max((t.timeout_s for t in targets), default=0.0) + GRACE_S


def transport_error(exc: BaseException) -> tuple[str, str]:
    """(error kind, short detail) for a failure to get an HTTP answer."""
    import aiohttp

    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return view.DNS, f"cannot resolve {exc.host}"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError):
        return view.TLS, f"TLS: {exc}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        os_error = exc.os_error
        if isinstance(os_error, socket.gaierror):
            return view.DNS, f"cannot resolve {exc.host}"
        if os_error.errno == errno.ECONNREFUSED:
            return view.REFUSED, f"connection refused by {exc.host}:{exc.port}"
        if isinstance(os_error, TimeoutError) or os_error.errno == errno.ETIMEDOUT:
            return view.TIMEOUT, f"connecting to {exc.host}:{exc.port} timed out"
        return view.UNREACHABLE, f"cannot connect to {exc.host}:{exc.port}: {os_error.strerror}"
    if isinstance(exc, TimeoutError):  # aiohttp's own timeouts are TimeoutErrors too
        return view.TIMEOUT, "no answer in time"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return view.PROTOCOL, "the peer closed the connection without an answer"
    if isinstance(exc, aiohttp.ClientOSError) and exc.errno == errno.ECONNRESET:
        return view.PROTOCOL, "connection reset"
    if isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ClientResponseError):
        return view.PROTOCOL, f"not a valid HTTP answer: {exc}"
    return view.OTHER, f"{type(exc).__name__}: {exc}"


async def _body(resp: aiohttp.ClientResponse) -> bytes:
    chunks, size = [], 0
    async for chunk in resp.content.iter_chunked(64 * 1024):
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY:
            break  # too big to be a health document; the view says bad_payload
    return b"".join(chunks)


async def _ask(
    session: aiohttp.ClientSession,
    target: Target,
    secrets: Secrets,
    clock: Callable[[], float],
) -> Answer:
    started = clock()

    def failed(kind: str, detail: str, *, redact: bool = True) -> Answer:
        said = redact_text(detail, secrets.known_values()) if redact else detail
        return Answer(target, clock() - started, error=kind, detail=said[:300])

    try:
        async with asyncio.timeout(target.timeout_s):
            headers = {"Accept": "application/json", "User-Agent": f"talon/{__version__} fleet"}
            if target.token is not None:
                headers["Authorization"] = f"Bearer {await secrets.resolve(target.token)}"
            async with session.get(target.url, headers=headers, allow_redirects=False) as resp:
                body = await _body(resp)
                return Answer(target, clock() - started, status=resp.status, body=body)
    except TimeoutError:
        return failed(view.TIMEOUT, f"no answer within {target.timeout_s:g}s")
    except SecretError as exc:
        return failed(view.TOKEN, str(exc), redact=False)  # names the reference, never a value
    except Exception as exc:  # one peer's failure is its own row, never the command's end
        return failed(*transport_error(exc))


async def fetch_all(
    targets: Sequence[Target],
    *,
    secrets: Secrets,
    clock: Callable[[], float] = time.monotonic,
) -> list[Answer]:
    """One answer per target, in order, within ``bound(targets)`` seconds."""
    import aiohttp

    if not targets:
        return []
    started = clock()
    # No pooling: one request per peer, and a cancelled one must not leave a socket behind.
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session:
        tasks = [asyncio.create_task(_ask(session, t, secrets, clock)) for t in targets]
        _, pending = await asyncio.wait(tasks, timeout=bound(targets))
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    answers = []
    for target, task in zip(targets, tasks, strict=True):
        if task.cancelled() or task.exception() is not None:
            waited = clock() - started
            answers.append(Answer(target, waited, error=view.TIMEOUT, detail="no answer in time"))
        else:
            answers.append(task.result())
    return answers
