"""The lab's VM stand-ins, on aiohttp (the host's worker is ``talon.lab.worker``).

``python -m talon.lab.apps health --bind 127.0.0.2:P --body '{"ok":true}'``
stands in for Inngest and Typesense (``GET /health``).

``python -m talon.lab.apps engine --unix PATH`` stands in for the VM's
container engine on its API socket: ``GET /_ping`` answers ``OK`` (text/plain,
with the ``Api-Version`` header) and ``GET /version`` the engine's version
object, also under a versioned prefix (``/v1.45/_ping``), as the Engine API
reference documents them. Nothing else: the lab runs no containers.
"""

from __future__ import annotations

import argparse
import json
import platform

from aiohttp import web

API_VERSION = "1.45"


def health_app(body: str) -> web.Application:
    async def health(request: web.Request) -> web.Response:
        return web.Response(text=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/health", health)
    return app


def engine_app() -> web.Application:
    headers = {"Api-Version": API_VERSION, "Ostype": "linux", "Cache-Control": "no-cache"}

    async def ping(request: web.Request) -> web.Response:
        return web.Response(text="OK", content_type="text/plain", headers=headers)

    async def version(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "Platform": {"Name": "talon lab engine stand-in"},
                "Version": "0.0.0-lab",
                "ApiVersion": API_VERSION,
                "MinAPIVersion": "1.24",
                "Os": "linux",
                "Arch": platform.machine(),
                "KernelVersion": platform.release(),
            },
            headers=headers,
        )

    app = web.Application()
    for prefix in ("", "/v{api}"):
        app.router.add_get(f"{prefix}/_ping", ping)  # HEAD too
        app.router.add_get(f"{prefix}/version", version)
    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("app", choices=["health", "engine"])
    parser.add_argument("--bind")
    parser.add_argument("--unix")
    parser.add_argument("--body", default=json.dumps({"ok": True}))
    args = parser.parse_args()
    if args.app == "engine":
        web.run_app(engine_app(), path=args.unix, print=None, handle_signals=True)
    else:
        host, port = args.bind.rsplit(":", 1)
        web.run_app(health_app(args.body), host=host, port=int(port), print=None)
