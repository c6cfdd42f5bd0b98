"""End to end, the daemon's robustness: a hung target, a bad services file, SIGKILL mid-heal,
a corrupt state file, dead notification channels, the network down (F12-F17), shadow
mode and one daemon per node, with the real `talon run` against the lab. Every daemon is
stopped by its pid."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import psutil
import pytest

from talon.lab import faults
from talon.lab.substrate import Lab
from tests.lab.e2e import (
    _child_named,
    _failing_in_log,
    _lines,
    command_channel,
    kinds,
    recovered,
)
from tests.support.procs import refusing_port, silent_listener
from tests.support.talon_run import FAST, TalonRun, merged, talon_run

pytestmark = pytest.mark.slow


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
    """The heal script outlives the SIGKILLed Talon (its own process group) and holds the
    runtime lock it inherited: the next Talon resumes the incident, marks the heal
    interrupted, waits for the lock instead of cycling the VM a second time (R19), and
    closes the incident as resolved: the interrupted heal is never verified as if it had
    run to the end (F21). One boot, not two."""
    spawned = tmp_path / "spawned"
    script = (
        f"touch {spawned}; sleep 4; {sys.executable} -m talon.lab.cycle --dir {fresh.dir} "
        "--boot-delay 0.2 force-cycle"
    )
    settings = merged(FAST, {"": {"heal_script": script}})
    boots = fresh.boot()["count"]
    with talon_run(fresh, tmp_path, settings) as run:
        faults.runtime_down(fresh)
        [begun] = run.wait_for("the heal script", lambda: run.begun("heal_script"), 40)
        # The begin is journalled before the script is spawned: a kill in between leaves
        # no survivor, and then a second heal is right. Kill once the script runs.
        run.wait_for("the script to run", spawned.exists, 20)
        run.kill()  # F14: SIGKILL in the middle of the heal
    again = TalonRun(fresh, tmp_path).start()
    try:
        closed = again.wait_for("the incident closed", lambda: again.closed(), 60)
        interrupted = [e for e in again.journal() if e["event"] == "interrupted"]
        assert [e["key"] for e in interrupted] == [begun["key"]]
        assert len(again.begun("heal_script")) == 1  # never fired a second time
        [incident] = closed
        assert incident["id"] == begun["incident_id"]  # the same incident resumed
        assert incident["outcome"] == "resolved"  # green again; nothing ran to its end here
        rules = [d["rule"] for d in incident["trail"]]
        assert "runtime_busy" in rules  # it waited for the survivor's lock
        assert fresh.boot()["count"] == boots + 1
        assert again.state().get("hold") is None
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


def _unix(stamp: str) -> float:
    import datetime

    return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def test_f16_a_dead_or_hanging_channel_never_blocks_the_others_or_the_loop(
    fresh: Lab, tmp_path: Path
) -> None:
    channel, messages = command_channel(tmp_path)
    with refusing_port() as refused, silent_listener() as hanging:
        settings = merged(
            FAST,
            {
                "notify": {
                    "timeout_secs": 5,
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
            # While the channel hung (the notice took its whole 5 s timeout), cycles went
            # on: a loop that waited for it would show at most the cycle that sent it.
            began = float(run.begun("notify")[0]["at"])  # wall time, like the log's stamps
            ended = float(first["at"])
            assert ended - began >= 5
            during = [e for e in run.events("cycle") if began < _unix(e["ts"]) < ended]
            assert len(during) >= 2, (began, ended, [e["ts"] for e in run.events("cycle")])
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
    """Nothing runs, and nothing is believed to have run: the shadowed heal is never
    verified, so no false failed recovery and no hold follow it."""
    with talon_run(fresh, tmp_path, FAST, "--shadow") as run:
        boots = fresh.boot()["count"]
        faults.kill_forwarders(fresh, "redis")
        shadowed = run.wait_for(
            "the shadow heal",
            lambda: [
                e for e in run.journal() if e["event"] == "shadow" and e["kind"] == "force_cycle"
            ],
            30,
        )
        assert not run.begun("force_cycle")
        assert fresh.procs.pid("fwd-redis") is None  # nothing was healed
        assert fresh.boot()["count"] == boots
        shown = run.talon("incidents", "show", shadowed[0]["incident_id"])
        assert "WOULD" in shown.stdout
        assert "force_cycle" in shown.stdout
        assert "ACTED" in shown.stdout  # why it would heal: the rule that allowed it
        seen = run.cycles()
        run.wait_for("five more cycles", lambda: run.cycles() >= seen + 5, 20)
        state = run.state()
        assert state["verification"] is None
        assert state["hold"] is None
        assert state["node"] == "failed"


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
