"""CPU of one script check: Talon vs a bare spawn vs Monit (`make bench-worker`; not a test).

Every tool runs the same check, ``sh -c 'echo x >> COUNT'`` (a shell builtin: one
process per check, and COUNT says how many checks really ran), and the figure
is CPU per check: the tool's own user+sys, and its children's (the shells),
from getrusage / psutil.

- floor: ``os.posix_spawn`` of the shell and ``waitpid``, from Python, one at a
  time: the least a Python process pays to run a script;
- talon: ``--probes`` script probes through the real runner (``run_cycle``, the
  code of ``talon check`` and the daemon), the median of ``--rounds`` cycles,
  once with Python 3.11's default child watcher (a thread per child) and once
  inside ``talon.adapters.command.child_watcher()`` (pidfds), as ``talon run``
  and ``talon check`` now run;
- monit: the same number of ``check program`` entries, ``set daemon 1``, for
  ``--monit-seconds``; CPU of the monit process and of the programs it reaped.
  Monit's child closes every descriptor up to the soft open-files limit before
  it execs, so it runs twice: with systemd's default soft limit (1024) and
  with the limit this shell has. (Talon's children close theirs with one
  ``close_range`` call: the limit costs Talon nothing.)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from bench.probe_cycle import cpu_s
from talon.adapters.command import child_watcher, exec_env
from talon.adapters.process import NullProcessManager
from talon.adapters.runtime import NullRuntime
from talon.config import ScriptProbe
from talon.node import NodeIdentity
from talon.probes import ProbeContext, Status, run_cycle
from talon.probes.aio import raise_open_file_limit
from tests.support import procs

MONIT = shutil.which("monit") or "/usr/bin/monit"


def _lines(path: Path) -> int:
    with contextlib.suppress(FileNotFoundError):
        return path.read_bytes().count(b"\n")
    return 0


def floor(command: str, count: Path, n: int) -> tuple[float, float]:
    """ms of CPU per spawn (self, children) for posix_spawn + waitpid."""
    sh = shutil.which("sh") or "/bin/sh"
    env = exec_env()
    before, child_before, done = cpu_s(), cpu_s(resource.RUSAGE_CHILDREN), _lines(count)
    for _ in range(n):
        pid = os.posix_spawn(sh, ["sh", "-c", command], env)
        os.waitpid(pid, 0)
    ran = _lines(count) - done
    assert ran == n, (ran, n)
    return (
        (cpu_s() - before) / n * 1000,
        (cpu_s(resource.RUSAGE_CHILDREN) - child_before) / n * 1000,
    )


def talon(command: str, count: Path, probes: int, rounds: int, pidfd: bool) -> tuple[float, float]:
    """Median ms of CPU per script probe (self, children) over ``rounds`` cycles."""
    specs = [ScriptProbe(name=f"s{i}", kind="script", command=command) for i in range(probes)]
    ctx = ProbeContext(NodeIdentity.detect(), NullRuntime(), NullProcessManager(), exec_env())
    selfs, children = [], []

    async def cycles() -> None:
        await run_cycle(specs, ctx)  # warm-up
        for _ in range(rounds):
            before, child_before, done = cpu_s(), cpu_s(resource.RUSAGE_CHILDREN), _lines(count)
            report = await run_cycle(specs, ctx)
            selfs.append((cpu_s() - before) / probes * 1000)
            children.append((cpu_s(resource.RUSAGE_CHILDREN) - child_before) / probes * 1000)
            assert all(r.status is Status.OK for r in report.results)
            assert _lines(count) - done == probes

    with child_watcher() if pidfd else contextlib.nullcontext():
        asyncio.run(cycles())
    return statistics.median(selfs), statistics.median(children)


@contextlib.contextmanager
def monit(command: str, probes: int, work: Path, nofile: int) -> Iterator[subprocess.Popen[bytes]]:
    rc = work / "monitrc"
    lines = [
        "set daemon 1",
        f"set logfile {work / 'monit.log'}",
        f"set idfile {work / 'monit.id'}",
        f"set statefile {work / 'monit.state'}",
        f"set pidfile {work / 'monit.pid'}",
    ]
    for i in range(probes):
        lines += [
            f"check program s{i} with path \"/bin/sh -c '{command}'\" with timeout 5 seconds",
            "  if status != 0 then alert",
        ]
    rc.write_text("\n".join(lines) + "\n")
    rc.chmod(0o600)
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    proc = subprocess.Popen(
        [MONIT, "-I", "-c", str(rc)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, hard)),
    )
    try:
        yield proc
    finally:
        procs.stop(proc)


def monit_cost(
    command: str, count: Path, probes: int, seconds: float, nofile: int
) -> tuple[float, float, int]:
    """ms of CPU per program check (monit, its reaped children) and the checks counted."""
    import psutil

    with monit(command, probes, count.parent, nofile) as proc:
        deadline = time.monotonic() + 15
        while _lines(count) < probes and time.monotonic() < deadline:  # its first cycle ran
            time.sleep(0.05)
        time.sleep(1.5)
        me = psutil.Process(proc.pid)
        t0, done0 = me.cpu_times(), _lines(count)
        time.sleep(seconds)
        t1, done1 = me.cpu_times(), _lines(count)
    ran = done1 - done0
    own = (t1.user + t1.system - t0.user - t0.system) / ran * 1000
    kids = (
        (t1.children_user + t1.children_system - t0.children_user - t0.children_system) / ran * 1000
    )
    return own, kids, ran


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--probes", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--monit-seconds", type=float, default=15.0)
    parser.add_argument("--no-monit", action="store_true")
    args = parser.parse_args()
    shell_nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    raise_open_file_limit()  # as talon does at start
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    rows: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-script-") as tmp:
        count = Path(tmp) / "count"
        command = f"echo x >> {count}"
        rows["posix_spawn + waitpid (floor)"] = floor(command, count, args.probes * 3)
        rows["talon, 3.11 thread watcher"] = talon(
            command, count, args.probes, args.rounds, pidfd=False
        )
        rows["talon, pidfd watcher (now)"] = talon(
            command, count, args.probes, args.rounds, pidfd=True
        )
        if not args.no_monit:
            for nofile in sorted({1024, shell_nofile}):
                own, kids, ran = monit_cost(command, count, args.probes, args.monit_seconds, nofile)
                rows[f"monit, soft nofile {nofile}"] = (own, kids)
                print(f"monit, soft nofile {nofile}: {ran} checks in {args.monit_seconds:g} s")
    print(f"\nCPU per script check, ms ({args.probes} checks a cycle)")
    print(f"{'':32} {'self':>7} {'children':>9} {'total':>7}")
    for name, (own, kids) in rows.items():
        print(f"{name:32} {own:7.3f} {kids:9.3f} {own + kids:7.3f}")
    now = rows["talon, pidfd watcher (now)"]
    before = rows["talon, 3.11 thread watcher"]
    print(f"\ntalon self CPU, pidfd / thread watcher: {now[0] / before[0]:.2f}")
    for name, peer in rows.items():
        if name.startswith("monit"):
            print(f"talon / {name}: self {now[0] / peer[0]:.2f}, total {sum(now) / sum(peer):.2f}")


if __name__ == "__main__":
    main()
