"""Benchmark one probe cycle against a loopback target farm (`make bench`; not a test).

Measures, in one run and on one machine:
  - wall time and CPU per probe for 1000 HTTP, 200 TCP and 100 script probes;
  - the same 1000 HTTP checks through aiohttp, as the baseline (ratio printed);
  - the time CPython's cyclic GC takes per cycle, and the 1000 HTTP checks again with
    the collector settled as the daemon settles it (talon.daemon.gc_pacing);
  - cycle wall time when 1% of HTTP targets hang (goal: <= probe timeout + 0.3 s);
  - peak RSS of this process;
  - start-up: wall time of `talon --help` (goal: under 300 ms).
The farm runs in its own process, so its CPU is not counted. Each figure is the
median of several cycles.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import resource
import statistics
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from talon.adapters.command import exec_env
from talon.adapters.process import NullProcessManager
from talon.adapters.runtime import NullRuntime
from talon.config import HttpProbe, ProbeSpec, ScriptProbe, TcpProbe
from talon.daemon.gc_pacing import GcPacing
from talon.node import NodeIdentity
from talon.probes import ProbeContext, Status, run_cycle
from tests.support import procs

HANG_TIMEOUT_S = 1.0


def cpu_s(who: int = resource.RUSAGE_SELF) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def probe_context() -> ProbeContext:
    return ProbeContext(NodeIdentity.detect(), NullRuntime(), NullProcessManager(), exec_env())


class GcTimer:
    """Seconds CPython's cyclic collector ran, through ``gc.callbacks``."""

    def __init__(self) -> None:
        self.total = 0.0
        self._start = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.total += time.perf_counter() - self._start

    def __enter__(self) -> GcTimer:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self)


async def measure(make: Callable[[], Awaitable[Any]], rounds: int) -> dict[str, float]:
    walls, cpus, child_cpus, gcs = [], [], [], []
    for _ in range(rounds):
        cpu0, child0, t0 = cpu_s(), cpu_s(resource.RUSAGE_CHILDREN), time.perf_counter()
        with GcTimer() as collector:
            await make()
        walls.append(time.perf_counter() - t0)
        cpus.append(cpu_s() - cpu0)
        child_cpus.append(cpu_s(resource.RUSAGE_CHILDREN) - child0)
        gcs.append(collector.total)
    return {
        "wall_s": statistics.median(walls),
        "cpu_s": statistics.median(cpus),
        "child_cpu_s": statistics.median(child_cpus),
        "gc_s": statistics.fmean(gcs),  # the mean: a full collection comes every few cycles
    }


@contextlib.contextmanager
def gc_settled(probes: int) -> Iterator[None]:
    """The collector settled for ``probes``, as ``talon run`` settles it; restored after."""
    pacing = GcPacing()
    pacing.settle(probes)
    try:
        yield
    finally:
        pacing.restore()


async def _talon(probes: list[ProbeSpec]) -> None:
    ctx = probe_context()
    report = await run_cycle(probes, ctx)
    bad = [r for r in report.results if r.status is not Status.OK and "hang" not in r.name]
    assert not bad, bad[:3]


async def _aiohttp(urls: list[str]) -> None:
    import aiohttp

    timeout = aiohttp.ClientTimeout(total=5)
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:

        async def one(url: str) -> int:
            async with session.get(url) as response:
                await response.read()
                return response.status

        statuses = await asyncio.gather(*(one(u) for u in urls))
    assert all(s == 200 for s in statuses)


def _startup_s(runs: int = 10) -> float:
    """Median wall time of the installed `talon --help`, a fresh interpreter each time."""
    import subprocess
    import sys
    from pathlib import Path

    talon = str(Path(sys.executable).with_name("talon"))
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([talon, "--help"], check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


async def main(rounds: int) -> None:
    with procs.farm("127.0.0.1:0") as [(host, port)]:
        base = f"http://{host}:{port}"
        http = [HttpProbe(name=f"h{i}", kind="http", url=f"{base}/ok") for i in range(1000)]
        tcp = [TcpProbe(name=f"t{i}", kind="tcp", address=f"{host}:{port}") for i in range(200)]
        scripts = [ScriptProbe(name=f"s{i}", kind="script", command="exit 0") for i in range(100)]
        hung = [
            HttpProbe(
                name=f"hang{i}" if i % 100 == 0 else f"h{i}",
                kind="http",
                url=f"{base}/hang" if i % 100 == 0 else f"{base}/ok",
                timeout_secs=HANG_TIMEOUT_S,
            )
            for i in range(1000)
        ]
        await _talon(http[:50])  # warm up imports, TLS-free paths, the farm
        defaults = await measure(lambda: _talon(http), rounds)
        with gc_settled(len(http)):
            paced = await measure(lambda: _talon(http), rounds)
        rows = {
            "http x1000 (talon)": (defaults, 1000),
            "http x1000 (talon, GC settled as in talon run)": (paced, 1000),
            "http x1000 (aiohttp baseline)": (
                await measure(lambda: _aiohttp([f"{base}/ok"] * 1000), rounds),
                1000,
            ),
            "tcp x200": (await measure(lambda: _talon(tcp), rounds), 200),
            "script x100": (await measure(lambda: _talon(scripts), rounds), 100),
            "mixed 1000 http + 200 tcp + 100 script": (
                await measure(lambda: _talon([*http, *tcp, *scripts]), rounds),
                1300,
            ),
            "http x1000, 1% hang (timeout 1 s)": (
                await measure(lambda: _talon(hung), rounds),
                1000,
            ),
        }
    print(
        f"{'scenario':47} {'wall s':>7} {'CPU ms/probe':>13} {'child CPU ms/probe':>19}"
        f" {'GC ms/cycle':>12}"
    )
    for name, (m, n) in rows.items():
        print(
            f"{name:47} {m['wall_s']:7.3f} {m['cpu_s'] / n * 1000:13.3f} "
            f"{m['child_cpu_s'] / n * 1000:19.3f} {m['gc_s'] * 1000:12.1f}"
        )
    talon, baseline = rows["http x1000 (talon)"][0], rows["http x1000 (aiohttp baseline)"][0]
    ratio = paced["cpu_s"] / talon["cpu_s"]
    print(f"\nCPU per HTTP check, GC settled / CPython's defaults: {ratio:.2f}")
    hang = rows["http x1000, 1% hang (timeout 1 s)"][0]
    print(f"CPU per HTTP check, talon / aiohttp: {talon['cpu_s'] / baseline['cpu_s']:.2f}")
    print(f"1% hang cycle overrun beyond the timeout: {hang['wall_s'] - HANG_TIMEOUT_S:.3f} s")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f} MiB")
    print(f"talon --help: {_startup_s() * 1000:.0f} ms (median of 10)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    asyncio.run(main(parser.parse_args().rounds))
