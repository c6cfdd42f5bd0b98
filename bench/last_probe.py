"""Benchmark writing ``last-probe.json`` at 100, 1000 and 5000 probes (`make bench-store`).

What the daemon does after every cycle (``StateStore.save_report(report_json(report))``):
build the ``talon.check/v1`` dict, serialise it compactly, replace the file atomically
without fsync. Measured in one run, per size, the median of ``--rounds`` writes:

  - build: ``report_json`` (the dicts);
  - dump: ``json.dumps`` (json's C encoder);
  - write: ``atomic_write`` (temp file, write, rename; not durable);
  - total, and its ratio to the baseline: writing the same bytes to a file that is
    already open (the floor of any way to keep the file current);
  - paced: what the daemon spends per cycle since, when no probe's outcome changed
    (``talon.daemon.report_pace``: above 500 probes, only the comparison).

Each probe is an HTTP probe with one path, as a typical large config has. Not a test:
the figures depend on the machine; the decision they informed is in docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from talon.daemon.report_pace import ReportPace
from talon.report import CycleReport, PathOutcome, ProbeResult, Status, report_json
from talon.store.state import StateStore

SIZES = (100, 1000, 5000)


def cycle(count: int) -> CycleReport:
    results = tuple(
        ProbeResult(
            key=f"http.svc{i}",
            name=f"svc{i}",
            kind="http",
            probe_class="service",
            layer="service",
            critical=i % 10 == 0,
            informational=False,
            tags=("web",),
            status=Status.OK,
            message="HTTP 200",
            error_kind=None,
            latency_ms=1.234,
            endpoint_class="localhost",
            paths=(PathOutcome("localhost", f"127.0.0.1:{8000 + i % 1000}", True, 1.2),),
            node_id="bench",
            platform="linux",
        )
        for i in range(count)
    )
    return CycleReport("bench", "linux", "x86_64", 1.0, 2.0, results)


def median_ms(fn: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def measure(count: int, rounds: int, directory: Path) -> dict[str, float]:
    report = cycle(count)
    store = StateStore(directory)
    doc = report_json(report)
    data = json.dumps(doc, separators=(",", ":")).encode()
    floor_path = directory / "floor.json"
    pace = ReportPace()
    pace.due(report, 0.0)  # the first write
    fd = os.open(floor_path, os.O_WRONLY | os.O_CREAT, 0o600)

    def paced() -> None:  # what Outputs.persist does since
        if pace.due(report, 1.0):
            store.save_report(report_json(report))

    def floor() -> None:
        os.pwrite(fd, data, 0)
        os.ftruncate(fd, len(data))

    try:
        figures = {
            "build": median_ms(lambda: report_json(report), rounds),
            "dump": median_ms(lambda: json.dumps(doc, separators=(",", ":")), rounds),
            "write": median_ms(lambda: store.save_report(doc), rounds),
            "total": median_ms(lambda: store.save_report(report_json(report)), rounds),
            "floor": median_ms(floor, rounds),
            "paced": median_ms(paced, rounds),
            "kib": len(data) / 1024,
        }
    finally:
        os.close(fd)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="talon-bench-") as tmp:
        rows = {n: measure(n, args.rounds, Path(tmp)) for n in SIZES}
    print(f"last-probe.json, median of {args.rounds} writes (ms)")
    print(
        "| probes | KiB | build | dump | write | total | floor | total/floor "
        "| ms/1000 probes | paced |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for n, f in rows.items():
        print(
            f"| {n} | {f['kib']:.0f} | {f['build']:.2f} | {f['dump']:.2f} | {f['write']:.2f} "
            f"| {f['total']:.2f} | {f['floor']:.3f} | {f['total'] / f['floor']:.0f} "
            f"| {f['total'] / n * 1000:.2f} | {f['paced']:.2f} |"
        )


if __name__ == "__main__":
    main()
