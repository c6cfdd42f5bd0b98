"""The daemon's HTTP surface: ``GET /health`` and ``GET /metrics`` (aiohttp).

The server only serves snapshots: ``WebSources`` are plain callables the
daemon provides, called once per request. A source that raises gives a 500
with a short JSON error; the server keeps serving.

Loopback by default. A bind address that is not loopback needs a bearer
token, and with a token every request must carry
``Authorization: Bearer <token>``. The token never appears in a log line or
an error message. aiohttp is imported only when the server starts.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from talon.errors import TalonError
from talon.logs import get_logger

if TYPE_CHECKING:
    from aiohttp import web

LOGGER = "talon.web"  # under "talon": aiohttp's own errors land in Talon's log
SHUTDOWN_TIMEOUT_S = 2.0
Handler = Callable[["web.Request"], Awaitable["web.StreamResponse"]]


class WebConfigError(TalonError):
    """The ``[health]`` section asks for something the server refuses to do."""


@dataclass
class WebSources:
    """What the endpoints serve, read at request time."""

    health: Callable[[], tuple[int, dict[str, Any]]]  # (HTTP status, payload)
    metrics: Callable[[], tuple[bytes, str]]  # (body, content type)


def parse_bind(bind: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) to a host and a port; port 0 picks a free one."""
    host, sep, port = bind.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or int(port) > 65_535:
        raise WebConfigError(f"[health] bind must be HOST:PORT, got {bind!r}")
    return host, int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def _check_token(bind: str, host: str, token: str | None) -> bytes | None:
    if token is not None and not token.strip():
        raise WebConfigError(
            "[health] token resolved to an empty value; set the variable or secret it names"
        )
    if token is None and not is_loopback(host):
        raise WebConfigError(
            f"[health] bind = {bind!r} is not a loopback address, and [health] token is not "
            "set: anyone on the network could read this node's state. Set [health] token "
            '(e.g. token = "env:TALON_HEALTH_TOKEN"), or bind to 127.0.0.1.'
        )
    return None if token is None else token.encode()


def _authorized(header: str | None, token: bytes) -> bool:
    scheme, _, value = (header or "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(value.strip().encode(), token)


def _json(status: int, body: str, headers: Mapping[str, str] | None = None) -> web.Response:
    from aiohttp import web

    headers = {"Cache-Control": "no-store", **(headers or {})}
    return web.Response(text=body, status=status, content_type="application/json", headers=headers)


def _error(status: int, error: str, detail: str, **headers: str) -> web.Response:
    return _json(status, json.dumps({"error": error, "detail": detail}), headers)


class WebServer:
    """``/health`` and ``/metrics`` on ``bind``; ``start`` and ``stop`` in the daemon's loop."""

    def __init__(self, bind: str, sources: WebSources, token: str | None) -> None:
        self._bind = bind
        self._host, self._port = parse_bind(bind)
        self._token = _check_token(bind, self._host, token)
        self._sources = sources
        self._log = logging.getLogger(LOGGER)  # for aiohttp's own messages
        self._events = get_logger(component="web")
        self._last_failure: dict[str, str] = {}
        self._runner: web.AppRunner | None = None

    def __repr__(self) -> str:  # never the token
        return f"WebServer(bind={self._bind!r}, token={'set' if self._token else 'none'})"

    @property
    def bound_port(self) -> int:
        """The port listened on (the real one when the bind asked for port 0)."""
        if self._runner is None or not self._runner.addresses:
            raise RuntimeError("the web server is not started")
        return int(self._runner.addresses[0][1])

    async def start(self) -> None:
        from aiohttp import web

        runner = web.AppRunner(
            self._app(),
            access_log=None,  # a scrape every few seconds is not news
            logger=self._log,
            shutdown_timeout=SHUTDOWN_TIMEOUT_S,
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, self._host, self._port).start()
        except OSError as exc:
            await runner.cleanup()
            raise WebConfigError(
                f"[health] bind = {self._bind!r}: cannot listen ({exc.strerror or exc}); "
                "pick a free port or stop what holds it"
            ) from exc
        self._runner = runner

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    def _app(self) -> web.Application:
        from aiohttp import web

        @web.middleware  # a plain function: aiohttp marks it with an attribute
        async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
            return await self._guard(request, handler)

        app = web.Application(middlewares=[guard] if self._token else [], logger=self._log)
        app.router.add_get("/health", self._health)
        app.router.add_get("/metrics", self._metrics)
        return app

    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        assert self._token is not None
        if _authorized(request.headers.get("Authorization"), self._token):
            return await handler(request)
        # path and peer only: the header may hold a wrong guess of the token
        self._events.info("web.unauthorized", path=request.path, remote=request.remote)
        return _error(
            401,
            "unauthorized",
            "send Authorization: Bearer <token>",
            **{"WWW-Authenticate": 'Bearer realm="talon"'},
        )

    def _failed(self, source: str, exc: Exception) -> web.Response:
        # the traceback once per distinct failure, not once per scrape
        failure = f"{type(exc).__name__}: {exc}"
        if self._last_failure.get(source) != failure:
            self._events.exception("web.source_failed", source=source)
        else:
            self._events.warning("web.source_failed", source=source, error=failure)
        self._last_failure[source] = failure
        return _error(500, "internal", f"the {source} source failed")

    async def _health(self, request: web.Request) -> web.Response:
        try:
            status, payload = self._sources.health()
            body = json.dumps(payload)
        except Exception as exc:
            return self._failed("health", exc)
        return _json(status, body)

    async def _metrics(self, request: web.Request) -> web.Response:
        try:
            body, content_type = self._sources.metrics()
        except Exception as exc:
            return self._failed("metrics", exc)
        from aiohttp import web

        return web.Response(body=body, headers={"Content-Type": content_type})
