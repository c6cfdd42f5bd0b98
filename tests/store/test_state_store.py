"""Persisted state: survives restarts, atomic, corrupt files kept aside (F15, R31)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from talon.core import CoreState, NodeState
from talon.store import StateStore, StoreError
from tests.core.sim import Sim, config, down, policy, up
from tests.support.clocks import Hands


def _held_state(now: float = 1_000_000.0) -> Sim:
    cfg = config(policy("tcp.runtime", layer="runtime", cls="infra"), policy("http.svc"))
    sim = Sim(cfg, now=now)
    for _ in range(2):
        sim.tick(down("tcp.runtime"), down("http.svc"))
    for _ in range(13):
        sim.tick(up("tcp.runtime"), up("http.svc"))
    sim.tick(down("tcp.runtime"), down("http.svc"))
    assert sim.state.hold is not None
    return sim


def test_state_survives_a_restart(tmp_path: Path) -> None:
    hands = Hands()
    clock = hands.clock()
    sim = _held_state(clock.now())
    StateStore(tmp_path).save(sim.state, clock)
    hands.tick(30)
    loaded = StateStore(tmp_path).load(hands.clock())  # a new process, 30 s later
    assert loaded.state == sim.state
    assert loaded.warning is None
    assert loaded.state.failed_recovery_at == sim.state.failed_recovery_at  # the F5 marker


def test_missing_state_starts_clean(tmp_path: Path) -> None:
    assert StateStore(tmp_path).load(Hands().clock()).state == CoreState()


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_f15_corrupt_state_is_moved_aside_byte_identical(tmp_path: Path, damage: str) -> None:
    store = StateStore(tmp_path)
    store.save(_held_state().state, Hands().clock())
    raw = store.state_path.read_bytes()
    broken = {"truncate": raw[: len(raw) // 2], "garbage": b"\x00\xff{", "empty": b""}[damage]
    store.state_path.write_bytes(broken)
    loaded = store.load(Hands(wall=1234.0).clock())
    assert loaded.state == CoreState()
    assert loaded.warning is not None
    assert "starting clean" in loaded.warning
    assert loaded.quarantined == tmp_path / "state.json.corrupt-1234"
    assert loaded.quarantined.read_bytes() == broken
    assert not store.state_path.exists()


def test_read_only_load_does_not_move_anything(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    store.state_path.parent.mkdir(parents=True, exist_ok=True)
    store.state_path.write_bytes(b"{")
    loaded = store.load(Hands().clock(), quarantine=False)
    assert loaded.warning is not None
    assert store.state_path.read_bytes() == b"{"


def test_writes_are_atomic_and_leave_no_temp_files(tmp_path: Path) -> None:
    store, clock = StateStore(tmp_path), Hands().clock()
    for i in range(5):
        store.save(CoreState(short_boots=i), clock)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]
    assert store.load(clock).state.short_boots == 4


def test_write_errors_are_reported_not_fatal(tmp_path: Path) -> None:
    """R31: a write that fails raises StoreError for the caller to report."""
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("x")
    with pytest.raises(StoreError, match="cannot write"):
        StateStore(blocked).save(CoreState(), Hands().clock())


def test_journal_and_closed_incidents_survive_a_torn_last_line(tmp_path: Path) -> None:
    sim = Sim(config(policy("http.svc")))
    sim.tick(down("http.svc"))
    for _ in range(25):
        sim.tick(up("http.svc"))
    store = StateStore(tmp_path)
    journal = store.journal()
    for action in sim.actions:
        journal.begin(action, sim.now)
    assert sim.state.last_closed is not None
    store.save(sim.state, Hands().clock(), closed=sim.state.last_closed)
    with open(store.journal_path, "ab") as f:
        f.write(b'{"at": 1, "kind": "restart_se')  # a crash mid-write
    entries = list(store.journal().entries())
    assert [e["key"] for e in entries] == [a.key for a in sim.actions]
    [incident] = store.closed_incidents()
    assert incident.outcome == "recovered"
    assert incident.trail


def test_state_file_is_plain_json_for_other_tools(tmp_path: Path) -> None:
    import json

    store = StateStore(tmp_path)
    store.save(_held_state().state, Hands().clock())
    data = json.loads(store.state_path.read_text())
    assert data["node"] == NodeState.HOLD.value
    assert data["hold"]["reason"] == "failed_recovery"
    assert os.stat(store.state_path).st_size > 0


# F22: a persisted deadline is re-based on start, never trusted across a clock jump ------


def _remaining(store: StateStore, hands: Hands) -> float:
    clock = hands.clock()
    hold = store.load(clock).state.hold
    assert hold is not None
    return hold.until - clock.now()


def _saved_hold(tmp_path: Path) -> tuple[StateStore, Hands, float]:
    """A node in a hold, saved by a Talon on the ``Hands`` clock: (store, hands, remaining)."""
    hands = Hands()
    clock = hands.clock()
    sim = _held_state(clock.now())
    store = StateStore(tmp_path)
    store.save(sim.state, clock)
    assert sim.state.hold is not None
    return store, hands, sim.state.hold.until - clock.now()


@pytest.mark.parametrize("jump", [3600.0, -3600.0])
def test_f22_a_wall_jump_while_talon_is_down_moves_no_hold(tmp_path: Path, jump: float) -> None:
    store, hands, left = _saved_hold(tmp_path)
    hands.tick(60)  # Talon is restarted a minute later ...
    hands.jump(jump)  # ... after NTP stepped the wall clock by an hour
    assert _remaining(store, hands) == pytest.approx(left - 60)


def test_f22_after_a_reboot_the_wall_clock_measures_the_gap(tmp_path: Path) -> None:
    store, hands, left = _saved_hold(tmp_path)
    hands.reboot(down_s=120)
    assert _remaining(store, hands) == pytest.approx(left - 120)


def test_f22_a_wall_clock_set_back_across_a_reboot_never_stretches_a_hold(tmp_path: Path) -> None:
    """No monotonic clock spans a reboot: a wall clock behind the save counts as no time,
    so a deadline is never pushed out by the clock going backwards."""
    store, hands, left = _saved_hold(tmp_path)
    hands.reboot(down_s=60)
    hands.jump(-7200)
    assert _remaining(store, hands) == pytest.approx(left)


def test_a_state_file_without_a_clock_stamp_is_read_as_it_is(tmp_path: Path) -> None:
    """An older Talon wrote wall times and no stamp: they are kept unchanged."""
    import json

    sim = _held_state()
    store = StateStore(tmp_path)
    store.save(sim.state, Hands().clock())
    doc = json.loads(store.state_path.read_text())
    del doc["clock"]
    doc["incident_seq"] = 7  # and keys this Talon no longer has are ignored
    store.state_path.write_text(json.dumps(doc))
    assert store.load(Hands(wall=5.0).clock()).state == sim.state
