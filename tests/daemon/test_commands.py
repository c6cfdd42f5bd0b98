"""The operator's command inbox (F28): the CLI's message, the daemon's answer; what a
pause and a resume ask of the core, and what they answer."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from talon.core import CoreState
from talon.daemon.commands import (
    MAX_PAUSE_S,
    Command,
    Inbox,
    active_pauses,
    pause_step,
    resume_step,
)
from talon.durations import exact


def test_a_command_is_pending_until_answered_then_its_answer_is_read(tmp_path: Path) -> None:
    inbox = Inbox(tmp_path)
    command = inbox.submit("hold-clear", "ops@box (pid 1)")
    assert inbox.waiting()
    assert [c.id for c in inbox.pending()] == [command.id]
    assert inbox.answer_of(command.id) is None
    inbox.answer(command, {"ok": True, "applied": True, "said": "hold cleared"})
    assert not inbox.waiting()
    assert inbox.pending() == []
    answer = inbox.wait(command.id, 1.0)
    assert answer is not None
    assert (answer["said"], answer["command"]["by"]) == ("hold cleared", "ops@box (pid 1)")


def test_an_unreadable_command_is_answered_as_such_and_never_blocks_the_next(
    tmp_path: Path,
) -> None:
    inbox = Inbox(tmp_path)
    inbox.dir.mkdir(parents=True)
    (inbox.dir / "20260101T000000-bad.json").write_bytes(b"\xff{not json")
    good = inbox.submit("hold-clear", "ops")
    assert [c.id for c in inbox.pending()] == [good.id]
    said = inbox.answer_of("20260101T000000-bad")
    assert said is not None
    assert said["ok"] is False
    assert "unreadable command" in said["said"]


def test_a_half_written_command_is_not_taken(tmp_path: Path) -> None:
    """The CLI writes a temp file and renames it: the temp file is never a command."""
    inbox = Inbox(tmp_path)
    inbox.dir.mkdir(parents=True)
    (inbox.dir / ".20260101T000000-x.json.tmp1").write_text(json.dumps({"id": "x"}))
    assert inbox.pending() == []
    assert not inbox.waiting()


def test_no_answer_in_time_is_none(tmp_path: Path) -> None:
    inbox = Inbox(tmp_path)
    command = inbox.submit("hold-clear", "ops")
    assert inbox.wait(command.id, 0.3) is None


# pause and resume: the command's arguments, and what the core is asked ------------------
def test_a_pause_command_carries_its_duration_and_probe(tmp_path: Path) -> None:
    inbox = Inbox(tmp_path)
    sent = inbox.submit("pause", "ops@box (pid 1)", duration_s=5400.0, probe="http.api")
    [got] = inbox.pending()
    assert got == sent
    assert (got.verb, got.duration_s, got.probe) == ("pause", 5400.0, "http.api")
    whole = inbox.submit("resume", "ops")
    assert next(c for c in inbox.pending() if c.id == whole.id).probe is None


def test_a_command_file_without_arguments_from_an_older_talon_still_reads(
    tmp_path: Path,
) -> None:
    inbox = Inbox(tmp_path)
    inbox.dir.mkdir(parents=True)
    old = {"id": "20260101T000000Z-abcdef", "verb": "hold-clear", "by": "ops", "at": 1.0}
    (inbox.dir / f"{old['id']}.json").write_text(json.dumps(old))
    [command] = inbox.pending()
    assert command == Command("20260101T000000Z-abcdef", "hold-clear", "ops", 1.0)
    assert (command.duration_s, command.probe) == (None, None)


@pytest.mark.parametrize(
    "bad", [{"duration_s": "an hour"}, {"duration_s": [1]}, {"probe": 5}, {"probe": ["x"]}]
)
def test_a_command_with_malformed_arguments_is_answered_as_unreadable(
    tmp_path: Path, bad: dict[str, Any]
) -> None:
    inbox = Inbox(tmp_path)
    inbox.dir.mkdir(parents=True)
    raw = {"id": "20260101T000000Z-bad", "verb": "pause", "by": "ops", "at": 1.0, **bad}
    (inbox.dir / "20260101T000000Z-bad.json").write_text(json.dumps(raw))
    assert inbox.pending() == []
    said = inbox.answer_of("20260101T000000Z-bad")
    assert said is not None
    assert (said["ok"], said["said"].startswith("unreadable command")) == (False, True)


NOW, WALL = 5_000.0, time.mktime((2026, 3, 4, 13, 5, 0, 0, 0, -1))  # local 13:05


def test_pause_step_pauses_the_node_through_the_core_and_says_until_when() -> None:
    done, answer = pause_step(CoreState(), NOW, WALL, 3600.0, None, "ops@box")
    assert done is not None
    [pause] = done.state.pauses
    assert (pause.since, pause.until, pause.by, pause.probe) == (NOW, NOW + 3600, "ops@box", None)
    assert done.state.paused("http.api") is pause  # the node's pause covers every probe
    assert answer == {
        "ok": True,
        "applied": True,
        "said": "healing and SOS paused until 14:05 (1h) by ops@box",
        "until": NOW + 3600,
    }


def test_pause_step_of_one_probe_and_a_second_pause_replaces_the_first() -> None:
    done, answer = pause_step(CoreState(), NOW, WALL, 90.0, "http.api", "ops", known={"http.api"})
    assert done is not None
    assert answer["said"] == "healing of http.api paused until 13:06 (1m30s) by ops"
    again, _ = pause_step(done.state, NOW + 10, WALL + 10, 1800.0, "http.api", "ops")
    assert again is not None
    assert [(p.probe, p.until) for p in again.state.pauses] == [("http.api", NOW + 1810)]
    assert again.state.paused(None) is None  # only that probe's heals are paused


@pytest.mark.parametrize("duration", [None, 0.0, -5.0, MAX_PAUSE_S + 1])
def test_pause_step_refuses_a_duration_out_of_bounds(duration: float | None) -> None:
    done, answer = pause_step(CoreState(), NOW, WALL, duration, None, "ops")
    assert done is None
    assert (answer["ok"], answer["applied"]) == (False, False)
    assert "at most 7d" in answer["said"]


def test_pause_step_refuses_a_probe_the_node_does_not_have() -> None:
    done, answer = pause_step(CoreState(), NOW, WALL, 60.0, "http.nope", "ops", known={"http.api"})
    assert done is None
    assert answer["said"] == "no probe 'http.nope' on this node (pause not applied)"


def test_a_pause_ending_on_another_day_names_the_date() -> None:
    _, answer = pause_step(CoreState(), NOW, WALL, 2 * 86400.0, None, "ops")
    assert answer["said"].startswith("healing and SOS paused until 2026-03-06 13:05 (2d) by ops")


def test_resume_step_ends_the_pauses_it_names_and_says_when_there_is_none() -> None:
    node, _ = pause_step(CoreState(), NOW, WALL, 3600.0, None, "ops")
    assert node is not None
    both, _ = pause_step(node.state, NOW, WALL, 600.0, "http.api", "ops")
    assert both is not None
    state = both.state
    nothing, answer = resume_step(state, NOW + 1, "http.other", "me")
    assert nothing is None
    assert answer == {
        "ok": True,
        "applied": False,
        "said": "no pause of http.other is active (the whole node is paused: `talon resume` "
        "without --probe ends that)",
    }
    one, answer = resume_step(state, NOW + 1, "http.api", "me")
    assert one is not None
    assert answer["said"] == "healing of http.api resumed by me"
    assert [p.probe for p in one.state.pauses] == [None]
    every, answer = resume_step(state, NOW + 1, None, "me")
    assert every is not None
    assert every.state.pauses == ()
    assert answer["said"] == "healing and SOS resumed by me (ended 2 pauses)"
    _, answer = resume_step(every.state, NOW + 2, None, "me")
    assert answer["said"] == "no pause is active"


def test_a_pause_that_ran_out_is_not_active_and_not_resumed() -> None:
    done, _ = pause_step(CoreState(), NOW, WALL, 60.0, None, "ops")
    assert done is not None
    assert active_pauses(done.state, NOW + 59) == list(done.state.pauses)
    assert active_pauses(done.state, NOW + 60) == []
    again, answer = resume_step(done.state, NOW + 61, None, "ops")
    assert (again, answer["said"]) == (None, "no pause is active")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (90, "1m30s"), (3600, "1h"), (5400, "1h30m"), (86400 * 7, "7d"), (59.6, "1m")],
)
def test_human_duration(seconds: float, text: str) -> None:
    assert exact(seconds) == text


def test_the_cli_and_the_daemon_agree_on_the_longest_pause() -> None:
    from talon.cli import pause as cli_pause

    assert cli_pause.MAX_PAUSE_S == MAX_PAUSE_S
