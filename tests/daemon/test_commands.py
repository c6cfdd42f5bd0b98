"""The operator's command inbox (F28): the CLI's message, the daemon's answer."""

from __future__ import annotations

import json
from pathlib import Path

from talon.daemon.commands import Inbox


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
