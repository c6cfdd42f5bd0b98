"""The floor under an HTTP check: the bare socket calls, beside Talon's runner (not a test).

For each event loop (stock asyncio, and uvloop when it is installed), in one run:

  - *bare*: 1000 checks of ``/ok`` on the target farm doing only the socket calls the
    HTTP probe makes on the loop's low-level socket API (``talon.probes.net.connect``:
    ``socket``, a non-blocking ``connect_ex``, ``send`` of the request bytes at once;
    then ``sock_recv`` until the peer closes, ``close``), all under one ``gather`` (a
    task per check, as in the runner): no bulkhead, no timeout, no parsing, no result;
  - *runner*: the same 1000 checks as HTTP probes through ``talon.probes.run_cycle``
    (the code of ``talon check`` and the daemon), with the collector settled as
    ``talon run`` settles it.

CPU per check is the median of ``--rounds`` cycles of each, the two alternated
(getrusage of this process; the farm runs in its own). The difference is what
Talon's runner adds per check (the bulkhead, the timeout, the endpoint plan, the
parser, the result objects).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
from collections.abc import Callable
from typing import Any

from bench.probe_cycle import gc_settled, measure, probe_context
from talon.config import HttpProbe
from talon.probes import Status, run_cycle
from talon.probes.net import connect
from tests.support import procs

CHECKS = 1000


async def _bare_check(host: str, port: int, request: bytes) -> int:
    conn = await connect(host, port, first=request)  # the socket calls, as the probe makes them
    try:
        got = 0
        while chunk := await conn.recv():
            got += len(chunk)
        return got
    finally:
        conn.close()


async def _bare(host: str, port: int) -> None:
    request = f"GET /ok HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode()
    sizes = await asyncio.gather(*(_bare_check(host, port, request) for _ in range(CHECKS)))
    assert all(sizes), "a bare check read nothing"


async def _one_loop(host: str, port: int, rounds: int) -> dict[str, float]:
    probes = [
        HttpProbe(name=f"h{i}", kind="http", url=f"http://{host}:{port}/ok") for i in range(CHECKS)
    ]
    ctx = probe_context()

    async def runner() -> None:
        report = await run_cycle(probes, ctx)
        assert all(r.status is Status.OK for r in report.results)

    await _bare(host, port)  # warm: the farm's accept queue, lazy imports, caches
    await runner()
    bare, ran = [], []
    with gc_settled(CHECKS):
        for _ in range(rounds):  # alternated, so that drift touches both alike
            bare.append((await measure(lambda: _bare(host, port), 1))["cpu_s"])
            ran.append((await measure(runner, 1))["cpu_s"])
    ms_per_check = 1000 / CHECKS  # seconds of a cycle -> ms per check
    return {
        "bare_ms": statistics.median(bare) * ms_per_check,
        "runner_ms": statistics.median(ran) * ms_per_check,
    }


def _loops() -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    loops: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {"asyncio": asyncio.new_event_loop}
    try:
        import uvloop
    except ImportError:
        print("uvloop is not installed (the talon[uvloop] extra): its row is left out")
    else:
        loops["uvloop"] = uvloop.new_event_loop
    return loops


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=9)
    rounds = parser.parse_args().rounds
    from talon.probes.aio import raise_open_file_limit

    raise_open_file_limit()  # 1000 sockets at once
    rows: dict[str, Any] = {}
    with procs.farm("127.0.0.1:0") as [(host, port)]:
        for name, factory in _loops().items():
            with asyncio.Runner(loop_factory=factory) as runner:
                rows[name] = runner.run(_one_loop(host, port, rounds))
    print(f"\nCPU per HTTP check, ms ({CHECKS} at once, median of {rounds} cycles)")
    print(f"{'loop':10} {'bare socket calls':>18} {'talon runner':>13} {'runner adds':>12}")
    for name, r in rows.items():
        adds = r["runner_ms"] - r["bare_ms"]
        print(f"{name:10} {r['bare_ms']:18.3f} {r['runner_ms']:13.3f} {adds:12.3f}")


if __name__ == "__main__":
    main()
