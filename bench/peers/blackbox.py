"""Debian's prometheus-blackbox-exporter, scraped the way Prometheus would.

The exporter probes only when asked: a cycle is one `GET /probe?target=&module=`
per check, all at once (Prometheus scrapes its targets concurrently), sent by
this process with aiohttp over kept-alive connections; its CPU is not counted,
nor what Prometheus itself would spend storing the samples. CPU is the
exporter's user+sys over K cycles; a cycle's wall time is from the first request
to the last answer. Detection: scrape every INTERVAL seconds, as Prometheus
would; the target counts as reported at the end of the first scrape that says
`probe_success 0`. There is no script prober: script checks are not run.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.peers.common import (
    TRIAL_SEED,
    Check,
    Switch,
    Throughput,
    cpu_times,
    rss_peak_kb,
    stop,
    wait_for,
)
from tests.support.procs import free_port

if TYPE_CHECKING:
    import aiohttp

MODULES = {"http": "http_2xx", "tcp": "tcp_connect", "redis": "redis_ping"}


def config(checks: list[Check]) -> dict[str, Any]:
    """One module per (kind, timeout): the exporter's timeout lives in the module."""
    modules: dict[str, Any] = {}
    for c in checks:
        name = module(c)
        timeout = f"{round(c.timeout_s * 1000)}ms"
        if c.kind == "http":
            modules[name] = {
                "prober": "http",
                "timeout": timeout,
                "http": {"preferred_ip_protocol": "ip4", "follow_redirects": False},
            }
        elif c.kind == "tcp":
            modules[name] = {
                "prober": "tcp",
                "timeout": timeout,
                "tcp": {"preferred_ip_protocol": "ip4"},
            }
        elif c.kind == "redis":
            modules[name] = {
                "prober": "tcp",
                "timeout": timeout,
                "tcp": {
                    "preferred_ip_protocol": "ip4",
                    "query_response": [{"send": "PING"}, {"expect": "^\\+PONG"}],
                },
            }
    return {"modules": modules}


def module(c: Check) -> str:
    return f"{MODULES[c.kind]}_{round(c.timeout_s * 1000)}ms"


def _target(c: Check) -> str:
    return c.url if c.kind == "http" else c.address


def _success(text: str) -> bool:
    for line in text.splitlines():
        if line.startswith("probe_success "):
            return line.split()[1] == "1"
    raise AssertionError(f"no probe_success in {text[:200]!r}")


class Exporter:
    def __init__(self, checks: list[Check], work: Path) -> None:
        import json

        work.mkdir(parents=True, exist_ok=True)
        self.work = work
        self.config = work / "blackbox.yml"
        self.config.write_text(json.dumps(config(checks), indent=1))  # JSON is YAML
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.binary = shutil.which("prometheus-blackbox-exporter") or "blackbox_exporter"

    @contextlib.contextmanager
    def running(self) -> Any:
        with (self.work / "exporter.out").open("ab") as out:
            self.proc = subprocess.Popen(
                [
                    self.binary,
                    f"--config.file={self.config}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_for("the blackbox exporter", self._up, 30, poll=0.05)
            yield self
        finally:
            stop(self.proc)

    def _up(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"the exporter exited: see {self.work / 'exporter.out'}")
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", self.port)) == 0


@contextlib.asynccontextmanager
async def _session() -> AsyncIterator[aiohttp.ClientSession]:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=0)
    # what Prometheus sends: the exporter bounds a probe by it (less 0.5 s) and the module
    headers = {"X-Prometheus-Scrape-Timeout-Seconds": "10"}
    async with aiohttp.ClientSession(
        connector=connector, headers=headers, timeout=aiohttp.ClientTimeout(total=30)
    ) as session:
        yield session


async def _scrape(session: aiohttp.ClientSession, base: str, c: Check) -> tuple[bool, float]:
    params = {"target": _target(c), "module": module(c)}
    async with session.get(f"{base}/probe", params=params) as response:
        text = await response.text()
    return _success(text), time.monotonic()


async def _cycle(session: aiohttp.ClientSession, base: str, checks: list[Check]) -> list[bool]:
    results = await asyncio.gather(*(_scrape(session, base, c) for c in checks))
    return [ok for ok, _ in results]


class Blackbox:
    name = "blackbox"

    def unsupported(self, checks: list[Check]) -> str | None:
        if any(c.kind == "script" for c in checks):
            return "no script prober"
        return None

    def throughput(
        self, checks: list[Check], *, rounds: int, interval: int, work: Path
    ) -> Throughput:
        exporter = Exporter(checks, work)
        with exporter.running():
            return asyncio.run(self._throughput(exporter, checks, rounds))

    async def _throughput(self, exporter: Exporter, checks: list[Check], rounds: int) -> Throughput:
        result = Throughput()
        async with _session() as session:
            await _cycle(session, exporter.base, checks)  # warm: connections, goroutines
            cpu0 = cpu_times(exporter.proc.pid)
            for _ in range(rounds):
                t0 = time.perf_counter()
                ok = await _cycle(session, exporter.base, checks)
                result.cycle_walls_s.append(time.perf_counter() - t0)
                result.false_failures += sum(
                    not good and not c.hangs for c, good in zip(checks, ok, strict=True)
                )
            result.cpu(cpu0, cpu_times(exporter.proc.pid))
            result.checks_run = rounds * len(checks)
            result.rss_peak_kb = rss_peak_kb(exporter.proc.pid)
        return result

    def latency(
        self,
        checks: list[Check],
        target: Check,
        *,
        interval: int,
        trials: int,
        work: Path,
        switch: Switch,
    ) -> list[float]:
        exporter = Exporter(checks, work)
        with exporter.running():
            return asyncio.run(self._latency(exporter, checks, target, interval, trials, switch))

    async def _latency(
        self,
        exporter: Exporter,
        checks: list[Check],
        target: Check,
        interval: int,
        trials: int,
        switch: Switch,
    ) -> list[float]:
        seen: list[tuple[float, bool]] = []  # (when the scrape of the target ended, success)

        async def scrape_forever(session: aiohttp.ClientSession) -> None:
            start = time.monotonic()
            for k in range(1, 10**6):
                results = await asyncio.gather(
                    *(_scrape(session, exporter.base, c) for c in checks)
                )
                ok, when = results[checks.index(target)]
                seen.append((when, ok))
                await asyncio.sleep(max(0.0, start + k * interval - time.monotonic()))

        async def until(good: bool, after: float) -> float:
            while True:
                for when, ok in seen:
                    if when > after and ok is good:
                        return when
                await asyncio.sleep(0.01)

        rng = random.Random(TRIAL_SEED)
        out = []
        loop = asyncio.get_running_loop()
        async with _session() as session:
            scraper = asyncio.create_task(scrape_forever(session))
            try:
                await asyncio.wait_for(until(True, 0.0), 30)
                for _ in range(trials):
                    await asyncio.sleep(rng.uniform(0, interval))
                    t0 = time.monotonic()
                    await loop.run_in_executor(None, switch.fail, target.name)
                    when = await asyncio.wait_for(until(False, t0), 10 * interval + 30)
                    out.append(when - t0)
                    await loop.run_in_executor(None, switch.recover, target.name)
                    await asyncio.wait_for(until(True, time.monotonic()), 10 * interval + 30)
            finally:
                scraper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await scraper
        return out
