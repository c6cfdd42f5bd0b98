"""Talon vs Monit vs the Prometheus blackbox exporter, side by side (`make bench`; not a test).

One target farm on loopback (`bench.peers.farm`: HTTP that answers, fails on
demand or hangs; TCP) plus a real redis-server, and the same checks configured
for each tool, run one tool at a time in the same run:

  - wall time of one full cycle at 50, 200 and 1000 HTTP checks, and at 1000
    with 1% hanging (timeout 1 s);
  - CPU per check (user+sys of the daemon and the scripts it reaped) for HTTP,
    TCP, script and redis checks;
  - peak RSS (VmHWM) of the daemon;
  - detection latency: a target is switched to failing at a random moment and
    the time until the tool reports it is taken, at the same interval for all.

Prints a table of ratios Talon/peer and the issue's goals, met or not, and
writes the raw figures to bench-results/compare-<UTC time>.json. How each tool
is driven and measured: bench/peers/{talon,monit,blackbox}.py.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.peers.blackbox import Blackbox
from bench.peers.common import Check, Peer, Throughput
from bench.peers.farm import Farm
from bench.peers.monit import Monit
from bench.peers.report import HANG, HANG_TIMEOUT_S, goals, table
from bench.peers.talon import Talon
from talon.probes.aio import raise_open_file_limit
from tests.support import procs

ROOT = Path(__file__).resolve().parents[1]

LATENCY_CHECKS = 50
LATENCY_TARGET = 17


@dataclass(frozen=True)
class Scenario:
    name: str
    checks: list[Check]
    rounds: int


def http(n: int, farm: str, hang_every: int = 0) -> list[Check]:
    """``n`` checks of ``/ok/I``; with ``hang_every``, every such one hangs (timeouts 1 s)."""
    timeout = HANG_TIMEOUT_S if hang_every else 5.0
    return [
        Check(f"hang{i}", "http", farm, f"/hang/{i}", timeout_s=timeout)
        if hang_every and i % hang_every == 0
        else Check(f"h{i}", "http", farm, f"/ok/{i}", timeout_s=timeout)
        for i in range(n)
    ]


def scenarios(farm: str, redis: str, quick: bool) -> list[Scenario]:
    """Each with its cycles per tool, full and quick (0: not in the quick run)."""
    # first and last, so that Monit's cycles can be counted and timed at the farm
    first, last = Check("first", "tcp", farm), Check("last", "tcp", farm)
    scripts = [Check(f"s{i}", "script", command="exit 0") for i in range(100)]
    redis_checks = [Check(f"r{i}", "redis", redis) for i in range(20)]
    table = [
        ("http x50", http(50, farm), 20, 5),
        ("http x200", http(200, farm), 10, 3),
        ("http x1000", http(1000, farm), 5, 0),
        (HANG, http(1000, farm, hang_every=100), 2, 1),
        ("tcp x200", [Check(f"t{i}", "tcp", farm) for i in range(200)], 10, 0),
        ("script x100", [first, *scripts, last], 10, 3),
        ("redis x20", [first, *redis_checks, last], 20, 0),
    ]
    return [
        Scenario(name, checks, quick_rounds if quick else rounds)
        for name, checks, rounds, quick_rounds in table
        if rounds and (quick_rounds or not quick)
    ]


@contextlib.contextmanager
def farm_process() -> Iterator[Farm]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.peers.farm"], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert line.startswith("READY "), f"the farm did not start: {line!r}"
        _, port, control = line.split()
        yield Farm(int(port), int(control))
    finally:
        procs.stop(proc)


def _versions() -> dict[str, str]:
    from talon import __version__

    def first_line(*cmd: str) -> str:
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        except OSError as exc:
            return repr(exc)
        return (out.stdout or out.stderr).splitlines()[0].strip()

    return {
        "talon": __version__,
        "python": platform.python_version(),
        "monit": first_line("monit", "-V"),
        "blackbox": first_line("prometheus-blackbox-exporter", "--version"),
    }


def _summary(t: Throughput) -> dict[str, Any]:
    walls = t.cycle_walls_s
    return {
        "cycle_wall_s": statistics.median(walls) if walls else None,
        "cycle_walls_s": walls,
        "cpu_ms_per_check": t.cpu_ms_per_check,
        "cpu_s": t.cpu_s,
        "children_cpu_s": t.children_cpu_s,
        "children_ms_per_check": (
            t.children_cpu_s / t.checks_run * 1000 if t.children_cpu_s and t.checks_run else None
        ),
        "checks_run": t.checks_run,
        "rss_peak_mb": t.rss_peak_kb / 1024 if t.rss_peak_kb else None,
        "false_failures": t.false_failures,
        "notes": t.notes,
    }


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    results: dict[str, Any] = {
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "load_before": os.getloadavg(),
        "args": vars(args),
        "versions": _versions(),
        "cpus": os.cpu_count(),
        "interval_s": args.interval,
        "scenarios": {},
        "latency": {},
    }
    with (
        farm_process() as farm,
        procs.redis_server(work) as redis_port,
    ):
        peers: list[Peer] = [
            p
            for p in (Talon(), Talon(uvloop=True), Monit(farm), Blackbox())
            if not args.tools or p.name in args.tools
        ]
        address = farm.address
        for s in scenarios(address, f"127.0.0.1:{redis_port}", args.quick):
            if args.only and not any(word in s.name for word in args.only):
                continue
            row: dict[str, Any] = {"checks": len(s.checks)}
            for peer in peers:
                if why := peer.unsupported(s.checks):
                    row[peer.name] = {"unsupported": why}
                    continue
                t0 = time.monotonic()
                t = peer.throughput(
                    s.checks,
                    rounds=s.rounds,
                    interval=1,
                    work=work / f"{s.name.split(',')[0].replace(' ', '-')}-{peer.name}",
                )
                row[peer.name] = _summary(t)
                print(
                    f"  {s.name:28} {peer.name:9} {_brief(row[peer.name])}"
                    f"  ({time.monotonic() - t0:.0f} s)",
                    flush=True,
                )
            row["load_1min"] = os.getloadavg()[0]
            results["scenarios"][s.name] = row
        checks = [Check(f"c{i}", "http", address, f"/t/c{i}") for i in range(LATENCY_CHECKS)]
        target = checks[LATENCY_TARGET]
        # latency is the interval's, not the loop's: the uvloop variant is not timed again
        for peer in [p for p in peers if p.name != "uvloop"] if args.latency else []:
            lat = peer.latency(
                checks,
                target,
                interval=args.interval,
                trials=args.trials,
                work=work / f"latency-{peer.name}",
                switch=farm,
            )
            results["latency"][peer.name] = {
                "median_s": statistics.median(lat),
                "max_s": max(lat),
                "trials_s": lat,
            }
            print(
                f"  {'latency':28} {peer.name:9} median {statistics.median(lat):.2f} s,"
                f" max {max(lat):.2f} s",
                flush=True,
            )
    results["load_after"] = os.getloadavg()
    results["goals"] = goals(results)
    return results


def _brief(m: dict[str, Any]) -> str:
    parts = []
    if m.get("cycle_wall_s") is not None:
        parts.append(f"cycle {m['cycle_wall_s']:.3f} s")
    if m.get("cpu_ms_per_check") is not None:
        parts.append(f"CPU {m['cpu_ms_per_check']:.3f} ms/check")
    if m.get("rss_peak_mb") is not None:
        parts.append(f"RSS {m['rss_peak_mb']:.1f} MB")
    return ", ".join(parts)


def _words(text: str) -> list[str]:
    return [w.strip() for w in text.split(",") if w.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="fewer rounds; no 1000-check runs except the hanging one, no TCP or redis",
    )
    parser.add_argument("--interval", type=int, default=2, help="check interval for latency (s)")
    parser.add_argument("--trials", type=int, help="latency trials per tool (8, quick 3)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results")
    parser.add_argument(
        "--only", type=_words, default=[], help="scenarios whose name contains one of these (a,b)"
    )
    parser.add_argument(
        "--tools", type=_words, default=[], help="some of talon,uvloop,monit,blackbox"
    )
    parser.add_argument(
        "--no-latency", dest="latency", action="store_false", help="skip the latency trials"
    )
    args = parser.parse_args()
    args.trials = args.trials or (3 if args.quick else 8)
    raise_open_file_limit(16_384)  # 1000 connections at once, here, in the farm and in the exporter
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="talon-compare-") as tmp:
        results = run(args, Path(tmp))
    results["duration_s"] = round(time.monotonic() - t0, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = args.out / f"compare-{stamp}{'-quick' if args.quick else ''}.json"
    path.write_text(json.dumps(results, indent=1, default=str) + "\n")
    print()
    print(table(results))
    print(f"\nraw figures: {path} ({results['duration_s']:.0f} s)")


if __name__ == "__main__":
    main()
