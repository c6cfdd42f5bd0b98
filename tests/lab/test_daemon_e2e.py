"""End to end: the real `talon run` process heals the lab's faults (FAULTS.md), and never
makes things worse. Each test reads what an operator reads: the journal, the state,
the incident bundle, /health and the log. Every daemon is stopped by its pid."""

from __future__ import annotations

import hashlib
import itertools
import json
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from talon.lab import faults
from talon.lab.substrate import Lab
from tests.support.talon_run import FAST, TalonRun, merged, talon_run

pytestmark = pytest.mark.slow

TIER1 = ("bridge_heal", "force_cycle", "heal_script", "restart_service", "apply_rbac_guard")


@pytest.fixture
def fresh(lab: Lab) -> Iterator[Lab]:
    """Each test starts from a healthy lab and leaves it healed."""
    faults.heal_all(lab)
    yield lab
    faults.heal_all(lab)


def kinds(run: TalonRun) -> list[str]:
    return [e["kind"] for e in run.begun() if e["kind"] in TIER1]


def evidence(run: TalonRun, incident_id: str) -> list[str]:
    path = run.state_dir / "incidents" / incident_id / "evidence"
    return sorted(p.name for p in path.glob("*.json"))


def recovered(run: TalonRun) -> dict[str, Any] | None:
    return next((i for i in run.closed() if i["outcome"] == "recovered"), None)


def command_channel(home: Path) -> tuple[dict[str, Any], Path]:
    """A notify channel that appends each message (title line) to a file."""
    out = home / "messages.txt"
    script = f'printf "%s|%s\\n" "$TALON_EVENT" "$TALON_TITLE" >> "{out}"'
    return {"name": "file", "command": ["sh", "-c", script]}, out


def test_f1_split_brain_gets_a_bridge_heal_only_and_is_verified(fresh: Lab, tmp_path: Path) -> None:
    with talon_run(fresh, tmp_path) as run:
        assert run.health()[0] == 200
        faults.kill_forwarders(fresh)
        incident = run.wait_for("a verified recovery", lambda: recovered(run), 40)
        assert incident["root_cause"] == "split_brain"
        assert kinds(run) == ["bridge_heal"]  # no service restart, no heal script, no cycle
        assert [e["outcome"] for e in run.ended("bridge_heal")] == ["done"]
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
        for moment in ("failure-detected", "before-bridge-heal", "after-bridge-heal"):
            assert any(moment in f for f in files), files
        status, health = run.health()
        assert (status, health["signal"], health["state"]) == (200, "stable", "healthy")
        shown = run.talon("incidents", "show", incident["id"])
        assert "bridge_heal" in shown.stdout
        assert "recovered" in shown.stdout
        assert run.alive()


def test_f3_a_dead_service_is_restarted_not_the_runtime(fresh: Lab, tmp_path: Path) -> None:
    with talon_run(fresh, tmp_path) as run:
        before = fresh.procs.pid("vm-inngest")
        boots = fresh.boot()["count"]
        faults.service_down(fresh, "inngest")
        incident = run.wait_for("a verified recovery", lambda: recovered(run), 40)
        assert incident["root_cause"] == "service_down"
        assert kinds(run) == ["restart_service"]
        assert run.begun("restart_service")[0]["target"] == "inngest"
        assert fresh.procs.pid("vm-inngest") not in (None, before)
        assert fresh.boot()["count"] == boots  # the VM was not cycled


def test_f4_runtime_down_one_force_cycle_one_incident_one_notice(
    fresh: Lab, tmp_path: Path
) -> None:
    """F4 and F18: every probe fails at once; one incident with the root cause first,
    one force-cycle after confirmation, one notification per incident and event."""
    channel, messages = command_channel(tmp_path)
    settings = merged(FAST, {"notify": {"channel": [channel]}})
    with talon_run(fresh, tmp_path, settings) as run:
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


def test_f5_a_regressing_recovery_holds_and_never_cycles_again(fresh: Lab, tmp_path: Path) -> None:
    settings = merged(
        FAST, {"healing": {"durability_checks": 6, "durability_window_secs": 6, "hold_secs": 600}}
    )
    with talon_run(fresh, tmp_path, settings) as run:
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
        time.sleep(6)  # cycles keep running in the hold ...
        assert kinds(run) == ["force_cycle"]  # ... and no second force-cycle happens
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


def test_f12_a_hung_target_costs_one_timeout_not_the_cycle(fresh: Lab, tmp_path: Path) -> None:
    with talon_run(fresh, tmp_path) as run:
        faults.hang(fresh, "typesense")
        run.wait_for("the hang seen", lambda: _failing_in_log(run, "http.typesense"), 30)
        cycles = [e for e in run.events("cycle") if "http.typesense" in e["failing"]]
        assert all(e["duration_ms"] < 5_000 + 2_500 for e in cycles)  # one timeout + slack
        assert all(e["failing"] == ["http.typesense"] for e in cycles[:1])
        incident = run.wait_for("a verified recovery", lambda: recovered(run), 60)
        assert kinds(run) == ["restart_service"]  # a hung service is restarted, nothing more
        assert incident["root_cause"] == "service_down"


def test_f13_a_bad_services_file_keeps_the_last_good_config(fresh: Lab, tmp_path: Path) -> None:
    with talon_run(fresh, tmp_path) as run:
        services = fresh.config_dir / "services.toml"
        good = services.read_text()
        services.write_text(good + "\n[http.broken]\nurl = 'not a url'\n")
        run.wait_for("the error reported", lambda: run.daemon().get("config_error"), 15)
        error = run.daemon()["config_error"]
        assert "services.toml" in error
        assert "http.broken" in error
        assert "url" in error
        assert run.health()[1]["config_error"] == error
        assert any(e.get("error") == error for e in run.events("config.invalid"))
        status = run.talon("status", "--json")
        assert error in json.loads(status.stdout)["daemon"]["config_error"]
        seen = run.cycles()
        run.wait_for("cycles going on", lambda: run.cycles() >= seen + 3, 15)
        probes = {
            p["key"] for p in json.loads((run.state_dir / "last-probe.json").read_text())["probes"]
        }
        assert "http.inngest" in probes
        assert "http.broken" not in probes
        services.write_text(good)
        run.wait_for("the error cleared", lambda: not run.daemon().get("config_error"), 15)
        assert run.alive()


def test_f14_sigkill_mid_heal_never_fires_the_heal_twice(fresh: Lab, tmp_path: Path) -> None:
    script = (
        f"sleep 4; {sys.executable} -m talon.lab.cycle --dir {fresh.dir} "
        "--boot-delay 0.2 force-cycle"
    )
    # The warmup outlasts the script (R20: the durability logic is Talon's, not the script's).
    settings = merged(FAST, {"": {"heal_script": script}, "healing": {"warmup_secs": 20}})
    with talon_run(fresh, tmp_path, settings) as run:
        faults.runtime_down(fresh)
        [begun] = run.wait_for("the heal script", lambda: run.begun("heal_script"), 40)
        run.kill()  # F14: SIGKILL in the middle of the heal
    again = TalonRun(fresh, tmp_path).start()
    try:
        again.wait_for("a verified recovery", lambda: recovered(again), 60)
        interrupted = [e for e in again.journal() if e["event"] == "interrupted"]
        assert [e["key"] for e in interrupted] == [begun["key"]]
        assert len(again.begun("heal_script")) == 1  # never fired a second time
        assert recovered(again)["id"] == begun["incident_id"]  # the same incident resumed
    finally:
        again.stop()


def test_f15_a_corrupt_state_file_is_kept_aside_and_talon_starts(
    fresh: Lab, tmp_path: Path
) -> None:
    state = tmp_path / "state" / "state.json"
    state.parent.mkdir(parents=True)
    state.write_text('{"node": "healthy", "counters": {"http.a')  # truncated mid-write
    with talon_run(fresh, tmp_path) as run:
        kept = list(state.parent.glob("state.json.corrupt-*"))
        assert len(kept) == 1
        assert kept[0].read_text().startswith('{"node"')
        assert run.events("state.reset")
        assert run.health()[0] == 200
        assert json.loads(state.read_text())["node"] == "healthy"


def test_f16_a_dead_or_hanging_channel_never_blocks_the_others_or_the_loop(
    fresh: Lab, tmp_path: Path
) -> None:
    channel, messages = command_channel(tmp_path)
    refused = _closed_port()
    with _silent_listener() as hanging:
        settings = merged(
            FAST,
            {
                "notify": {
                    "timeout_secs": 3,
                    "retry_secs": 1,
                    "channel": [
                        {"name": "refused", "url": f"json://127.0.0.1:{refused}/hook"},
                        {"name": "hanging", "url": f"json://127.0.0.1:{hanging}/hook"},
                        channel,
                    ],
                }
            },
        )
        with talon_run(fresh, tmp_path, settings) as run:
            faults.service_down(fresh, "typesense")
            run.wait_for("the working channel", lambda: _lines(messages, 1), 30)
            [first] = run.wait_for("the notify outcome", lambda: run.ended("notify"), 20)
            assert "refused: failed" in first["detail"]
            assert "hanging: failed" in first["detail"]
            assert "file: ok" in first["detail"]
            run.wait_for("a retry", lambda: run.events("notify.retry"), 30)
            gaps = _gaps([e["ts"] for e in run.events("cycle")])
            assert max(gaps) < 3.5  # cycles kept their 1 s pace while a channel hung
            assert run.daemon()["notify_pending"] >= 1


def test_f17_network_down_goes_to_the_local_agent_without_sos(fresh: Lab, tmp_path: Path) -> None:
    local, cloud = tmp_path / "local.txt", tmp_path / "cloud.txt"
    settings = merged(
        FAST,
        {
            "agent": {
                "cloud_command": f"echo cloud > {cloud}",
                "local_command": f"echo local > {local}",
            },
            "escalation": {"critical_threshold_secs": 3600},
        },
    )
    with talon_run(fresh, tmp_path, settings) as run:
        faults.network_down(fresh)
        run.wait_for("the local agent", lambda: run.ended("agent_local"), 40)
        assert local.exists()
        assert not cloud.exists()
        assert not run.begun("agent_cloud")
        assert not run.begun("sos")
        assert not [k for k in kinds(run)]  # nothing local to heal


def test_shadow_mode_decides_and_journals_but_executes_nothing(fresh: Lab, tmp_path: Path) -> None:
    with talon_run(fresh, tmp_path, FAST, "--shadow") as run:
        faults.kill_forwarders(fresh, "redis")
        shadowed = run.wait_for(
            "the shadow heal",
            lambda: [
                e for e in run.journal() if e["event"] == "shadow" and e["kind"] == "bridge_heal"
            ],
            30,
        )
        assert not run.begun("bridge_heal")
        assert fresh.procs.pid("fwd-redis") is None  # nothing was healed
        shown = run.talon("incidents", "show", shadowed[0]["incident_id"])
        assert "WOULD" in shown.stdout
        assert "bridge_heal" in shown.stdout
        assert "ACTED" in shown.stdout  # why it would heal: the rule that allowed it


def test_one_daemon_per_node_and_sigterm_cancels_a_running_heal(fresh: Lab, tmp_path: Path) -> None:
    """Single instance; R30: SIGTERM during a long heal kills its group and journals it."""
    settings = merged(FAST, {"": {"heal_script": "sleep 300", "heal_timeout_secs": 600}})
    with talon_run(fresh, tmp_path, settings) as run:
        second = run.talon("run")
        assert second.returncode == 3
        assert "already guards this node" in second.stderr
        faults.runtime_down(fresh)
        run.wait_for("the heal script", lambda: run.begun("heal_script"), 40)
        sleeper = run.wait_for("its process", lambda: _child_named(run.pid, "sleep"), 10)
        started = time.monotonic()
        assert run.stop() == 0
        assert time.monotonic() - started < 10
        assert not psutil.pid_exists(sleeper) or psutil.Process(sleeper).status() == "zombie"
        [end] = run.ended("heal_script")
        assert end["outcome"] == "cancelled"


# helpers -------------------------------------------------------------------
def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _lines(path: Path, n: int) -> list[str] | None:
    if not path.exists():
        return None
    lines = path.read_text().splitlines()
    return lines if len(lines) >= n else None


def _failing_in_log(run: TalonRun, key: str) -> bool:
    return any(key in e["failing"] for e in run.events("cycle"))


def _gaps(stamps: list[str]) -> list[float]:
    import datetime

    times = [datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() for s in stamps]
    return [b - a for a, b in itertools.pairwise(times)] or [0.0]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _silent_listener:
    """Accepts connections (the kernel does) and never answers."""

    def __enter__(self) -> int:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        return int(self.sock.getsockname()[1])

    def __exit__(self, *exc: object) -> None:
        self.sock.close()


def _child_named(pid: int, name: str) -> int | None:
    for child in psutil.Process(pid).children(recursive=True):
        if child.name() == name:
            return child.pid
    return None
