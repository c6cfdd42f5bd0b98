"""Is Alertmanager there to page? ``GET /-/ready``, bounded, the answer cached a little while.

With ``[notify] route = "alertmanager"`` Prometheus and Alertmanager page for
this node, and Talon keeps its own channels quiet, but only while Alertmanager
answers: when it does not (a partition, a dead Alertmanager), Talon notifies
locally, so no node is ever silenced by the loss of its pager.

The contract is Alertmanager's management API: ``GET /-/ready`` answers 200
once Alertmanager is ready to serve traffic; anything else (another status, no
answer within the bound, a refused connection) counts as unreachable.
Redirects are not followed. The verdict, either way, is kept ``CACHE_S``
seconds so that a burst of deliveries asks once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from talon import __version__

CACHE_S = 30.0


@dataclass(frozen=True)
class Readiness:
    ready: bool
    detail: str  # why not, or what answered


class AlertmanagerGate:
    """Asks ``BASE_URL/-/ready`` at most once per ``cache_s``; never raises."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float,
        cache_s: float = CACHE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = base_url.rstrip("/") + "/-/ready"
        self.timeout_s = timeout_s
        self.cache_s = cache_s
        self.clock = clock
        self._last: tuple[float, Readiness] | None = None
        self._lock = asyncio.Lock()

    async def readiness(self) -> Readiness:
        async with self._lock:  # concurrent deliveries share one question
            now = self.clock()
            if self._last is not None and now - self._last[0] < self.cache_s:
                return self._last[1]
            answer = await self._ask()
            self._last = (self.clock(), answer)
            return answer

    async def _ask(self) -> Readiness:
        import aiohttp

        from talon.fleet.fetch import transport_error

        headers = {"User-Agent": f"talon/{__version__} notify"}
        try:
            async with asyncio.timeout(self.timeout_s):
                connector = aiohttp.TCPConnector(force_close=True)
                async with (
                    aiohttp.ClientSession(connector=connector) as session,
                    session.get(self.url, headers=headers, allow_redirects=False) as resp,
                ):
                    status = resp.status
        except TimeoutError:
            return Readiness(False, f"{self.url}: no answer within {self.timeout_s:g}s")
        except Exception as exc:  # any failure to get an answer is "unreachable"
            return Readiness(False, f"{self.url}: {transport_error(exc)[1]}")
        if status == 200:
            return Readiness(True, f"{self.url}: HTTP 200")
        return Readiness(False, f"{self.url}: HTTP {status} (not ready)")
