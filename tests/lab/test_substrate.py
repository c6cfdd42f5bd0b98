"""The lab's substrate: real processes on 127.0.0.2, forwarders, worker; stopped by pid.

End to end: faults made by acting on the lab's real processes are classified
by the real probe runner and the core (F1, F3, F4).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from talon.config import load
from talon.core import ActionKind, CoreState, Report, step
from talon.core_config import core_config
from talon.errors import ErrorKind
from talon.faults import Fault
from talon.lab import faults, records
from talon.lab.runtime import LabRuntime
from talon.lab.substrate import DEFAULT_PROFILE, Lab, LabError
from talon.node import NodeIdentity
from talon.probes import ProbeContext, Status, run_cycle
from talon.report import CycleReport
from tests.adapters.runtime.fakes import COLIMA_STATUS_FIELDS, TRICKY_OUTPUT, TRICKY_SCRIPT


def _cycle(lab: Lab, identity: NodeIdentity) -> tuple[CycleReport, object]:
    loaded = load(lab.config_dir / "config.toml", identity=identity)

    async def once() -> CycleReport:
        ctx = ProbeContext.from_config(loaded.config, identity)
        try:
            return await run_cycle(loaded.probes, ctx)
        finally:
            await ctx.aclose()

    ctx = ProbeContext.from_config(loaded.config, identity)  # what the lab's adapters declare
    return asyncio.run(once()), core_config(
        loaded.config, identity.node_id, ctx.runtime, ctx.process_manager
    )


def _decide(
    lab: Lab, identity: NodeIdentity, ticks: int = 2
) -> tuple[CoreState, list[object], CycleReport]:
    state, actions, now = CoreState(), [], 1_000_000.0
    for tick in range(ticks):
        report, config = _cycle(lab, identity)
        now += 10
        done = step(state, Report(report.results, stamp=f"t{tick}"), (), now, config)  # type: ignore[arg-type]
        state = done.state
        actions.extend(done.actions)
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
        (
            "tcp.vm_ssh",
            "redis.redis",
            "http.inngest",
            "http.typesense",
            "http.worker",
            "http.cloud",
            "script.redis_aof",
            "runtime.vm",
            "k8s.api",
            "k8s.node",
            "k8s.flannel",
            "k8s.kubelet_proxy_get",
            "k8s.kubelet_proxy_create",
        ),
        Status.OK,
    )
    by_key = {r.key: r for r in report.results}
    assert by_key["tcp.vm_ssh"].endpoint_class == "vm"
    assert by_key["redis.redis"].endpoint_class == "localhost"
    assert by_key["k8s.api"].endpoint_class == "localhost"
    assert by_key["http.cloud"].endpoint_class == "remote"


def test_f1_killed_forwarders_are_split_brain_and_get_the_heal_the_platform_allows(
    lab: Lab, identity: NodeIdentity
) -> None:
    """The lab's default profile imitates a VM whose host agent owns the forwards: no
    forwarder-only restart, so the split-brain's heal is the force-cycle (F1, F20)."""
    assert lab.profile() == DEFAULT_PROFILE
    vm_pids = lab.vm_pids()
    faults.kill_forwarders(lab)
    try:
        state, actions, report = _decide(lab, identity)
        assert {
            r.endpoint_class
            for r in report.results
            if r.key.startswith(("redis", "http.i", "http.t"))
        } == {"vm"}
        assert _roots(state) == {Fault.SPLIT_BRAIN}
        heals = [a for a in actions if a.tier and a.tier.startswith("1")]  # type: ignore[attr-defined]
        assert [(a.kind, a.target) for a in heals] == [(ActionKind.FORCE_CYCLE, "runtime")]  # type: ignore[attr-defined]
        assert lab.vm_pids() == vm_pids  # only decided here: nothing was touched
    finally:
        faults.heal_all(lab)


def test_f3_a_service_down_in_the_vm_restarts_that_service(
    lab: Lab, identity: NodeIdentity
) -> None:
    others = {k: v for k, v in lab.vm_pids().items() if k != "redis"}
    boots = lab.boot()["count"]
    faults.service_down(lab, "redis")
    try:
        state, actions, report = _decide(lab, identity)
        redis = next(r for r in report.results if r.key == "redis.redis")
        assert [p.path_class for p in redis.paths if p.tried and not p.ok] == ["localhost", "vm"]
        assert _roots(state) == {Fault.SERVICE_DOWN}
        heals = [(a.kind, a.target) for a in actions if a.tier and a.tier.startswith("1")]  # type: ignore[attr-defined]
        assert heals == [(ActionKind.RESTART_SERVICE, "redis")]
        assert {k: v for k, v in lab.vm_pids().items() if k != "redis"} == others
        assert lab.boot()["count"] == boots  # no force-cycle
    finally:
        faults.heal_all(lab)


def test_f4_runtime_down_is_the_root_cause_and_is_force_cycled(
    lab: Lab, identity: NodeIdentity
) -> None:
    boots = lab.boot()["count"]
    faults.runtime_down(lab)
    try:
        state, actions, _ = _decide(lab, identity)
        assert _roots(state) == {Fault.RUNTIME_DOWN}  # everything above it explained (F18)
        cycles = [a for a in actions if a.kind is ActionKind.FORCE_CYCLE]  # type: ignore[attr-defined]
        assert len(cycles) == 1
        old, by = lab.engine_socket(), lab.boot()["by"].get("talon", 0)
        asyncio.run(LabRuntime(lab.dir, boot_delay_s=0.2).force_cycle())  # what the daemon will do
        assert lab.boot()["count"] == boots + 1
        assert lab.boot()["by"]["talon"] == by + 1  # through the VM tool's stop and start
        assert lab.engine_socket() not in (None, old)  # the boot moved the engine socket ...
        assert old is not None
        assert _refused(old)  # ... and left the old file behind, dead (F19)
        report, _ = _cycle(lab, identity)
        assert all(r.status is Status.OK for r in report.results)
    finally:
        faults.heal_all(lab)


def test_lab_runtime_reports_address_uptime_and_health(lab: Lab) -> None:
    """On the default profile the lab runtime is the product adapter, through the lab's
    stand-in of the VM tool: the address from its list, the uptime from the VM's shell."""
    runtime = LabRuntime(lab.dir)
    assert runtime.product is not None
    assert asyncio.run(runtime.vm_address()) == "127.0.0.2"
    assert asyncio.run(runtime.is_healthy())
    assert f"GET /_ping on {lab.engine_socket()}" in runtime.health_detail
    uptime = asyncio.run(runtime.uptime_s())
    assert uptime is not None
    since_boot = time.time() - lab.boot()["booted_at"]
    if records.read(lab.meta_path).get("time_namespace"):  # the VM's boot, not the host's
        assert abs(uptime - since_boot) < 2.0
    argv = runtime.ssh_command("echo 'a b'")
    assert argv[1:] == ["ssh", "-p", "default", "--", "sh", "-c", "echo 'a b'"]
    tunnels = LabRuntime(lab.dir, profile="tunnels")
    assert tunnels.product is None
    assert asyncio.run(tunnels.is_healthy())
    assert tunnels.ssh_command("echo 'a b'") == ["sh", "-c", "echo 'a b'"]


def test_a_stopped_forwarder_accepts_nothing_and_the_vm_path_still_answers(
    lab: Lab, identity: NodeIdentity
) -> None:
    """F2: a paused forwarder hangs localhost; the resolver answers via the VM, then recovers."""
    faults.flap(lab, "typesense", 6)
    try:
        report, _ = _cycle(lab, identity)
        typesense = next(r for r in report.results if r.key == "http.typesense")
        assert typesense.status is Status.OK
        assert typesense.endpoint_class == "vm"
        time.sleep(1.5)  # the helper resumes the forwarder after 6 s
        report, _ = _cycle(lab, identity)
        assert (
            next(r for r in report.results if r.key == "http.typesense").endpoint_class
            == "localhost"
        )
    finally:
        faults.heal_all(lab)


def test_f12_a_hung_service_costs_its_timeout_only(lab: Lab, identity: NodeIdentity) -> None:
    faults.hang(lab, "typesense")
    try:
        started = time.monotonic()
        report, _ = _cycle(lab, identity)
        wall = time.monotonic() - started
        by_key = {r.key: r for r in report.results}
        assert by_key["http.typesense"].error_kind is ErrorKind.TIMEOUT
        assert all(r.status is Status.OK for k, r in by_key.items() if k != "http.typesense")
        assert wall < 5 + 4  # the probe's 5 s timeout plus slack, not a stalled cycle
    finally:
        faults.heal_all(lab)


def test_f10_aof_damage_is_classified_and_talon_never_touches_the_aof(
    lab: Lab, identity: NodeIdentity
) -> None:
    faults.corrupt_aof(lab)
    try:
        before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in faults.aof_files(lab)}
        state, actions, report = _decide(lab, identity, ticks=3)
        assert "Bad file format" in (lab.procs.logs / "vm-redis.server.log").read_text()
        assert Fault.REDIS_AOF_CORRUPT in _roots(state)
        assert not [a for a in actions if a.kind is ActionKind.RESTART_SERVICE]  # type: ignore[attr-defined]
        after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in faults.aof_files(lab)}
        assert after == before
    finally:
        faults.heal_all(lab)
    report, _ = _cycle(lab, identity)
    assert all(r.status is Status.OK for r in report.results)


def test_inject_and_heal_all_from_the_command_line(lab: Lab) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "TALON_LAB_DIR": str(lab.dir)}

    def talon(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "talon", "lab", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )

    done = talon("inject", "service-down", "--service", "inngest")
    assert done.returncode == 0, done.stderr
    assert lab.procs.pid("vm-inngest") is None
    assert talon("inject", "service-down", "--service", "nope").returncode != 0
    assert talon("heal-all").returncode == 0
    assert lab.procs.pid("vm-inngest") is not None


# The lab's stand-in of the VM tool (talon.lab.vmtool), as the product adapter sees it -----


def _tool(lab: Lab, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(lab.dir / "bin" / "colima"), *args], capture_output=True, text=True, timeout=60
    )


def _refused(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX) as s:
        try:
            s.connect(str(path))
        except ConnectionRefusedError:
            return True
    return False


def test_the_vm_tool_answers_in_the_real_tools_formats(lab: Lab) -> None:
    status = _tool(lab, "status", "--json", "-p", "default")
    assert status.returncode == 0, status.stderr
    doc = json.loads(status.stdout)
    assert list(doc) == COLIMA_STATUS_FIELDS  # as the fake: both copy app.go's statusInfo
    assert ", " not in status.stdout  # Go's json.Encoder: compact
    assert doc["docker_socket"] == f"unix://{lab.engine_socket()}"
    assert doc["ip_address"] == lab.vm
    [listed] = [json.loads(line) for line in _tool(lab, "list", "--json").stdout.splitlines()]
    assert (listed["name"], listed["status"], listed["address"]) == ("default", "Running", lab.vm)
    shell = _tool(lab, "ssh", "-p", "default", "--", "sh", "-c", TRICKY_SCRIPT)
    assert (shell.stdout.strip(), shell.returncode) == (TRICKY_OUTPUT, 3)  # R6: one word
    boots = lab.boot()["count"]
    again = _tool(lab, "start", "-p", "default")
    assert again.returncode == 0
    assert "already running" in again.stderr
    assert lab.boot()["count"] == boots
    assert _tool(lab, "restart-forwarders").returncode == 1  # no such verb: none on the platform


def test_the_vm_tool_on_a_stopped_vm_says_what_the_real_tool_says(fresh: Lab) -> None:
    faults.runtime_down(fresh)
    status = _tool(fresh, "status", "--json")
    assert status.returncode == 1
    assert 'level=fatal msg="colima is not running"' in status.stderr
    shell = _tool(fresh, "ssh", "--", "true")
    assert shell.returncode == 1
    assert 'level=fatal msg="colima not running"' in shell.stderr  # app.SSH's own words
    [listed] = [json.loads(line) for line in _tool(fresh, "list", "--json").stdout.splitlines()]
    assert listed["status"] == "Stopped"
    assert "address" not in listed


def test_socket_drift_and_engine_down_leave_the_old_socket_dead(fresh: Lab) -> None:
    """F19 in the lab: the engine moves to a new socket (the tool reports it), the old file
    stays and refuses; with the engine down, the tool still reports its socket, dead,
    while the VM's shell answers. ``heal_all`` brings the engine back on that socket."""
    boots, old = fresh.boot()["count"], fresh.engine_socket()
    assert old is not None
    faults.socket_drift(fresh)
    new = fresh.engine_socket()
    assert new is not None
    assert new != old
    assert _refused(old)
    assert json.loads(_tool(fresh, "status", "--json").stdout)["docker_socket"] == f"unix://{new}"
    faults.engine_down(fresh)
    assert _refused(new)
    assert json.loads(_tool(fresh, "status", "--json").stdout)["docker_socket"] == f"unix://{new}"
    assert _tool(fresh, "ssh", "--", "true").returncode == 0
    faults.heal_all(fresh)
    assert fresh.engine_socket() == new
    assert not _refused(new)
    assert fresh.boot()["count"] == boots  # neither was a boot


def test_a_lab_made_before_the_rename_is_read_as_the_default_profile(tmp_path: Path) -> None:
    """lab.json of an existing lab may still say ``agent``: the default profile's old name."""
    records.write(records.meta_path(tmp_path), {"vm_address": "127.0.0.2", "profile": "agent"})
    lab = Lab(tmp_path)
    assert lab.profile() == DEFAULT_PROFILE
    assert lab.has_engine()
    assert LabRuntime(tmp_path, profile="agent").product is not None
    assert LabRuntime(tmp_path, profile="tunnels").product is None


def test_a_lab_directory_too_long_for_a_unix_socket_is_refused_with_the_reason(
    tmp_path: Path,
) -> None:
    deep = tmp_path / ("d" * 100)
    with pytest.raises(LabError, match="too long for the engine's unix socket"):
        Lab(deep).up()
    assert Lab(deep).procs.names() == []  # refused before anything started
