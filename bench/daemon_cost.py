"""The daemon's own cost (`make bench-daemon`; not a test).

Measures, in one run and on one machine, with a config of ``--probes`` cheap probes
(80% HTTP ``/ok``, 16% TCP connects, 4% ``exit 0`` scripts) against the loopback
target farm (``tests/support/farm.py``, its own process, so its CPU is not counted):

  rss      a real ``talon run`` (interval 1 s, /health and /metrics on): RSS after
           its first cycle and after ``--rss-cycles`` cycles; the floor beside it is
           a bare Python that imported asyncio (which loads ssl) and sleeps.
  cycles   RSS over ``--cycles`` cycles back to back: the real ``Daemon`` (its web
           server scraped once a cycle) in a child process whose interval is 0,
           ``--failing`` probes failing (an incident, a refused heal, a hold), RSS
           sampled every ``--every`` cycles; the slope after the warm-up, and
           tracemalloc's top growth when there is growth.
  idle     CPU of a real ``talon run`` at a 60 s interval over ``--idle-minutes``
           (psutil ``cpu_times`` of its pid, children, i.e. scripts, apart).
  startup  wall time of ``talon --help`` and of ``talon check`` on a 3-probe config
           beside a bare ``python -c pass``; ``-X importtime``'s top packages.
  step     the pure core: ``talon.core.step`` and ``diagnose`` on reports of 50, 200
           and 1000 results, per call and per probe, beside the CPU of one HTTP check
           through the real runner.

``--parts`` picks some of them (default: all). The daemon's processes are stopped
by their pid.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.peers.common import status_kib

ROOT = Path(__file__).resolve().parents[1]
PARTS = ("rss", "cycles", "idle", "startup", "step")
WARMUP_FRACTION = 0.1  # of --cycles: lazy imports, first renders, arenas settle
GROWTH_KIB = 1024  # after the warm-up, more than this is growth worth tracing
MIB = 1024 * 1024


# ------------------------------------------------------------------ helpers
def _rss_kib(pid: int | str = "self") -> int:
    return status_kib(pid, "VmRSS")


def _rollup(pid: int) -> dict[str, int]:
    """``/proc/PID/smaps_rollup`` in KiB: anonymous (the heap) and file-backed pages."""
    out = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, _, value = line.partition(":")
        out[key] = int(value.split()[0])
    return out


def _mib(kib: float) -> str:
    return f"{kib / 1024:.1f}"


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _env(home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "TALON_STATE_DIR": str(home / "state"),
        "TALON_LOG_DIR": str(home / "log"),
        "NODE_ID": "bench-node",
    }


def write_config(
    home: Path,
    target: tuple[str, int],
    *,
    probes: int,
    interval: int,
    health_port: int,
    failing: int = 0,
) -> Path:
    """``config.toml`` and ``services.toml`` in ``home/config``: the probe mix above.

    ``failing`` of the HTTP probes fail: every other one a 500 (a warning), the rest
    critical connects to a port nothing listens on (an incident, a refused restart,
    then a hold): the paths a long-running node with a standing fault takes.
    """
    from talon.lab.substrate import render_toml
    from tests.support.procs import free_port

    host, port = target
    config = home / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    settings = {
        "": {"check_interval_secs": interval},
        "health": {"bind": f"127.0.0.1:{health_port}"},
        "process_manager": {"kind": "null"},
    }
    config.write_text(render_toml(settings))
    scripts = max(1, probes * 4 // 100)
    tcp = max(1, probes * 16 // 100)
    http = probes - scripts - tcp
    sections = [f'[http.h{i}]\nurl = "http://{host}:{port}/ok"\n' for i in range(http - failing)]
    for i in range(failing):
        if i % 2 == 0:
            sections.append(f'[http.fail{i}]\nurl = "http://{host}:{port}/fail"\n')
        else:
            refused = f"127.0.0.1:{free_port()}"
            sections.append(f'[tcp.down{i}]\naddress = "{refused}"\ncritical = true\n')
    sections += [f'[tcp.t{i}]\naddress = "{host}:{port}"\n' for i in range(tcp)]
    sections += [f'[script.s{i}]\ncommand = "exit 0"\n' for i in range(scripts)]
    (config.parent / "services.toml").write_text("\n".join(sections))
    return config


@contextmanager
def _farm() -> Iterator[tuple[str, int]]:
    from tests.support import procs

    with procs.farm("127.0.0.1:0") as [target]:
        yield target


@contextmanager
def _talon_run(target: tuple[str, int], probes: int, interval: int) -> Iterator[Any]:
    """A real ``talon run`` in a temporary home, after its first cycle; stopped by pid."""
    from talon.lab.daemon import LabDaemon
    from tests.support.procs import free_port

    with tempfile.TemporaryDirectory(prefix="talon-bench-") as tmp:
        home = Path(tmp)
        health = free_port()
        config = write_config(home, target, probes=probes, interval=interval, health_port=health)
        run = LabDaemon(None, home / "talon", config=config, health_port=health)
        run.env.update({"NODE_ID": "bench-node"})
        with run.running():
            yield run


def _cycles_done(port: int) -> int:
    """``talon_cycle_duration_seconds_count`` from the daemon's /metrics."""
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    for line in text.splitlines():
        if line.startswith("talon_cycle_duration_seconds_count"):
            return int(float(line.rsplit(" ", 1)[1]))
    return 0


def _health_port(run: Any) -> int:
    port: int = run._health_port
    return port


# ---------------------------------------------------------------- (a) rss
# The libraries the project prescribes for the daemon, with nothing of Talon: pydantic
# with one model (its schema machinery loads with the first), aiohttp's client and server,
# structlog (without rich, as talon.logs imports it), prometheus_client, click, psutil,
# platformdirs. What Talon's own code and data add is the daemon's RSS minus this.
LIBRARIES = """
import sys, asyncio
from pydantic import BaseModel
class One(BaseModel):
    x: int = 1
import aiohttp, aiohttp.web
sys.modules["rich"] = None
import structlog
del sys.modules["rich"]
import prometheus_client, click, psutil, platformdirs
"""


def _resting_rss_kib(code: str) -> int:
    """RSS of a fresh interpreter that ran ``code`` and then sleeps; stopped by its pid."""
    from tests.support.procs import stop

    script = code + "\nimport time; print(flush=True); time.sleep(600)\n"
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        proc.stdout.readline()  # imported
        return _rss_kib(proc.pid)
    finally:
        stop(proc)


def bench_rss(target: tuple[str, int], probes: int, cycles: int) -> dict[str, Any]:
    floor_kib = _resting_rss_kib("import asyncio")
    libraries_kib = _resting_rss_kib(LIBRARIES)
    with _talon_run(target, probes, interval=1) as run:
        port = _health_port(run)
        first = _rss_kib(run.pid)
        deadline = time.monotonic() + cycles * 3 + 30
        while _cycles_done(port) < cycles and time.monotonic() < deadline:
            time.sleep(0.5)
        done = _cycles_done(port)
        rollup = _rollup(run.pid)
        threads = len(os.listdir(f"/proc/{run.pid}/task"))
    after = rollup["Rss"]
    return {
        "floor_kib": floor_kib,
        "libraries_kib": libraries_kib,
        "first_kib": first,
        "after_kib": after,
        "cycles": done,
        "growth_kib": after - first,
        "anon_kib": rollup["Anonymous"],
        "file_kib": after - rollup["Anonymous"],
        "threads": threads,
    }


# ------------------------------------------------------------- (b) cycles
def bench_cycles(
    target: tuple[str, int],
    probes: int,
    cycles: int,
    every: int,
    *,
    failing: int,
    trace: bool = False,
) -> dict[str, Any]:
    from tests.support.procs import free_port

    with tempfile.TemporaryDirectory(prefix="talon-bench-") as tmp:
        home = Path(tmp)
        config = write_config(
            home, target, probes=probes, interval=1, health_port=free_port(), failing=failing
        )
        cmd = [sys.executable, "-m", "bench.daemon_cost", "drive", str(config)]
        cmd += ["--cycles", str(cycles), "--every", str(every)]
        if trace:
            cmd.append("--trace")
        with open(home / "stderr", "w+") as err:  # a log line or two per cycle
            proc = subprocess.run(
                cmd, cwd=ROOT, env=_env(home), stdout=subprocess.PIPE, stderr=err, text=True
            )
            if proc.returncode != 0:
                err.seek(0)
                raise RuntimeError(f"the driven daemon failed:\n{err.read()[-3000:]}")
    samples = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    top = [line for line in proc.stdout.splitlines() if line.startswith("  ")]
    warm = max(every, int(cycles * WARMUP_FRACTION))
    steady = [s for s in samples if s["cycle"] >= warm]
    slope = 0.0
    if len(steady) >= 2:
        fit = statistics.linear_regression(
            [s["cycle"] for s in steady], [s["rss_kib"] for s in steady]
        )
        slope = fit.slope * 1000  # KiB per 1000 cycles
    growth = steady[-1]["rss_kib"] - steady[0]["rss_kib"] if steady else 0
    return {
        "failing": failing,
        "samples": samples,
        "warmup": warm,
        "slope_kib_per_1000": slope,
        "growth_kib": growth,
        "top": top,
    }


def drive(config: Path, cycles: int, every: int, trace: bool) -> None:
    """The child of ``bench_cycles``: the real Daemon, its interval 0, sampled as it goes."""
    import gc
    import tracemalloc

    from talon.config import load
    from talon.daemon.loop import Daemon
    from talon.node import NodeIdentity

    if trace:
        tracemalloc.start(8)
    loaded = load(config, identity=NodeIdentity.detect())
    bind = loaded.config.health.bind
    warm = max(every, int(cycles * WARMUP_FRACTION))

    async def get(path: str) -> None:
        host, port = bind.rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        await reader.read()
        writer.close()
        await writer.wait_closed()

    class Driven(Daemon):
        done = 0
        base: Any = None

        def interval(self) -> float:
            return 0.0

        async def _cycle(self) -> None:
            await super()._cycle()
            self.done += 1
            await get("/metrics")  # Prometheus scrapes; /health and the page less often
            if self.done % 10 == 0:
                await get("/health")
                await get("/status.json")
            if self.done % every == 0 or self.done == 1:
                sample = {
                    "cycle": self.done,
                    "rss_kib": _rss_kib(),
                    "objects": len(gc.get_objects()) + gc.get_freeze_count(),  # frozen too
                    "t": time.monotonic(),
                }
                print(json.dumps(sample), flush=True)
            if trace and self.done == warm:
                self.base = tracemalloc.take_snapshot()
            if self.done >= cycles:
                asyncio.get_running_loop().call_soon(self.stop, "bench")

    daemon = Driven(loaded, config_path=config)
    asyncio.run(daemon.run())
    if trace and daemon.base is not None:
        end = tracemalloc.take_snapshot()
        for stat in end.compare_to(daemon.base, "traceback")[:8]:
            print(f"  {stat.size_diff / 1024:+.1f} KiB {stat.count_diff:+d} blocks")
            for frame in stat.traceback.format()[-6:]:
                print(f"    {frame}")


# --------------------------------------------------------------- (c) idle
def bench_idle(target: tuple[str, int], probes: int, minutes: float) -> dict[str, Any]:
    import psutil

    with _talon_run(target, probes, interval=60) as run:
        port = _health_port(run)
        first = _cycles_done(port)  # also warms the /metrics path before the window
        proc = psutil.Process(run.pid)
        t0, c0 = time.monotonic(), proc.cpu_times()
        time.sleep(minutes * 60)
        wall, c1 = time.monotonic() - t0, proc.cpu_times()
        cycles = _cycles_done(port) - first
        rss = _rss_kib(run.pid)
    own = (c1.user - c0.user) + (c1.system - c0.system)
    children = (c1.children_user - c0.children_user) + (c1.children_system - c0.children_system)
    return {
        "wall_s": wall,
        "cycles": cycles,
        "cpu_s": own,
        "child_cpu_s": children,
        "cpu_s_per_hour": own / wall * 3600,
        "child_cpu_s_per_hour": children / wall * 3600,
        "percent": own / wall * 100,
        "ms_per_cycle": own / cycles * 1000 if cycles else float("nan"),
        "rss_kib": rss,
    }


# ------------------------------------------------------------ (d) startup
def _wall(cmd: list[str], runs: int, env: dict[str, str] | None = None) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, capture_output=True, env=env, check=False)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _importtime(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, list[Any]]:
    """Total import time (s) and the packages that cost most (self time, summed)."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", *cmd], capture_output=True, text=True, env=env
    )
    by_package: dict[str, int] = {}
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, _, name = line[len("import time:") :].split("|")
        package = name.strip().split(".")[0]
        by_package[package] = by_package.get(package, 0) + int(own)
    total = sum(by_package.values()) / 1e6
    top = sorted(by_package.items(), key=lambda kv: -kv[1])[:8]
    return total, [(name, us / 1000) for name, us in top]


def bench_startup(target: tuple[str, int], runs: int = 10) -> dict[str, Any]:
    from tests.support.procs import free_port

    talon = str(Path(sys.executable).with_name("talon"))
    with tempfile.TemporaryDirectory(prefix="talon-bench-") as tmp:
        home = Path(tmp)
        config = write_config(home, target, probes=3, interval=60, health_port=free_port())
        env = _env(home)
        check = [talon, "--config", str(config), "check"]
        out = {
            "python_pass_s": _wall([sys.executable, "-c", "pass"], runs),
            "help_s": _wall([talon, "--help"], runs),
            "check_s": _wall(check, runs, env),
            "help_imports": _importtime(["-m", "talon", "--help"]),
            "check_imports": _importtime(["-m", "talon", "--config", str(config), "check"], env),
        }
    return out


# --------------------------------------------------------------- (e) step
def _time_per_call(fn: Any, min_s: float = 0.3) -> float:
    """Median seconds per call over 5 batches of at least ``min_s`` each."""
    calls = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        if time.perf_counter() - t0 >= min_s / 5:
            break
        calls *= 2
    batches = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        batches.append((time.perf_counter() - t0) / calls)
    return statistics.median(batches)


def bench_step(target: tuple[str, int]) -> dict[str, Any]:
    from talon.core import ActionOutcome, ActionStatus, CoreState, Facts, Report, diagnose, step
    from talon.core.model import HEALS
    from tests.core.sim import config, down, policy, up

    rows = []
    for n in (50, 200, 1000):
        keys = [f"http.h{i}" for i in range(n)]
        cfg = config(*(policy(k, critical=i % 10 == 0) for i, k in enumerate(keys)))
        for scenario, failing in (("all passing", 0), ("10% failing", n // 10)):
            results = tuple(down(k) if i < failing else up(k) for i, k in enumerate(keys))
            report = Report(results, Facts(), stamp="bench")
            state, now = CoreState(), 1_000_000.0
            for _ in range(5):  # past the debounce: an incident is open when some fail
                now += 60
                done = step(state, report, (), now, cfg)
                # as the daemon does: the heals' outcomes reach the core in the same cycle
                healed = [
                    ActionOutcome(a.key, ActionStatus.DONE, at=now)
                    for a in done.actions
                    if a.kind in HEALS
                ]
                state = step(done.state, None, healed, now, cfg).state

            per_step = _time_per_call(functools.partial(step, state, report, (), now + 60, cfg))
            per_diag = _time_per_call(functools.partial(diagnose, report, now, cfg))
            rows.append((n, scenario, per_step, per_diag))
    http_cpu = asyncio.run(_http_check_cpu(target))
    return {"rows": rows, "http_check_cpu_s": http_cpu}


async def _http_check_cpu(target: tuple[str, int], n: int = 200, rounds: int = 5) -> float:
    """CPU of one HTTP check through the real runner (what `talon check` runs), median."""
    from bench.probe_cycle import measure, probe_context
    from talon.config import HttpProbe
    from talon.probes import run_cycle

    host, port = target
    url = f"http://{host}:{port}/ok"
    probes = [HttpProbe(name=f"h{i}", kind="http", url=url) for i in range(n)]
    ctx = probe_context()
    await run_cycle(probes, ctx)  # warm: lazy imports, caches
    return (await measure(lambda: run_cycle(probes, ctx), rounds))["cpu_s"] / n


# ---------------------------------------------------------------- report
def _print_rss(r: dict[str, Any]) -> None:
    print("\n## RSS of a real `talon run`")
    print(f"  bare python + asyncio (floor): {_mib(r['floor_kib'])} MiB")
    print(f"  + the prescribed libraries:    {_mib(r['libraries_kib'])} MiB (no Talon code)")
    print(f"  after the first cycle:         {_mib(r['first_kib'])} MiB")
    print(
        f"  after {r['cycles']} cycles:            {_mib(r['after_kib'])} MiB "
        f"(anonymous {_mib(r['anon_kib'])}, file-backed {_mib(r['file_kib'])}; "
        f"{r['threads']} thread(s))"
    )
    print(f"  growth:                        {r['growth_kib']:+d} KiB")
    print(f"  daemon / floor:                {r['after_kib'] / r['floor_kib']:.2f}")
    met = "met" if r["after_kib"] * 1024 < 45e6 else "NOT met"
    print(f"  goal < 45 MB (42.9 MiB):       {met}")
    talon = r["after_kib"] - r["libraries_kib"]
    print(f"  Talon's own share:             {_mib(talon)} MiB (daemon - libraries)")
    if r["libraries_kib"] * 1024 >= 45e6:
        print("  (the prescribed libraries alone are over the goal)")


def _print_cycles(r: dict[str, Any], cycles: int) -> None:
    print(
        f"\n## RSS over {cycles} cycles back to back (real Daemon, interval 0, "
        f"{r['failing']} probes failing)"
    )
    print(f"  {'cycle':>7} {'RSS MiB':>8} {'objects':>8} {'s':>7}")
    t0 = r["samples"][0]["t"] if r["samples"] else 0.0
    for s in r["samples"]:
        print(f"  {s['cycle']:7d} {_mib(s['rss_kib']):>8} {s['objects']:8d} {s['t'] - t0:7.1f}")
    print(
        f"  after the warm-up ({r['warmup']} cycles): growth {r['growth_kib']:+d} KiB, slope "
        f"{r['slope_kib_per_1000']:+.1f} KiB per 1000 cycles"
    )
    for line in r["top"]:
        print(line)


def _print_idle(r: dict[str, Any], probes: int) -> None:
    print(f"\n## Idle CPU of `talon run`, {probes} probes, 60 s interval")
    print(f"  window {r['wall_s']:.0f} s, {r['cycles']} cycles, RSS {_mib(r['rss_kib'])} MiB")
    print(
        f"  daemon: {r['cpu_s']:.2f} CPU s = {r['cpu_s_per_hour']:.1f} CPU s/hour = "
        f"{r['percent']:.3f}% of one core; {r['ms_per_cycle']:.1f} ms per cycle"
    )
    print(f"  its scripts (children): {r['child_cpu_s_per_hour']:.1f} CPU s/hour")


def _print_startup(r: dict[str, Any]) -> None:
    print("\n## Start-up (median wall time)")
    base = r["python_pass_s"]
    print(f"  python -c pass:  {base * 1000:6.0f} ms")
    print(f"  talon --help:    {r['help_s'] * 1000:6.0f} ms ({r['help_s'] / base:.1f}x python)")
    print(f"  talon check (3): {r['check_s'] * 1000:6.0f} ms ({r['check_s'] / base:.1f}x python)")
    for name in ("help_imports", "check_imports"):
        total, top = r[name]
        what = "talon --help" if name == "help_imports" else "talon check"
        print(f"  {what}: imports {total * 1000:.0f} ms; top packages (self time):")
        print("    " + ", ".join(f"{pkg} {ms:.0f}" for pkg, ms in top))


def _print_step(r: dict[str, Any]) -> None:
    print("\n## The core (pure): per call and per probe")
    http = r["http_check_cpu_s"]
    print(
        f"  {'probes':>6} {'scenario':12} {'step us':>9} {'us/probe':>9} {'diagnose us':>12} "
        f"{'step/probe ÷ HTTP check':>24}"
    )
    for n, scenario, per_step, per_diag in r["rows"]:
        print(
            f"  {n:6d} {scenario:12} {per_step * 1e6:9.0f} {per_step / n * 1e6:9.2f} "
            f"{per_diag * 1e6:12.0f} {per_step / n / http:24.3f}"
        )
    print(f"  one HTTP check through the runner: {http * 1e6:.0f} us CPU (same run)")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "drive":
        p = argparse.ArgumentParser(prog="bench.daemon_cost drive")
        p.add_argument("config", type=Path)
        p.add_argument("--cycles", type=int, required=True)
        p.add_argument("--every", type=int, required=True)
        p.add_argument("--trace", action="store_true")
        a = p.parse_args(sys.argv[2:])
        drive(a.config, a.cycles, a.every, a.trace)
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", default=",".join(PARTS), help=f"any of {','.join(PARTS)}")
    parser.add_argument("--probes", type=int, default=50)
    parser.add_argument("--rss-cycles", type=int, default=60)
    parser.add_argument("--cycles", type=int, default=10_000)
    parser.add_argument("--every", type=int, default=500)
    parser.add_argument(
        "--failing", type=int, default=2, help="probes that fail in the cycles part (default 2)"
    )
    parser.add_argument("--idle-minutes", type=float, default=10.0)
    args = parser.parse_args()
    parts = [p for p in args.parts.split(",") if p]
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts: {', '.join(sorted(unknown))}")
    python = sys.version.split()[0]
    print(f"load average at start: {_load()}; {os.cpu_count()} CPUs; Python {python}")
    with _farm() as target:
        if "startup" in parts:
            _print_startup(bench_startup(target))
        if "step" in parts:
            _print_step(bench_step(target))
        if "rss" in parts:
            _print_rss(bench_rss(target, args.probes, args.rss_cycles))
        if "cycles" in parts:
            result = bench_cycles(
                target, args.probes, args.cycles, args.every, failing=args.failing
            )
            if result["growth_kib"] > GROWTH_KIB:
                traced = min(args.cycles, 3000)
                every = max(100, traced // 10)
                result["top"] = bench_cycles(
                    target, args.probes, traced, every, failing=args.failing, trace=True
                )["top"]
            _print_cycles(result, args.cycles)
        if "idle" in parts:
            _print_idle(bench_idle(target, args.probes, args.idle_minutes), args.probes)
    print(f"\nload average at end: {_load()}")


if __name__ == "__main__":
    main()
