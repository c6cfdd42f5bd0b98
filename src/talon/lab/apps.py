"""The lab's HTTP apps, on aiohttp: the VM's health services and the host's worker.

``python -m talon.lab.apps health --bind 127.0.0.2:P --body '{"ok":true}'``
stands in for Inngest and Typesense (``GET /health``).
``python -m talon.lab.apps worker --bind 127.0.0.1:P`` is the worker:
``GET /api/inngest`` (health) and ``PUT /api/inngest`` (sync).
"""

from __future__ import annotations

import argparse
import json

from aiohttp import web


def health_app(body: str) -> web.Application:
    async def health(request: web.Request) -> web.Response:
        return web.Response(text=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/health", health)
    return app


def worker_app() -> web.Application:
    syncs = {"count": 0}

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "syncs": syncs["count"]})

    async def sync(request: web.Request) -> web.Response:
        syncs["count"] += 1
        return web.json_response({"synced": True, "count": syncs["count"]})

    app = web.Application()
    app.router.add_get("/api/inngest", health)
    app.router.add_put("/api/inngest", sync)
    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("app", choices=["health", "worker"])
    parser.add_argument("--bind", required=True)
    parser.add_argument("--body", default=json.dumps({"ok": True}))
    args = parser.parse_args()
    host, port = args.bind.rsplit(":", 1)
    app = health_app(args.body) if args.app == "health" else worker_app()
    web.run_app(app, host=host, port=int(port), print=None, handle_signals=True)
