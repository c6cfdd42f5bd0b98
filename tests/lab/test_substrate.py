"""The lab's substrate: real processes on 127.0.0.2, forwarders, worker; stopped by pid.

End to end: faults made by acting on the lab's real processes are classified
by the real probe runner and the core (F1, F3, F4).
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from talon.config import load
from talon.core import ActionKind, CoreState, Report, from_config, step
from talon.faults import Fault
from talon.lab.runtime import LabRuntime
from talon.lab.substrate import Lab
from talon.node import NodeIdentity
from talon.probes import ProbeContext, Status, run_cycle
from talon.report import CycleReport


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    lab = Lab(tmp_path_factory.mktemp("lab"))
    lab.up()
    try:
        yield lab
    finally:
        lab.down()


def _cycle(lab: Lab, identity: NodeIdentity) -> tuple[CycleReport, object]:
    loaded = load(lab.config_dir / "config.toml", identity=identity)

    async def once() -> CycleReport:
        ctx = ProbeContext.from_config(loaded.config, identity)
        try:
            return await run_cycle(loaded.probes, ctx)
        finally:
            await ctx.aclose()

    return asyncio.run(once()), from_config(loaded.config, identity.node_id)


def _decide(
    lab: Lab, identity: NodeIdentity, ticks: int = 2
) -> tuple[CoreState, list[object], CycleReport]:
    state, actions, now = CoreState(), [], 1_000_000.0
    for _ in range(ticks):
        report, config = _cycle(lab, identity)
        now += 10
        state, out = step(state, Report(report.results), now, config)  # type: ignore[arg-type]
        actions.extend(out)
    return state, actions, report


def _roots(state: CoreState) -> set[Fault]:
    return {fault for _, fault, explained in state.last_faults if not explained}


def test_up_and_down_leave_no_process_behind(tmp_path: Path) -> None:
    lab = Lab(tmp_path)
    lab.up()
    pids = [p for p in lab.status()["processes"].values()]
    assert all(pids)
    assert all(psutil.pid_exists(p) for p in pids)
    stopped = Lab(tmp_path).down()  # a fresh object: the pid files are all it needs
    assert len(stopped) == len(pids)
    for pid in pids:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert Lab(tmp_path).down() == []  # idempotent


def test_healthy_lab_passes_every_probe_on_localhost(lab: Lab, identity: NodeIdentity) -> None:
    report, _ = _cycle(lab, identity)
    assert {r.key: r.status for r in report.results} == dict.fromkeys(
        ("tcp.vm_ssh", "redis.redis", "http.inngest", "http.typesense", "http.worker"), Status.OK
    )
    by_key = {r.key: r for r in report.results}
    assert by_key["tcp.vm_ssh"].endpoint_class == "vm"
    assert by_key["redis.redis"].endpoint_class == "localhost"


def test_f1_killed_forwarders_are_split_brain_and_get_a_bridge_heal(
    lab: Lab, identity: NodeIdentity
) -> None:
    vm_pids = lab.vm_pids()
    lab.stop_forwarders()
    try:
        state, actions, report = _decide(lab, identity)
        assert {
            r.endpoint_class
            for r in report.results
            if r.key.startswith(("redis", "http.i", "http.t"))
        } == {"vm"}
        assert _roots(state) == {Fault.SPLIT_BRAIN}
        heals = [a for a in actions if a.tier and a.tier.startswith("1")]  # type: ignore[attr-defined]
        assert [(a.kind, a.target) for a in heals] == [(ActionKind.BRIDGE_HEAL, "runtime")]  # type: ignore[attr-defined]
        assert lab.vm_pids() == vm_pids  # nothing inside the VM was touched
    finally:
        lab.start_forwarders()


def test_f3_a_service_down_in_the_vm_restarts_that_service(
    lab: Lab, identity: NodeIdentity
) -> None:
    lab.procs.stop("vm-redis")
    try:
        state, actions, _ = _decide(lab, identity)
        assert _roots(state) == {Fault.SERVICE_DOWN}
        heals = [(a.kind, a.target) for a in actions if a.tier and a.tier.startswith("1")]  # type: ignore[attr-defined]
        assert heals == [(ActionKind.RESTART_SERVICE, "redis.redis")]
    finally:
        lab.start_vm()


def test_f4_runtime_down_is_the_root_cause_and_is_force_cycled(
    lab: Lab, identity: NodeIdentity
) -> None:
    boots = lab.boot()["count"]
    lab.stop_forwarders()
    lab.stop_vm()
    try:
        state, actions, _ = _decide(lab, identity)
        assert _roots(state) == {Fault.RUNTIME_DOWN}  # everything above it explained (F18)
        cycles = [a for a in actions if a.kind is ActionKind.FORCE_CYCLE]  # type: ignore[attr-defined]
        assert len(cycles) == 1
        asyncio.run(LabRuntime(lab.dir, boot_delay_s=0.2).force_cycle())  # what the daemon will do
        assert lab.boot()["count"] == boots + 1
        report, _ = _cycle(lab, identity)
        assert all(r.status is Status.OK for r in report.results)
    finally:
        lab.start_vm()
        lab.start_forwarders()


def test_lab_runtime_reports_address_uptime_and_health(lab: Lab) -> None:
    runtime = LabRuntime(lab.dir)
    assert asyncio.run(runtime.vm_address()) == "127.0.0.2"
    assert asyncio.run(runtime.is_healthy())
    uptime = asyncio.run(runtime.uptime_s())
    assert uptime is not None
    assert uptime >= 0
    assert runtime.ssh_command("echo 'a b'") == ["sh", "-c", "echo 'a b'"]


def test_a_stopped_forwarder_accepts_nothing_and_the_vm_path_still_answers(
    lab: Lab, identity: NodeIdentity
) -> None:
    """F2-like: a SIGSTOPped forwarder hangs localhost; the resolver answers via the VM."""
    assert lab.procs.signal("fwd-typesense", signal.SIGSTOP)
    try:
        report, _ = _cycle(lab, identity)
        typesense = next(r for r in report.results if r.key == "http.typesense")
        assert typesense.status is Status.OK
        assert typesense.endpoint_class == "vm"
    finally:
        lab.procs.signal("fwd-typesense", signal.SIGCONT)
