"""The state directory: what survives a restart of Talon.

- ``state.json``: the core's state (readable by other tools), written atomically.
- ``last-probe.json``: the last cycle, in the ``talon check --json`` schema (compact,
  replaced atomically but not fsynced: it is rewritten every cycle).
- ``journal.jsonl``: every action, appended (and fsynced) before it runs (``Journal``).
- ``incidents.jsonl``: every closed incident with its trail.

A state file that cannot be read is moved aside byte for byte (kept as
evidence) and Talon starts clean with a warning (F15).

``state.json`` keeps the core's times on Talon's clock, with a stamp of the clock
that wrote it (``clock``); loading moves them onto the reader's clock by the time
that really passed (``talon.clock``, F22).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from talon.clock import Clock, Stamp
from talon.core import CoreState, Incident, rebase
from talon.store.files import append_line, atomic_write, locked
from talon.store.journal import Journal

_STATE = TypeAdapter(CoreState)
_INCIDENT = TypeAdapter(Incident)


@dataclass(frozen=True)
class Loaded:
    state: CoreState
    warning: str | None = None
    quarantined: Path | None = None


class StateStore:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.state_path = directory / "state.json"
        self.report_path = directory / "last-probe.json"
        self.journal_path = directory / "journal.jsonl"
        self.incidents_path = directory / "incidents.jsonl"

    def lock(self) -> AbstractContextManager[None]:
        return locked(self.dir / "state.lock")

    def load(self, clock: Clock, *, quarantine: bool = True) -> Loaded:
        """The persisted state on ``clock``; an unreadable file is moved aside unless
        ``quarantine`` is off."""
        try:
            raw = self.state_path.read_bytes()
        except FileNotFoundError:
            return Loaded(CoreState())
        try:
            doc = json.loads(raw)
            stamp = Stamp.from_dict(doc.pop("clock", None)) if isinstance(doc, dict) else None
            state = _STATE.validate_python(doc)
        except (ValueError, ValidationError) as exc:
            first = _first_error(exc)
            if not quarantine:
                return Loaded(CoreState(), f"{self.state_path} is unreadable: {first}")
            aside = self.state_path.with_name(f"state.json.corrupt-{int(clock.wall())}")
            os.replace(self.state_path, aside)
            return Loaded(
                CoreState(),
                f"{self.state_path} was unreadable ({first}); moved to {aside}, starting clean",
                aside,
            )
        # A file without a stamp (an older Talon) kept wall times: they stay as they are.
        return Loaded(state if stamp is None else rebase(state, clock.rebase_delta(stamp)))

    def save(self, state: CoreState, clock: Clock, closed: Incident | None = None) -> None:
        """Persist the state; a closed incident is appended to the incident log first."""
        if closed is not None:
            append_line(self.incidents_path, _INCIDENT.dump_json(closed))
        doc = {"clock": clock.stamp().as_dict(), **_STATE.dump_python(state, mode="json")}
        atomic_write(self.state_path, json.dumps(doc, indent=2).encode())

    def save_report(self, report: dict[str, Any]) -> None:
        # Compact: json's C encoder (an indent makes it fall back to pure Python, 3x the
        # CPU at 1000 probes); not fsynced: the next cycle rewrites it anyway.
        atomic_write(
            self.report_path, json.dumps(report, separators=(",", ":")).encode(), durable=False
        )

    def last_report(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.report_path.read_bytes())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        return data if isinstance(data, dict) else None  # the original's file is a list

    def journal(self) -> Journal:
        return Journal(self.journal_path)

    def closed_incidents(self) -> Iterator[Incident]:
        for record in _read_lines(self.incidents_path):
            yield _INCIDENT.validate_python(record)

    def recent_incidents(self, count: int, tail_bytes: int = 256 * 1024) -> list[Incident]:
        """The last ``count`` closed incidents, newest first, from the log's tail only:
        a status request must not read years of incidents."""
        try:
            with self.incidents_path.open("rb") as f:
                size = f.seek(0, os.SEEK_END)
                f.seek(max(0, size - tail_bytes))
                tail = f.read()
        except FileNotFoundError:
            return []
        lines = tail.splitlines()[1 if size > tail_bytes else 0 :]  # the first may be cut
        out: list[Incident] = []
        for line in reversed(lines):
            if len(out) == count:
                break
            try:
                out.append(_INCIDENT.validate_json(line))
            except ValidationError:
                continue  # a torn last line after a crash
        return out


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError) and exc.errors():
        return str(exc.errors()[0]["msg"])
    return str(exc)


def _read_lines(path: Path) -> Iterator[dict[str, Any]]:
    try:
        lines = path.read_bytes().splitlines()
    except FileNotFoundError:
        return
    for line in lines:
        try:
            yield json.loads(line)
        except json.JSONDecodeError:
            continue  # a torn last line after a crash
