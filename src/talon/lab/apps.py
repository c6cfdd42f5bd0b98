"""The lab's VM health services, on aiohttp (the host's worker is ``talon.lab.worker``).

``python -m talon.lab.apps health --bind 127.0.0.2:P --body '{"ok":true}'``
stands in for Inngest and Typesense (``GET /health``).
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


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("app", choices=["health"])
    parser.add_argument("--bind", required=True)
    parser.add_argument("--body", default=json.dumps({"ok": True}))
    args = parser.parse_args()
    host, port = args.bind.rsplit(":", 1)
    app = health_app(args.body)
    web.run_app(app, host=host, port=int(port), print=None, handle_signals=True)
