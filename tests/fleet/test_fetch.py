"""The fleet's HTTP adapter against real servers on loopback: every way a peer can fail."""

from __future__ import annotations

import asyncio
import errno
import json
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from aiohttp import web
from aiohttp.client_reqrep import ConnectionKey

from talon.actions.secrets import Secrets
from talon.config.outputs import SecretsConfig
from talon.fleet import fetch, view
from talon.fleet.view import Answer, Target
from tests.fleet.test_view import health
from tests.support import procs

HOST = "127.0.0.8"
TOKEN = "fleet-token-123"


@asynccontextmanager
async def peer_server() -> AsyncIterator[str]:
    """One aiohttp server with a route per behaviour; yields its base URL."""

    async def ok(_: web.Request) -> web.Response:
        return web.json_response(health())

    async def held(_: web.Request) -> web.Response:
        return web.json_response(
            health("failed recovery", reasons=["signal is failed recovery"]), status=503
        )

    async def auth(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"error": "unauthorized"}, status=401)
        return web.json_response(health())

    async def slow(_: web.Request) -> web.Response:
        await asyncio.sleep(30)
        return web.json_response(health())

    app = web.Application()
    app.router.add_get("/health", ok)
    app.router.add_get("/held", held)
    app.router.add_get("/auth", auth)
    app.router.add_get("/slow", slow)

    async def html(_: web.Request) -> web.Response:
        return web.Response(text="<html>hi</html>")

    async def boom(_: web.Request) -> web.Response:
        return web.Response(text="bad gateway", status=502)

    async def huge(_: web.Request) -> web.Response:
        return web.Response(text="x" * (fetch.MAX_BODY * 4))

    async def moved(_: web.Request) -> web.Response:
        raise web.HTTPFound("/health")

    for path, handler in (("/html", html), ("/boom", boom), ("/huge", huge), ("/moved", moved)):
        app.router.add_get(path, handler)
    # handler_cancellation: the slow handler ends when the client gives up, not 30 s later
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, HOST, 0).start()
    try:
        yield f"http://{HOST}:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def _secrets() -> Secrets:
    return Secrets(SecretsConfig(), {"FLEET_TOKEN": TOKEN})


def _fetch(targets: list[Target]) -> tuple[list[Answer], float]:
    async def main() -> tuple[list[Answer], float]:
        started = time.monotonic()
        answers = await fetch.fetch_all(targets, secrets=_secrets())
        return answers, time.monotonic() - started

    return asyncio.run(main())


def test_every_kind_of_answer_is_classified_and_none_is_left_out() -> None:
    with procs.refusing_port(HOST) as refused_port, procs.silent_listener(HOST) as silent_port:

        async def main() -> tuple[list[Answer], float]:
            async with peer_server() as base:
                targets = [
                    Target("ok", f"{base}/health", None, 2),
                    Target("held", f"{base}/held", None, 2),
                    Target("authed", f"{base}/auth", "env:FLEET_TOKEN", 2),
                    Target("no-token", f"{base}/auth", None, 2),
                    Target("unset-token", f"{base}/auth", "env:NOT_SET_ANYWHERE", 2),
                    Target("slow", f"{base}/slow", None, 0.5),
                    Target("silent", f"http://{HOST}:{silent_port}/health", None, 0.5),
                    Target("refused", f"http://{HOST}:{refused_port}/health", None, 2),
                    Target("html", f"{base}/html", None, 2),
                    Target("boom", f"{base}/boom", None, 2),
                    Target("huge", f"{base}/huge", None, 2),
                    Target("moved", f"{base}/moved", None, 2),
                ]
                started = time.monotonic()
                answers = await fetch.fetch_all(targets, secrets=_secrets())
                return answers, time.monotonic() - started

        answers, elapsed = asyncio.run(main())
    peers = {p.name: p for p in view.fleet_view(answers).peers}
    assert list(peers) == [
        "ok", "held", "authed", "no-token", "unset-token", "slow", "silent", "refused",
        "html", "boom", "huge", "moved",
    ]  # fmt: skip
    got = {name: (p.reachable, p.error, p.http_status) for name, p in peers.items()}
    assert got == {
        "ok": (True, None, 200),
        "held": (True, None, 503),
        "authed": (True, None, 200),
        "no-token": (False, "unauthorized", 401),
        "unset-token": (False, "token", None),
        "slow": (False, "timeout", None),
        "silent": (False, "timeout", None),
        "refused": (False, "refused", None),
        "html": (False, "bad_payload", 200),
        "boom": (False, "http_error", 502),
        "huge": (False, "bad_payload", 200),
        "moved": (False, "http_error", 302),  # a token must not follow a redirect
    }
    assert peers["held"].signal == "failed recovery"
    assert "NOT_SET_ANYWHERE is not set" in peers["unset-token"].detail
    assert peers["silent"].detail == "no answer within 0.5s"
    assert f"refused by {HOST}:{refused_port}" in peers["refused"].detail
    assert elapsed < fetch.bound([Target("x", "", None, 2)]) + 1.5  # bounded, never hung
    assert all(p.elapsed_s < 2.6 for p in peers.values())
    assert all(TOKEN not in json.dumps(p.as_dict()) for p in peers.values())


def test_the_token_is_sent_only_where_it_belongs() -> None:
    seen: list[str | None] = []

    async def main() -> list[Answer]:
        async def record(request: web.Request) -> web.Response:
            seen.append(request.headers.get("Authorization"))
            return web.json_response(health())

        app = web.Application()
        app.router.add_get("/health", record)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, HOST, 0).start()
        url = f"http://{HOST}:{runner.addresses[0][1]}/health"
        try:
            return await fetch.fetch_all(
                [Target("with", url, "env:FLEET_TOKEN", 2), Target("without", url, None, 2)],
                secrets=_secrets(),
            )
        finally:
            await runner.cleanup()

    answers = asyncio.run(main())
    assert [a.status for a in answers] == [200, 200]
    assert sorted(seen, key=str) == [f"Bearer {TOKEN}", None]


def test_no_targets_no_answers() -> None:
    assert _fetch([])[0] == []


def _connector_error(os_error: OSError) -> aiohttp.ClientConnectorError:
    key = ConnectionKey("peer.example", 9999, False, True, None, None, None)
    return aiohttp.ClientConnectorError(key, os_error)


def test_transport_errors_are_classified() -> None:
    key = ConnectionKey("peer.example", 9999, False, True, None, None, None)
    dns = aiohttp.ClientConnectorDNSError(key, socket.gaierror(-2, "Name or service not known"))
    assert fetch.transport_error(dns) == (view.DNS, "cannot resolve peer.example")
    gai = _connector_error(socket.gaierror(-3, "Temporary failure in name resolution"))
    assert fetch.transport_error(gai)[0] == view.DNS
    refused = _connector_error(ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"))
    assert fetch.transport_error(refused) == (
        view.REFUSED,
        "connection refused by peer.example:9999",
    )
    unreachable = _connector_error(OSError(errno.EHOSTUNREACH, "No route to host"))
    assert fetch.transport_error(unreachable) == (
        view.UNREACHABLE,
        "cannot connect to peer.example:9999: No route to host",
    )
    assert fetch.transport_error(_connector_error(TimeoutError()))[0] == view.TIMEOUT
    assert fetch.transport_error(aiohttp.ServerTimeoutError())[0] == view.TIMEOUT
    assert fetch.transport_error(aiohttp.ServerDisconnectedError())[0] == view.PROTOCOL
    reset = aiohttp.ClientOSError(errno.ECONNRESET, "Connection reset by peer")
    assert fetch.transport_error(reset) == (view.PROTOCOL, "connection reset")
    assert fetch.transport_error(RuntimeError("odd")) == (view.OTHER, "RuntimeError: odd")
