"""The daemon's HTTP surface: ``/health``, ``/metrics`` and the status page (aiohttp).

The server only serves snapshots: ``WebSources`` are plain callables the
daemon provides, called once per request. A source that raises gives a 500
with a short JSON error; the server keeps serving.

Loopback by default. A bind address that is not loopback needs a bearer
token, and with a token every request must carry
``Authorization: Bearer <token>``. The token never appears in a log line or
an error message. aiohttp is imported only when the server starts.

The status page (``/``, alias ``/status``; ``/status.json`` for machines) is
for browsers, which cannot send a bearer header: HTTP Basic auth with the token
as the password (any user name) is accepted too, and a 401 on a page path
challenges with ``Basic`` so the browser asks for it.
"""

from __future__ import annotations

import base64
import binascii
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
PAGE_PATHS = frozenset({"/", "/status"})  # a 401 here asks the browser for Basic auth
REFRESH_S = (1, 3600)  # bounds of ?refresh=N on the page
Handler = Callable[["web.Request"], Awaitable["web.StreamResponse"]]


class WebConfigError(TalonError):
    """The ``[health]`` section asks for something the server refuses to do."""


@dataclass
class WebSources:
    """What the endpoints serve, read at request time."""

    health: Callable[[], tuple[int, dict[str, Any]]]  # (HTTP status, payload)
    metrics: Callable[[], tuple[bytes, str]]  # (body, content type)
    status: Callable[[], dict[str, Any]] | None = None  # talon.status/v1; None: no page


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
    """``Bearer <token>``, or ``Basic`` with the token as the password (any user name)."""
    scheme, _, value = (header or "").partition(" ")
    if scheme.lower() == "bearer":
        return hmac.compare_digest(value.strip().encode(), token)
    if scheme.lower() != "basic":
        return False
    try:
        pair = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    _user, colon, password = pair.partition(b":")
    return bool(colon) and hmac.compare_digest(password, token)


def _json(status: int, body: str, headers: Mapping[str, str] | None = None) -> web.Response:
    from aiohttp import web

    headers = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", **(headers or {})}
    return web.Response(text=body, status=status, content_type="application/json", headers=headers)


def _error(status: int, error: str, detail: str, **headers: str) -> web.Response:
    return _json(status, json.dumps({"error": error, "detail": detail}), headers)


def _refresh(query: Mapping[str, str]) -> int:
    from talon.web.page import DEFAULT_REFRESH_S

    raw = query.get("refresh", "")
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 6):  # not "²", not 10**5000
        return DEFAULT_REFRESH_S
    return min(max(int(raw), REFRESH_S[0]), REFRESH_S[1])


class WebServer:
    """``/health``, ``/metrics`` and the status page on ``bind``; runs in the daemon's loop."""

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

        @web.middleware
        async def not_found(request: web.Request, handler: Handler) -> web.StreamResponse:
            try:
                return await handler(request)
            except web.HTTPNotFound:  # aiohttp's own answer is text/plain
                return _error(404, "not_found", f"no such path; try {', '.join(self._paths)}")
            except web.HTTPMethodNotAllowed as exc:
                return _error(
                    405, "method_not_allowed", "use GET or HEAD", Allow=exc.headers["Allow"]
                )

        guards = [guard] if self._token else []
        app = web.Application(middlewares=[*guards, not_found], logger=self._log)
        app.router.add_get("/health", self._health)
        app.router.add_get("/metrics", self._metrics)
        if self._sources.status is not None:
            for path in sorted(PAGE_PATHS):
                app.router.add_get(path, self._page)
            app.router.add_get("/status.json", self._status_json)
        return app

    @property
    def _paths(self) -> list[str]:
        page = [] if self._sources.status is None else ["/", "/status.json"]
        return [*page, "/health", "/metrics"]

    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        assert self._token is not None
        if _authorized(request.headers.get("Authorization"), self._token):
            return await handler(request)
        # path and peer only: the header may hold a wrong guess of the token
        self._events.info("web.unauthorized", path=request.path, remote=request.remote)
        scheme = "Basic" if request.path in PAGE_PATHS else "Bearer"
        return _error(
            401,
            "unauthorized",
            "send Authorization: Bearer <token>, or HTTP Basic auth with the token as password",
            **{"WWW-Authenticate": f'{scheme} realm="talon", charset="UTF-8"'},
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

        return web.Response(
            body=body, headers={"Content-Type": content_type, "Cache-Control": "no-store"}
        )

    async def _status_json(self, request: web.Request) -> web.Response:
        assert self._sources.status is not None
        try:
            body = json.dumps(self._sources.status())
        except Exception as exc:
            return self._failed("status", exc)
        return _json(200, body)

    async def _page(self, request: web.Request) -> web.Response:
        """The page, or with ``?part=main`` the fragment its script swaps in."""
        from aiohttp import web

        from talon.web.page import render_page
        from talon.web.page_assets import CSP

        assert self._sources.status is not None
        part = "main" if request.query.get("part") == "main" else None
        try:
            text = render_page(self._sources.status(), refresh_s=_refresh(request.query), part=part)
        except Exception as exc:
            return self._failed("status", exc)
        headers = {
            "Cache-Control": "no-store",
            "Content-Security-Policy": CSP,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        }
        return web.Response(text=text, content_type="text/html", charset="utf-8", headers=headers)
