"""F22 with an injected clock: the real Daemon in this process, its wall clock stepped by
±1 h in the middle of an incident. Every window runs on the monotonic clock, so no
decision and no sleep changes: the hold keeps its time, no SOS is sent, no cooldown ends,
and the cycles keep their pace."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from talon.clock import Clock
from talon.config import load
from talon.daemon.loop import Daemon
from talon.lab.substrate import render_toml
from talon.node import NodeIdentity
from tests.support.procs import free_port

SETTINGS: dict[str, dict[str, Any]] = {
    "": {"check_interval_secs": 1, "heal_script": "true"},  # a heal that does nothing
    "health": {"enabled": False},
    "process_manager": {"kind": "null"},
    "agent": {"cloud_command": "true"},
    "healing": {
        "warmup_secs": 1,
        "durability_interval_secs": 1,
        "durability_checks": 2,
        "durability_window_secs": 1,
        "hold_secs": 600,
        "force_cycle_confirm_window_secs": 60,
    },
    "escalation": {"critical_threshold_secs": 1800, "agent_cooldown_secs": 600},
}


def _journal(identity: NodeIdentity, kind: str) -> list[dict[str, Any]]:
    path = identity.state_dir / "journal.jsonl"
    if not path.exists():
        return []
    entries = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [e for e in entries if e.get("event") == "begin" and e.get("kind") == kind]


def _next_cycle(daemon: Daemon) -> Callable[[], bool]:
    """True once a cycle after this moment has finished."""
    last = daemon.surface.snapshot.cycle_finished
    return lambda: daemon.surface.snapshot.cycle_finished != last


def _held(daemon: Daemon) -> bool:
    watch = getattr(daemon, "watch", None)  # built once run() has started
    return watch is not None and watch.state.hold is not None


@pytest.mark.parametrize("jump", [3600.0, -3600.0])
def test_f22_a_wall_jump_mid_incident_changes_no_decision_and_no_sleep(
    identity: NodeIdentity, tmp_path: Path, jump: float
) -> None:
    config = identity.config_dir / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(render_toml(SETTINGS))
    # The runtime's only probe finds nothing listening: runtime_down, healed by the (empty)
    # heal script, which regresses at once: a failed recovery and its hold.
    (identity.config_dir / "services.toml").write_text(
        f'[tcp.runtime]\naddress = "127.0.0.1:{free_port()}"\nlayer = "runtime"\n'
        'class = "infra"\ncritical = true\ncritical_after_consecutive_failures = 1\n'
    )
    offset = [0.0]
    clock = Clock(wall=lambda: time.time() + offset[0])
    daemon = Daemon(load(config, identity=identity), config_path=config, clock=clock)

    async def until(what: str, done: Callable[[], bool], timeout: float = 30) -> float:
        started = time.monotonic()
        try:
            async with asyncio.timeout(timeout):
                while not done():  # noqa: ASYNC110 (the daemon has no event for it)
                    await asyncio.sleep(0.05)
        except TimeoutError:
            raise AssertionError(f"timed out waiting for {what}") from None
        return time.monotonic() - started

    async def scenario() -> None:
        run = asyncio.create_task(daemon.run())
        try:
            await until("the hold", lambda: run.done() or _held(daemon))
            await until("the agent", lambda: bool(_journal(identity, "agent_cloud")))
            hold = daemon.watch.state.hold
            assert hold is not None
            left = hold.until - clock.now()
            seen = daemon.surface.snapshot.cycle_finished
            offset[0] = jump  # NTP steps the wall clock by an hour
            marks = []
            for _ in range(4):
                await until("a cycle", _next_cycle(daemon), 5)
                marks.append(time.monotonic())
            assert marks[-1] - marks[0] < 6, "the loop's sleep followed the wall clock"
            assert daemon.surface.snapshot.cycle_finished != seen
            state = daemon.watch.state
            assert state.hold is not None, "the hold ended by the wall clock"
            assert state.hold.until - clock.now() == pytest.approx(left, abs=15)
            assert len(_journal(identity, "agent_cloud")) == 1  # its 600 s cooldown holds
            assert not _journal(identity, "sos")  # 1800 s in trouble has not passed
            assert len(_journal(identity, "heal_script")) == 1
            _, health = daemon.health()
            assert not health["stale"]
            assert health["hold"]["remaining_s"] == pytest.approx(left, abs=15)
        finally:
            daemon.stop("test")
            assert await run == 0

    asyncio.run(scenario())
    # What was saved moved onto the next run's clock: the hold still has its time left.
    from talon.store import StateStore

    reader = Clock(wall=lambda: time.time() + offset[0])
    later = StateStore(identity.state_dir).load(reader)
    assert later.state.hold is not None
    assert later.state.hold.until - reader.now() > 500
