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
from talon.store.lines import Lines, decode, move_aside, read_json, read_lines

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
        """The persisted state on ``clock``; an unreadable file (or a directory in its
        place) is moved aside unless ``quarantine`` is off."""
        doc, why = read_json(self.state_path)
        if doc is None and why is None:
            return Loaded(CoreState())
        try:
            if why is not None:
                raise ValueError(why)
            stamp = Stamp.from_dict(doc.pop("clock", None)) if isinstance(doc, dict) else None
            state = _STATE.validate_python(doc)
        except (ValueError, ValidationError) as exc:
            first = _first_error(exc)
            if not quarantine:
                return Loaded(CoreState(), f"{self.state_path} is unreadable: {first}")
            try:
                aside = move_aside(self.state_path, clock.wall())
            except OSError as err:
                return Loaded(
                    CoreState(),
                    f"{self.state_path} was unreadable ({first}) and could not be moved "
                    f"aside ({err.strerror or err}); starting clean",
                )
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
        return self.read_report()[0]

    def read_report(self) -> tuple[dict[str, Any] | None, str | None]:
        """The last cycle, or None; and why it could not be shown, if it is damaged."""
        data, why = read_json(self.report_path)
        if why is None and data is not None:
            why = report_problem(data)
        if why is not None:
            return None, f"{self.report_path} is unreadable ({why}); the last cycle is not shown"
        return data, None

    def journal(self) -> Journal:
        return Journal(self.journal_path)

    def closed_incidents(self) -> Iterator[Incident]:
        """Every closed incident; a damaged line is skipped (``incidents_read`` says which)."""
        for record in self.incidents_read().records:
            yield _INCIDENT.validate_python(record)

    def incidents_read(self) -> Lines:
        return read_lines(self.incidents_path, incident_problem)

    def recent_incidents(self, count: int, tail_bytes: int = 256 * 1024) -> list[Incident]:
        """The last ``count`` closed incidents, newest first, from the log's tail only:
        a status request must not read years of incidents. Damaged lines are skipped."""
        try:
            with self.incidents_path.open("rb") as f:
                size = f.seek(0, os.SEEK_END)
                f.seek(max(0, size - tail_bytes))
                tail = f.read()
        except OSError:  # missing, or a directory: set aside at the daemon's start
            return []
        lines = tail.split(b"\n")[1 if size > tail_bytes else 0 :]  # the first may be cut
        out: list[Incident] = []
        for line in reversed(lines):
            if len(out) == count:
                break
            value, why = decode(line) if line.strip() else (None, "blank")
            if why is None and isinstance(value, dict) and incident_problem(value) is None:
                out.append(_INCIDENT.validate_python(value))
        return out

    def set_aside_damaged(self, wall: float) -> list[str]:
        """At the daemon's start (under the state lock): move aside a damaged whole file
        (``last-probe.json``, ``daemon.json``, ``failed-recovery.json``, a log that is not a
        file), copy the damaged lines of the logs to ``FILE.damaged``; one warning each."""
        from talon.store.aside import set_aside

        return set_aside(self, wall)


def report_problem(data: Any) -> str | None:
    """Why a ``last-probe.json`` is not a ``talon.check/v1`` report Talon can show."""
    if not isinstance(data, dict):
        return "not a JSON object"
    for name in ("started_at", "finished_at"):
        if not _number_or_none(data.get(name)):
            return f"{name} is not a number"
    probes = data.get("probes", [])
    if not isinstance(probes, list):
        return "probes is not a list"
    for p in probes:
        if not isinstance(p, dict):
            return "a probe is not an object"
        if not isinstance(p.get("key"), str) or not isinstance(p.get("status"), str):
            return "a probe without a key or a status"
        if not _number_or_none(p.get("latency_ms")):
            return f"{p['key']}: latency_ms is not a number"
        if not isinstance(p.get("message", ""), str | None):
            return f"{p['key']}: message is not text"
        paths = p.get("paths", [])
        if not isinstance(paths, list) or not all(isinstance(x, dict) for x in paths):
            return f"{p['key']}: paths is not a list of objects"
    return None


def incident_problem(record: dict[str, Any]) -> str | None:
    try:
        _INCIDENT.validate_python(record)
    except ValidationError as exc:
        return f"not an incident: {_first_error(exc)}"
    return None


def _number_or_none(value: Any) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError) and exc.errors():
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return f"{where + ': ' if where else ''}{first['msg']}"
    return str(exc)
