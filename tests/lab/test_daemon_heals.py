"""End to end, the heals: the real `talon run` process heals the lab's faults F1-F11 and
F19 (FAULTS.md) and never makes things worse. Each test reads what an operator reads: the
journal, the state, the incident bundle, /health and the log. Every daemon is stopped by
its pid. (F12 on, shadow mode and the instance lock: test_daemon_robust.py; two files so
that two test workers share them, each with its own lab.)

The lab runs its default profile, named after the VM tool it imitates (docs/lab-profiles.md):
Talon's runtime here is its product adapter for that tool, driving the lab's stand-in of
it: no forwarder-only restart, and an engine socket that moves at every VM boot while the
old file stays (F19)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from talon.adapters.runtime.colima import ColimaRuntime
from talon.lab import faults
from talon.lab.runtime import LabRuntime
from talon.lab.substrate import Lab
from tests.lab.e2e import (
    _lines,
    _sha,
    command_channel,
    evidence,
    kinds,
    needs_vm_uptime,
    recovered,
    runtime_why,
    snapshots,
)
from tests.support.talon_run import FAST, merged, talon_run

pytestmark = pytest.mark.slow


def test_f1_split_brain_gets_the_force_cycle_only_and_is_verified(
    fresh: Lab, tmp_path: Path
) -> None:
    """The lab's default profile imitates a Mac's VM runtime: the forwards live in the VM's
    host agent, so the split-brain's heal is a force-cycle (never a bridge heal the
    platform would refuse), under its gates; then verified (F1, F20)."""
    assert isinstance(LabRuntime(fresh.dir).product, ColimaRuntime)  # the product adapter
    with talon_run(fresh, tmp_path) as run:
        assert run.health()[0] == 200
        boots = fresh.boot()["count"]
        faults.kill_forwarders(fresh)
        incident = run.wait_for("a verified recovery", lambda: recovered(run), 40)
        assert incident["root_cause"] == "split_brain"
        assert kinds(run) == ["force_cycle"]  # no service restart, no heal script, no bridge
        assert [e["outcome"] for e in run.ended("force_cycle")] == ["done"]
        assert fresh.boot()["count"] == boots + 1
        # The incident is closed (and logged) before the cycle captures its last evidence.
        files = run.wait_for(
            "the recovery-verified capture",
            lambda: (
                (f := evidence(run, incident["id"]))
                and any("recovery-verified" in x for x in f)
                and f
            ),
            10,
        )
        for moment in ("failure-detected", "before-force-cycle", "after-force-cycle"):
            assert any(moment in f for f in files), files
        # the boot made a new engine socket; Talon checks the VM on it, told by the VM tool
        assert f"GET /_ping on {fresh.engine_socket()}" in runtime_why(run)
        status, health = run.health()
        assert (status, health["signal"], health["state"]) == (200, "stable", "healthy")
        shown = run.talon("incidents", "show", incident["id"])
        assert "force_cycle" in shown.stdout
        assert "recovered" in shown.stdout
        assert run.alive()


def test_f3_a_dead_service_is_restarted_not_the_runtime(fresh: Lab, tmp_path: Path) -> None:
    with talon_run(fresh, tmp_path) as run:
        before = fresh.procs.pid("vm-inngest")
        boots, socket = fresh.boot()["count"], fresh.engine_socket()
        faults.service_down(fresh, "inngest")
        incident = run.wait_for("a verified recovery", lambda: recovered(run), 40)
        assert incident["root_cause"] == "service_down"
        assert kinds(run) == ["restart_service"]
        assert run.begun("restart_service")[0]["target"] == "inngest"
        assert fresh.procs.pid("vm-inngest") not in (None, before)
        assert fresh.boot()["count"] == boots  # the VM was not cycled ...
        assert fresh.engine_socket() == socket  # ... so its engine socket did not move


def test_f4_runtime_down_one_force_cycle_one_incident_one_notice(
    fresh: Lab, tmp_path: Path
) -> None:
    """F4 and F18: every probe fails at once; one incident with the root cause first,
    one force-cycle after confirmation, one notification per incident and event."""
    channel, messages = command_channel(tmp_path)
    settings = merged(FAST, {"notify": {"channel": [channel]}})
    with talon_run(fresh, tmp_path, settings) as run:
        old = fresh.engine_socket()
        run.wait_for("a check on this boot's socket", lambda: str(old) in runtime_why(run), 10)
        faults.runtime_down(fresh)
        incident = run.wait_for("a verified recovery", lambda: recovered(run), 60)
        assert incident["root_cause"] == "runtime_down"
        assert kinds(run) == ["force_cycle"]
        trail = [d["rule"] for d in incident["trail"] if d["outcome"] == "blocked"]
        assert "force_cycle_confirmation" in trail  # R13: one tick was not enough
        assert len({e["incident_id"] for e in run.begun()}) == 1  # R18: one incident
        sent = run.wait_for("two notices", lambda: _lines(messages, 2), 20)
        assert [line.split("|")[0] for line in sent] == ["notify", "notify"]
        assert "runtime_down" in sent[0]
        assert "lab-node" in sent[0]
        assert "recovered" in sent[1]
        # F19 after a boot: the force-cycle's boot moved the engine socket and left the old
        # file behind; Talon followed it (one force-cycle, verified) and the evidence says so
        new = fresh.engine_socket()
        assert new not in (None, old)
        assert old is not None
        assert old.exists()
        after = next(v for k, v in snapshots(run, incident["id"]).items() if "after-force" in k)
        assert after["runtime"]["adapter"]["engine_socket"]["path"] == str(new)
        assert after["runtime"]["adapter"]["engine_socket_moved"] == {
            "from": str(old),
            "to": str(new),
        }
        assert f"GET /_ping on {new} (reported by `colima status`, moved from {old})" in (
            runtime_why(run)
        )


def test_f5_a_regressing_recovery_holds_and_never_cycles_again(fresh: Lab, tmp_path: Path) -> None:
    settings = merged(
        FAST, {"healing": {"durability_checks": 6, "durability_window_secs": 6, "hold_secs": 600}}
    )
    with talon_run(fresh, tmp_path, settings) as run:
        by_talon = fresh.boot()["by"].get("talon", 0)
        faults.arm_regress(fresh, 3.0)
        faults.runtime_down(fresh)
        run.wait_for("the hold", lambda: run.state().get("hold"), 60)
        state = run.state()
        assert state["hold"]["reason"] == "failed_recovery"
        assert state["failed_recovery_at"] is not None
        # the state (with its hold) is saved before the executor writes the marker
        marker = run.wait_for("the marker action", lambda: run.ended("persist_marker"), 10)
        assert (run.state_dir / "failed-recovery.json").exists()  # the persisted marker
        assert marker[0]["outcome"] == "done"
        iid = state["incident"]["id"]
        run.wait_for(
            "regression evidence", lambda: any("regressed" in f for f in evidence(run, iid)), 20
        )
        # seed 004: the regression names the hypothesis its evidence supports (which one
        # depends on how far the lab's VM got before it died; each is an honest reading)
        shown = run.talon("incidents", "show", iid).stdout
        assert "HYPOTHESIS " in shown
        assert any(
            name in shown
            for name in (
                "guest_runtime_failure",
                "control_path_collapse",
                "stale_usernet_recovery",
                "healer_induced_churn",
                "unclassified",
            )
        )
        time.sleep(6)  # cycles keep running in the hold ...
        assert kinds(run) == ["force_cycle"]  # ... and no second force-cycle happens
        assert fresh.boot()["by"]["talon"] == by_talon + 1  # one boot through the VM tool
        assert not fresh.boot()["running"]  # the regressed VM stays down in the hold
        status, health = run.health()
        assert (status, health["signal"]) == (503, "failed recovery")
        assert health["hold"]["remaining_s"] > 500
        assert run.alive()


def test_f6_rbac_drift_is_repaired_by_the_guard(fresh: Lab, tmp_path: Path) -> None:
    with talon_run(fresh, tmp_path) as run:
        faults.drop_rbac(fresh)
        incident = run.wait_for("a verified recovery", lambda: recovered(run), 40)
        assert incident["root_cause"] == "rbac_drift"
        assert kinds(run) == ["apply_rbac_guard"]
        [done] = run.ended("apply_rbac_guard")
        assert done["outcome"] == "done"
        assert "can-i passes again" in done["detail"]


def test_f10_aof_damage_goes_to_the_agent_with_read_only_evidence(
    fresh: Lab, tmp_path: Path
) -> None:
    prompt_copy = tmp_path / "agent-prompt.md"
    agent = f'cp "$TALON_PROMPT_FILE" "{prompt_copy}"; echo agent looked'
    settings = merged(FAST, {"agent": {"cloud_command": agent}})
    with talon_run(fresh, tmp_path, settings) as run:
        faults.corrupt_aof(fresh)
        damaged = {p.name: _sha(p) for p in faults.aof_files(fresh)}
        run.wait_for("the agent", lambda: run.ended("agent_cloud"), 60)
        state = run.state()
        assert "redis_aof_corrupt" in state["incident"]["faults"]
        assert "redis-check-aof" in prompt_copy.read_text()  # the repair hint reached it
        assert "force_cycle" not in kinds(run)
        assert "heal_script" not in kinds(run)
        time.sleep(4)  # no blind restart loop
        assert kinds(run).count("restart_service") <= 1
        iid = state["incident"]["id"]
        snapshots = [
            json.loads(p.read_text())
            for p in (run.state_dir / "incidents" / iid / "evidence").glob("*.json")
        ]
        aof = next(s["snapshot"]["redis_aof"] for s in snapshots if "redis_aof" in s["snapshot"])
        assert aof["valid"] is False
        assert aof["would_fix"]["cuts"]
        assert aof["original"]["unchanged"] is True
        assert {p.name: _sha(p) for p in faults.aof_files(fresh)} == damaged  # R27


@needs_vm_uptime
def test_f11_vm_crash_loop_holds_force_cycles(fresh: Lab, tmp_path: Path) -> None:
    settings = merged(
        FAST, {"healing": {"runtime_min_uptime_secs": 20, "runtime_crash_loop_cycles": 2}}
    )
    with talon_run(fresh, tmp_path, settings) as run:
        faults.crashloop(fresh, 2.0)
        run.wait_for(
            "the crash-loop hold",
            lambda: (run.state().get("hold") or {}).get("reason") == "runtime_crash_loop",
            60,
        )
        cycles = len(run.begun("force_cycle"))
        time.sleep(5)
        assert len(run.begun("force_cycle")) == cycles  # on hold: no more force-cycles
        assert run.health()[1]["signal"] == "degraded hold"
        assert "runtime_crash_loop" in run.state()["incident"]["faults"]


def test_f19_a_moved_engine_socket_is_followed_and_a_refused_one_costs_no_force_cycle(
    fresh: Lab, tmp_path: Path
) -> None:
    """F19: the engine's socket moves behind Talon's back (the old file stays, dead): the
    next check asks the VM tool where it is now and answers there. Then the engine stops
    with the VM fine: the socket the tool reports refuses, the VM's shell answers, and the
    VM is not read as down. No incident, no action, no boot, through both."""
    with talon_run(fresh, tmp_path) as run:
        boots, old = fresh.boot()["count"], fresh.engine_socket()
        run.wait_for("a check on this boot's socket", lambda: str(old) in runtime_why(run), 10)
        faults.socket_drift(fresh)
        new = fresh.engine_socket()
        moved = f"GET /_ping on {new} (reported by `colima status`, moved from {old})"
        run.wait_for("the check on the new socket", lambda: moved in runtime_why(run), 10)
        faults.engine_down(fresh)
        refused = f"nothing listens on {new}"
        why = run.wait_for("the shell asked", lambda: refused in (w := runtime_why(run)) and w, 10)
        assert "so the VM's shell was asked: the VM's shell runs commands" in why
        seen = run.cycles()
        run.wait_for("three more cycles", lambda: run.cycles() >= seen + 3, 20)
        assert run.begun() == []  # nothing was done: no force-cycle, no notice
        assert run.state()["incident"] is None
        assert fresh.boot()["count"] == boots
        assert not [e for e in run.events("cycle") if "runtime.vm" in e["failing"]]
        assert old is not None
        assert old.exists()  # the stale file is still there
