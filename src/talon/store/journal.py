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
what makes a restart mid-heal replay-safe. What a key came to (``status``) is
what the next Talon tells the core about an action the last one handed out.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from talon.core import Action
from talon.store.files import append_line

_ACTION = TypeAdapter(Action)
CLOSING = ("end", "interrupted")


def action_record(action: Action) -> dict[str, Any]:
    return dict(_ACTION.dump_python(action, mode="json"))


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._begun: set[str] = set()
        self._open: dict[str, dict[str, Any]] = {}
        self._closed: dict[str, tuple[str, str]] = {}  # key -> (outcome, detail)
        self._queued: dict[str, dict[str, Any]] = {}
        for entry in self.entries():
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

    def _write(self, entry: dict[str, Any]) -> None:
        append_line(self.path, json.dumps(entry, default=str).encode())
        self._apply(entry)

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

    def begin(self, action: Action, at: float, *, shadow: bool = False) -> None:
        event = "shadow" if shadow else "begin"
        self._write({"event": event, "at": at, **action_record(action)})

    def end(self, action: Action, at: float, outcome: str, detail: str, duration_s: float) -> None:
        self._write(
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

    def note(self, event: str, at: float, **fields: Any) -> None:
        """A record that is not an action (the worker supervisor's starts and exits)."""
        self._write({"event": event, "at": at, **fields})

    def queue(self, action: Action, at: float) -> None:
        self._write({"event": "queued", "at": at, **action_record(action)})

    def open_entries(self) -> list[dict[str, Any]]:
        """Begun and never ended: the daemon died while they ran."""
        return list(self._open.values())

    def mark_interrupted(self, entry: dict[str, Any], at: float, detail: str) -> None:
        self._write(
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
        try:
            lines = self.path.read_bytes().splitlines()
        except FileNotFoundError:
            return
        for line in lines:
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue  # a torn last line after a crash
            if isinstance(entry, dict):
                yield entry

    def for_incident(self, incident_id: str) -> list[dict[str, Any]]:
        return [e for e in self.entries() if e.get("incident_id") == incident_id]
