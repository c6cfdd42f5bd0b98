"""One redis connection per target, kept across cycles (a new client per check costs 20x).

redis-py's asyncio client is imported lazily: configs without redis probes
never pay for it. A client whose command failed or was cancelled may be in a
half-read state, so it is discarded and the next cycle connects afresh.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from redis.asyncio import Redis

Key = tuple[str, int, int, str | None]


class RedisClients:
    def __init__(self) -> None:
        self._clients: dict[Key, Redis] = {}

    def get(self, host: str, port: int, db: int, password: str | None, timeout: float) -> Redis:
        key = (host, port, db, password)
        client = self._clients.get(key)
        if client is None:
            from redis.asyncio import Redis
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff

            options: dict[str, Any] = {
                "socket_connect_timeout": timeout,
                "socket_timeout": timeout,
                "retry": Retry(NoBackoff(), 0),  # the probe's own verdict: no silent retries
                "single_connection_client": True,
            }
            client = Redis(host=host, port=port, db=db, password=password, **options)
            self._clients[key] = client
        return client

    async def discard(self, host: str, port: int, db: int, password: str | None) -> None:
        client = self._clients.pop((host, port, db, password), None)
        if client is not None:
            with contextlib.suppress(Exception):
                await client.aclose()

    async def aclose(self) -> None:
        for key in list(self._clients):
            await self.discard(*key)

    def __len__(self) -> int:
        return len(self._clients)
