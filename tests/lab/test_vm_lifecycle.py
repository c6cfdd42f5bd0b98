"""F5 and F11 on the lab: a VM that dies on schedule, a keeper that restarts it, one lock (R19)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from talon.config import load
from talon.core import ActionKind, CoreState, Facts, Report, step
from talon.core_config import core_config
from talon.faults import Fault
from talon.lab import faults
from talon.lab.procs import wait_listening
from talon.lab.runtime import LabRuntime
from talon.lab.substrate import Lab
from talon.node import NodeIdentity
from talon.probes import ProbeContext, run_cycle
from tests.lab.e2e import needs_vm_uptime


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    lab = Lab(tmp_path / "lab")
    lab.up()
    try:
        yield lab
    finally:
        lab.down()


def _wait(predicate: object, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


def test_f5_the_boot_after_the_force_cycle_dies_inside_the_window_once(lab: Lab) -> None:
    faults.arm_regress(lab, 1.0)
    assert lab.boot()["running"]  # arming does not touch the running boot
    lab.force_cycle(boot_delay_s=0.1)  # what Talon's force-cycle does
    boot = lab.boot()
    assert boot["by"]["talon"] == 1
    assert wait_listening(lab.vm, lab.ports().sshd, 2)  # it came back ...
    assert _wait(lambda: not lab.boot()["running"], 10)  # ... and died again
    assert not wait_listening(lab.vm, lab.ports().sshd, 0.5)
    lab.force_cycle(boot_delay_s=0.1)  # disarmed: the next boot lives
    time.sleep(2.0)
    assert lab.boot()["running"]
    assert lab.boot()["count"] == boot["count"] + 1


@needs_vm_uptime
def test_f11_a_crash_looping_vm_is_classified_from_real_uptimes(
    lab: Lab, identity: NodeIdentity
) -> None:
    loaded = load(lab.config_dir / "config.toml", identity=identity)
    runtime = LabRuntime(lab.dir)
    emitted: list[object] = []
    faults.crashloop(lab, 3.0, keeper_every_s=0.3)

    async def observe() -> CoreState:
        ctx = ProbeContext.from_config(loaded.config, identity)
        config = core_config(loaded.config, identity.node_id, ctx.runtime, ctx.process_manager)
        state = CoreState()
        try:
            for tick in range(80):
                report = await run_cycle(loaded.probes, ctx)
                facts = Facts(runtime_uptime_s=await runtime.uptime_s())
                done = step(
                    state, Report(report.results, facts, f"t{tick}"), (), time.time(), config
                )
                state = done.state
                emitted.extend(done.actions)
                if state.hold is not None:
                    break
                await asyncio.sleep(0.25)
        finally:
            await ctx.aclose()
        return state

    try:
        state = asyncio.run(observe())
        assert state.hold is not None
        assert state.hold.reason is Fault.RUNTIME_CRASH_LOOP
        assert lab.boot()["by"].get("keeper", 0) >= 2
        assert lab.boot()["by"].get("talon", 0) == 0  # the lab executed no force-cycle
        cycles = [a for a in emitted if a.kind is ActionKind.FORCE_CYCLE]  # type: ignore[attr-defined]
        assert len(cycles) <= 1  # and the core asked for at most one
    finally:
        faults.heal_all(lab)
    assert lab.procs.pid("vm-keeper") is None
    assert lab.boot()["running"]


def test_down_stops_a_crash_loop_keeper_first_and_leaks_nothing(tmp_path: Path) -> None:
    lab = Lab(tmp_path / "lab")
    lab.up()
    faults.crashloop(lab, 0.5, keeper_every_s=0.1)
    time.sleep(2.0)  # the keeper is busy restarting the VM
    lab.down()
    time.sleep(0.5)
    # also processes no pid file names (a boot cut short between spawn and pid file);
    # redis rewrites its command line, but its working directory is the lab's
    strays = [
        p
        for p in psutil.process_iter(["cmdline", "cwd"])
        if str(lab.dir) in " ".join([*(p.info["cmdline"] or []), p.info["cwd"] or ""])
    ]
    alive = {name: pid for name, pid in lab.status()["processes"].items() if pid is not None}
    for pid in [p.pid for p in strays] + list(alive.values()):  # by pid: a failure here
        with contextlib.suppress(psutil.Error):  # leaks nothing either
            psutil.Process(pid).kill()
    assert [" ".join(p.info["cmdline"]) for p in strays] == []
    assert alive == {}
    assert lab.procs.pid("vm-keeper") is None
    assert lab.procs.pid("vm-doom") is None
