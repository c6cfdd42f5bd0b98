"""Persisted state: survives restarts, atomic, corrupt files kept aside (F15, R31)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from talon.core import CoreState, NodeState
from talon.store import StateStore, StoreError
from tests.core.sim import Sim, config, down, policy, up


def _held_state() -> Sim:
    sim = Sim(config(policy("tcp.runtime", layer="runtime", cls="infra"), policy("http.svc")))
    for _ in range(2):
        sim.tick(down("tcp.runtime"), down("http.svc"))
    for _ in range(13):
        sim.tick(up("tcp.runtime"), up("http.svc"))
    sim.tick(down("tcp.runtime"), down("http.svc"))
    assert sim.state.hold is not None
    return sim


def test_state_survives_a_restart(tmp_path: Path) -> None:
    sim = _held_state()
    StateStore(tmp_path).save(sim.state)
    loaded = StateStore(tmp_path).load(sim.now)  # a new process
    assert loaded.state == sim.state
    assert loaded.warning is None
    assert loaded.state.failed_recovery_at == sim.state.failed_recovery_at  # the F5 marker


def test_missing_state_starts_clean(tmp_path: Path) -> None:
    assert StateStore(tmp_path).load(0).state == CoreState()


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_f15_corrupt_state_is_moved_aside_byte_identical(tmp_path: Path, damage: str) -> None:
    store = StateStore(tmp_path)
    store.save(_held_state().state)
    raw = store.state_path.read_bytes()
    broken = {"truncate": raw[: len(raw) // 2], "garbage": b"\x00\xff{", "empty": b""}[damage]
    store.state_path.write_bytes(broken)
    loaded = store.load(1234.0)
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
    loaded = store.load(1.0, quarantine=False)
    assert loaded.warning is not None
    assert store.state_path.read_bytes() == b"{"


def test_writes_are_atomic_and_leave_no_temp_files(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    for i in range(5):
        store.save(CoreState(incident_seq=i))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]
    assert store.load(0).state.incident_seq == 4


def test_write_errors_are_reported_not_fatal(tmp_path: Path) -> None:
    """R31: a write that fails raises StoreError for the caller to report."""
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("x")
    with pytest.raises(StoreError, match="cannot write"):
        StateStore(blocked).save(CoreState())


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
    store.save(sim.state, closed=sim.state.last_closed)
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
    store.save(_held_state().state)
    data = json.loads(store.state_path.read_text())
    assert data["node"] == NodeState.HOLD.value
    assert data["hold"]["reason"] == "failed_recovery"
    assert os.stat(store.state_path).st_size > 0
