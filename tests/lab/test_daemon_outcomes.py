"""End to end, Talon believes only what it sees (FAULTS.md F20, F21, F23, F28; DESIGN.md
principle 8): the real `talon run` against the lab. A heal the platform refuses is followed
by the next one in the same cycle; a heal cut short by a stop is issued again, never
verified; a lost state file never makes a new incident reuse an old one's keys; an
operator's hold clear reaches a running daemon as a message and is never overwritten.
Every daemon is stopped by its pid."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from talon.lab import faults
from talon.lab.daemon import LabDaemon
from talon.lab.substrate import DEFAULT_PROFILE, Lab
from tests.lab.e2e import _lines, kinds, recovered
from tests.support.faketime import WallClock
from tests.support.procs import silent_listener
from tests.support.talon_run import FAST, TalonRun, merged, talon_run

pytestmark = pytest.mark.slow


def _cycle_with(run: TalonRun, *wanted: str) -> dict[str, Any] | None:
    """The first cycle whose actions include every one of ``wanted``."""
    return next((e for e in run.events("cycle") if set(wanted) <= set(e["actions"])), None)


# F1 where the platform has separate forwards -----------------------------------------


def test_f1_on_tunnels_only_the_forwards_are_restarted(fresh: Lab, tmp_path: Path) -> None:
    """Where the forwards are processes of their own, the bridge heal restarts them and
    nothing inside the VM is touched."""
    fresh.set_profile("tunnels")
    try:
        with talon_run(fresh, tmp_path) as run:
            vm, boots = fresh.vm_pids(), fresh.boot()["count"]
            faults.kill_forwarders(fresh)
            incident = run.wait_for("a verified recovery", lambda: recovered(run), 40)
            assert incident["root_cause"] == "split_brain"
            assert kinds(run) == ["bridge_heal"]
            assert (fresh.vm_pids(), fresh.boot()["count"]) == (vm, boots)
    finally:
        fresh.set_profile(DEFAULT_PROFILE)


# F20: the platform refuses ------------------------------------------------------------


def test_f20_a_refused_bridge_heal_is_followed_in_the_same_cycle_by_the_force_cycle(
    fresh: Lab, tmp_path: Path
) -> None:
    """The operator's config claims separate forwards (``profile = "tunnels"``); the lab,
    like the platform it imitates, has none and refuses. The same step chooses the
    force-cycle; with its confirmation met (one tick here), the same cycle runs it; that
    heal is verified; the refusal is never a failed recovery or a hold."""
    assert fresh.profile() == DEFAULT_PROFILE
    settings = merged(
        FAST, {"runtime": {"profile": "tunnels"}, "healing": {"force_cycle_confirm_ticks": 1}}
    )
    with talon_run(fresh, tmp_path, settings) as run:
        faults.kill_forwarders(fresh)
        incident = run.wait_for("a verified recovery", lambda: recovered(run), 40)
        [refused] = run.ended("bridge_heal")
        assert refused["outcome"] == "refused"
        assert "no forwarder-only restart" in refused["detail"]
        assert [e["outcome"] for e in run.ended("force_cycle")] == ["done"]
        assert _cycle_with(run, "bridge_heal", "force_cycle"), "not in the same cycle"
        [refusal] = [d for d in incident["trail"] if d["outcome"] == "refused"]
        chosen = [d for d in incident["trail"] if d["at"] == refusal["at"] and d is not refusal]
        assert [(d["rule"], d["outcome"]) for d in chosen] == [("tier", "acted")]
        assert chosen[0]["reason"].startswith("force_cycle runtime for split_brain")
        assert not run.ended("persist_marker")
        assert run.state()["hold"] is None
        assert run.health()[1]["signal"] == "stable"


# F21: Talon stopped mid-heal -----------------------------------------------------------


def test_f21_sigterm_during_a_force_cycle_then_a_restart_issues_it_again_without_a_hold(
    fresh: Lab, tmp_path: Path
) -> None:
    faults.slow_boot(fresh, 8.0)  # a force-cycle now takes seconds: time to stop Talon in it
    with talon_run(fresh, tmp_path) as run:
        faults.runtime_down(fresh)
        [first] = run.wait_for("the force-cycle", lambda: run.begun("force_cycle"), 40)
        time.sleep(1.0)  # inside it: the VM is stopped and booting slowly
        started = time.monotonic()
        assert run.stop() == 0  # SIGTERM: the heal is cancelled (R30) ...
        assert time.monotonic() - started < 10
        [ended] = run.ended("force_cycle")
        assert ended["outcome"] == "cancelled"  # ... and journalled as such
    fresh.slow_boot_path.unlink()  # the next boot is quick again
    again = TalonRun(fresh, tmp_path).start()
    try:
        incident = again.wait_for("a verified recovery", lambda: recovered(again), 60)
        cycles = again.begun("force_cycle")
        assert cycles[0]["key"] == first["key"]
        assert len(cycles) == 2  # issued again, under the next key
        assert cycles[1]["key"] != first["key"]
        assert cycles[1]["key"].endswith("/2")
        assert incident["id"] == first["incident_id"]  # the same incident, resumed
        assert [e["outcome"] for e in again.ended("force_cycle")] == ["cancelled", "done"]
        assert not again.ended("persist_marker")  # never a failed recovery
        assert again.state()["hold"] is None
        assert "failed_recovery" not in incident["faults"]
    finally:
        again.stop()


# F23: state lost -----------------------------------------------------------------------


def _cycled(run: TalonRun) -> bool:
    """This process (not the one before it in the same home) finished a cycle."""
    daemon = run.daemon()
    return daemon.get("pid") == run.pid and bool(daemon["last_cycle"]["finished_at"])


def _messages_channel(home: Path) -> tuple[dict[str, Any], Path]:
    out = home / "messages.txt"
    script = f'printf "%s|%s\\n" "$TALON_INCIDENT" "$TALON_TITLE" >> "{out}"'
    return {"name": "file", "command": ["sh", "-c", script]}, out


def test_f23_state_deleted_mid_life_a_new_incident_heals_and_notifies(
    fresh: Lab, tmp_path: Path
) -> None:
    channel, messages = _messages_channel(tmp_path)
    settings = merged(FAST, {"notify": {"channel": [channel]}})
    state = tmp_path / "state" / "state.json"
    with talon_run(fresh, tmp_path, settings) as run:
        faults.service_down(fresh, "inngest")
        first = run.wait_for("a verified recovery", lambda: recovered(run), 40)
        state.unlink()  # deleted while the daemon runs: it keeps its own and writes it again
        run.wait_for("state.json written again", state.exists, 10)
        assert run.alive()
    state.unlink()  # and lost while it is stopped
    again = TalonRun(fresh, tmp_path).start()
    try:
        again.wait_for("its first cycle", lambda: _cycled(again), 30)
        faults.service_down(fresh, "inngest")
        second = again.wait_for(
            "a second verified recovery",
            lambda: next((i for i in again.closed() if i["id"] != first["id"]), None),
            40,
        )
        restarts = again.begun("restart_service")
        assert [e["incident_id"] for e in restarts] == [first["id"], second["id"]]
        assert len({e["key"] for e in restarts}) == 2  # no key reused
        ended = again.ended("restart_service")
        assert [e["outcome"] for e in ended] == ["done", "done"]  # never "already journalled"
        told = again.wait_for(
            "the new incident's notices",
            lambda: [m for m in _lines(messages, 1) or [] if m.startswith(second["id"])],
            20,
        )
        assert told
        bundles = sorted(p.name for p in (tmp_path / "state" / "incidents").iterdir())
        assert bundles == sorted([first["id"], second["id"]])  # its evidence, its own bundle
    finally:
        again.stop()


# F28: an operator's hold clear reaches a running daemon as a message -------------------


@contextlib.contextmanager
def _slow_cycles(lab: Lab, home: Path, settings: dict[str, Any]) -> Iterator[LabDaemon]:
    """`talon run` whose cycles take ~3 s: an informational probe of a target that accepts
    and never answers (F12), so a command can land in the middle of a cycle."""
    with silent_listener() as port:
        lab.write_talon_config(settings)
        services = lab.config_dir / "services.toml"
        services.write_text(
            services.read_text()
            + f'\n[http.slow]\nurl = "http://127.0.0.1:{port}/"\ntimeout_secs = 3\n'
            "informational = true\n"
        )
        with LabDaemon(lab, home).running() as run:
            yield run


def test_f28_hold_clear_during_a_cycle_is_applied_and_never_overwritten(
    fresh: Lab, tmp_path: Path
) -> None:
    settings = merged(
        FAST,
        {"healing": {"durability_checks": 6, "durability_window_secs": 6, "hold_secs": 600}},
        {"healing": {"runtime_min_uptime_secs": 2}},
    )
    with _slow_cycles(fresh, tmp_path, settings) as run:
        faults.arm_regress(fresh, 3.0)
        faults.runtime_down(fresh)
        run.wait_for("the hold", lambda: run.state().get("hold"), 60)
        faults.heal_all(fresh)  # the VM back: the hold stays, the cycles take the slow probe's 3 s
        seen = run.cycles()
        run.wait_for("a cycle's end", lambda: run.cycles() > seen, 15)
        time.sleep(1.5)  # the next ~3 s cycle is running now
        done = run.talon("hold", "clear")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "hold cleared by the running daemon" in done.stdout
        seen = run.cycles()
        run.wait_for("three more cycles", lambda: run.cycles() >= seen + 3, 30)
        assert run.state()["hold"] is None  # applied, and no cycle wrote its old state over it
        _, health = run.health()
        command = health["operator"]["last_command"]
        assert (command["verb"], command["applied"]) == ("hold-clear", True)
        incident = run.state()["incident"] or run.closed()[-1]  # it may be verified by now
        trail = [d["reason"] for d in incident["trail"]]
        assert any(r.startswith("hold cleared by ") for r in trail)
        assert run.events("operator.command")
        assert run.talon("hold", "clear").stdout.strip().endswith("no hold is active")


# F22: the wall clock jumps -------------------------------------------------------------


def _pace(run: TalonRun, cycles: int) -> float:
    """Seconds per cycle over the next ``cycles`` cycles (measured on this process's
    monotonic clock: the daemon's log times are the ones that jump)."""
    seen, started = run.cycles(), time.monotonic()
    run.wait_for(f"{cycles} cycles", lambda: run.cycles() >= seen + cycles, 30)
    return (time.monotonic() - started) / cycles


def test_f22_wall_clock_jumps_change_no_decision_and_no_sleep(fresh: Lab, tmp_path: Path) -> None:
    """A `talon run` in a failed-recovery hold has its wall clock stepped by +1 h, then by
    -2 h (libfaketime, as NTP would). Holds, cooldowns, the SOS threshold and the loop's
    sleep run on the monotonic clock: the hold keeps its remaining time, no second
    force-cycle and no SOS follow, and the cycles keep their 1 s pace."""
    wall = WallClock(tmp_path / "faketime")
    settings = merged(
        FAST,
        {
            "healing": {
                "durability_checks": 6,
                "durability_window_secs": 6,
                "hold_secs": 600,
                "runtime_min_uptime_secs": 2,
            },
            "escalation": {"critical_threshold_secs": 1800},
        },
    )
    fresh.write_talon_config(settings)
    with LabDaemon(fresh, tmp_path, env=wall.env()).running() as run:
        faults.arm_regress(fresh, 3.0)
        faults.runtime_down(fresh)
        run.wait_for("the hold", lambda: run.state().get("hold"), 60)
        faults.heal_all(fresh)  # the VM back: the hold stays (time or an operator ends it)
        left = run.health()[1]["hold"]["remaining_s"]
        pace = _pace(run, 3)  # seconds per cycle in the hold, before any jump
        for step in (3600, -7200):
            wall.step(step)
            after = _pace(run, 3)
            assert after < pace * 1.5 + 1, f"{after:.1f}s a cycle after {step:+d}s, was {pace:.1f}"
            _, health = run.health()
            assert health["hold"] is not None, f"the hold ended early after a {step:+d}s jump"
            assert health["hold"]["remaining_s"] <= left
            assert health["hold"]["remaining_s"] > left - 60
            assert health["signal"] == "failed recovery"
            assert not health["stale"]
        assert len(run.begun("force_cycle")) == 1  # no second force-cycle in the hold
        assert not run.begun("sos")  # +1 h is not an hour in trouble
        assert len(run.begun("agent_cloud")) <= 1
        stamps = [e["ts"] for e in run.events("cycle")]
        assert max(stamps) > stamps[-1]  # the log's wall times did jump (forward, then back)
        assert max(stamps)[:13] != stamps[-1][:13]  # by an hour and more
