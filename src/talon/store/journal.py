"""The action journal: every action is written before it runs and closed after (principle 5).

``journal.jsonl`` holds one JSON object per line, appended and fsynced:

- ``begin``: the action (kind, key, incident, target, tier, reason) as it starts;
- ``end``: its outcome (done, failed, timeout, cancelled, refused) and detail;
- ``shadow``: what ``talon run --shadow`` would have done (never executed);
- ``queued``: an action written by another command (``talon hold clear``) for
  the daemon to carry out;
- ``worker``: the worker supervisor's starts, exits, restarts, deferrals and
  port-holder kills (no key: never replayed);
- ``interrupted``: found begun but never ended when the daemon started, i.e.
  Talon died mid-action (F14). Such a key is never fired again.

A key that was ever begun (or shadowed) is never run a second time: that is
what makes a restart mid-heal replay-safe.

A record that cannot be written (a full disk, F24) is kept in memory: it counts
at once (a key begun in memory is never fired twice by this process) and waits,
in order, in ``unwritten``; every later write, and ``flush()`` (each cycle),
writes the backlog first, all or nothing. Only a Talon that dies before space
returns forgets it. ``begin``, ``end`` and the other writers return the write
error, or None; they never raise. What a key came to (``status``) is
what the next Talon tells the core about an action the last one handed out.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from talon.core import Action
from talon.store.files import StoreError, append_line
from talon.store.lines import Lines, read_lines

_ACTION = TypeAdapter(Action)
CLOSING = ("end", "interrupted")
MEMORY_KEPT = 10_000  # records waiting for space; older ones are dropped from the backlog
KEYED = ("begin", "shadow", "queued", *CLOSING)


def action_record(action: Action) -> dict[str, Any]:
    return dict(_ACTION.dump_python(action, mode="json"))


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._begun: set[str] = set()
        self._open: dict[str, dict[str, Any]] = {}
        self._closed: dict[str, tuple[str, str]] = {}  # key -> (outcome, detail)
        self._queued: dict[str, dict[str, Any]] = {}
        self.unwritten: list[bytes] = []  # records kept in memory only, oldest first
        self.dropped = 0  # records the backlog had to let go of (memory only, still applied)
        self.error: str | None = None  # the last write error, until a write succeeds
        self.read = read_lines(path, record_problem)  # what was damaged, for a warning
        for entry in self.read.records:
            self._apply(entry)

    def _apply(self, entry: dict[str, Any]) -> None:
        key = entry.get("key")
        if not isinstance(key, str):
            return
        event = entry.get("event")
        if event in ("begin", "shadow"):
            self._begun.add(key)
            self._queued.pop(key, None)
            if event == "begin":
                self._open[key] = entry
        elif event in CLOSING:
            self._open.pop(key, None)
            outcome = entry.get("outcome", "interrupted") if event == "end" else "interrupted"
            self._closed[key] = (str(outcome), str(entry.get("detail", "")))
        elif event == "queued" and key not in self._begun:
            self._queued[key] = entry

    def _write(self, entry: dict[str, Any]) -> str | None:
        self._apply(entry)  # in memory first: it counts even if the disk refuses it
        self.unwritten.append(json.dumps(entry, default=str).encode())
        if len(self.unwritten) > MEMORY_KEPT:
            self.dropped += len(self.unwritten) - MEMORY_KEPT
            del self.unwritten[:-MEMORY_KEPT]
        return self.flush()

    def flush(self) -> str | None:
        """Write what waits in memory, in order, all or nothing: the error, or None."""
        if not self.unwritten:
            return None
        try:
            append_line(self.path, b"\n".join(self.unwritten))
        except StoreError as exc:
            self.error = str(exc)
            return self.error
        self.unwritten.clear()
        self.error = None
        return None

    def seen(self, key: str) -> bool:
        """Was this key ever begun or shadowed? Then it must not run again."""
        return key in self._begun

    def status(self, key: str) -> tuple[str, str] | None:
        """(outcome, detail) of a key: its end, ``interrupted``, ``begun`` (still open),
        ``shadow``; None when the journal never saw it begin."""
        if key in self._closed:
            return self._closed[key]
        if key in self._open:
            return "begun", ""
        if key in self._begun:
            return "shadow", "shadow mode: decided, journalled, not executed"
        return None

    def begin(self, action: Action, at: float, *, shadow: bool = False) -> str | None:
        event = "shadow" if shadow else "begin"
        return self._write({"event": event, "at": at, **action_record(action)})

    def end(
        self, action: Action, at: float, outcome: str, detail: str, duration_s: float
    ) -> str | None:
        return self._write(
            {
                "event": "end",
                "at": at,
                "key": action.key,
                "kind": action.kind.value,
                "incident_id": action.incident_id,
                "outcome": outcome,
                "detail": detail,
                "duration_s": round(duration_s, 3),
            }
        )

    def note(self, event: str, at: float, **fields: Any) -> str | None:
        """A record that is not an action (the worker supervisor's starts and exits)."""
        return self._write({"event": event, "at": at, **fields})

    def queue(self, action: Action, at: float) -> None:
        """For an offline command (`talon hold clear`): raises StoreError when the record
        cannot be written, since no daemon keeps this memory."""
        error = self._write({"event": "queued", "at": at, **action_record(action)})
        if error is not None:
            raise StoreError(error)

    def open_entries(self) -> list[dict[str, Any]]:
        """Begun and never ended: the daemon died while they ran."""
        return list(self._open.values())

    def mark_interrupted(self, entry: dict[str, Any], at: float, detail: str) -> str | None:
        return self._write(
            {
                "event": "interrupted",
                "at": at,
                "key": entry["key"],
                "kind": entry.get("kind"),
                "incident_id": entry.get("incident_id"),
                "detail": detail,
            }
        )

    def queued(self) -> list[Action]:
        return [
            _ACTION.validate_python({k: v for k, v in e.items() if k not in ("event", "at")})
            for e in self._queued.values()
        ]

    def entries(self) -> Iterator[dict[str, Any]]:
        """Every record; a damaged line (torn, not UTF-8, not a record) is skipped (F25)."""
        yield from read_journal(self.path).records

    def for_incident(self, incident_id: str) -> list[dict[str, Any]]:
        return [e for e in self.entries() if e.get("incident_id") == incident_id]


def read_journal(path: Path) -> Lines:
    return read_lines(path, record_problem)


def record_problem(entry: dict[str, Any]) -> str | None:
    """Why a line is not a journal record, or None. A ``begin`` or ``shadow`` only needs
    its key (what makes a replay safe), a ``queued`` action must be one Talon can run."""
    event = entry.get("event")
    if not isinstance(event, str):
        return "not a journal record: no event"
    key = entry.get("key")
    if event in KEYED and not isinstance(key, str):
        return f"not a journal record: a {event} without a key"
    if event == "queued":
        try:
            _ACTION.validate_python({k: v for k, v in entry.items() if k not in ("event", "at")})
        except ValidationError as exc:
            first = exc.errors()[0] if exc.errors() else {"msg": str(exc), "loc": ()}
            where = ".".join(str(p) for p in first["loc"])
            return f"not a queued action: {where + ': ' if where else ''}{first['msg']}"
    return None
