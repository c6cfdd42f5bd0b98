"""The daemon's start: every damaged file of the state directory set aside (F25).

A whole file that cannot be read (torn, empty, not UTF-8, valid JSON that is not
what Talon wrote, a directory in its place) is moved aside byte for byte to
``FILE.corrupt-TIME``; the daemon writes a fresh one. A damaged line of
``journal.jsonl`` or ``incidents.jsonl`` is copied to ``FILE.damaged`` and skipped;
the log and its other records stay as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from talon.store.journal import read_journal
from talon.store.lines import Lines, keep_damaged, lines_warning, move_aside, read_json, read_lines

if TYPE_CHECKING:
    from talon.store.state import StateStore

DAEMON = "daemon.json"
MARKER = "failed-recovery.json"


def set_aside(store: StateStore, wall: float) -> list[str]:
    from talon.store.state import incident_problem, report_problem

    files: list[tuple[Path, Callable[[Any], str | None], str]] = [
        (store.report_path, report_problem, "the next cycle writes a new one"),
        (store.dir / DAEMON, daemon_problem, "the daemon writes a new one"),
        (store.dir / MARKER, marker_problem, "the state keeps when the recovery failed"),
    ]
    warnings = [w for path, check, kept in files if (w := _whole(path, check, kept, wall))]
    logs = [
        (store.journal_path, read_journal(store.journal_path)),
        (store.incidents_path, read_lines(store.incidents_path, incident_problem)),
    ]
    warnings += [w for path, lines in logs if (w := _log(path, lines, wall))]
    return warnings


def _whole(path: Path, check: Callable[[Any], str | None], kept: str, wall: float) -> str | None:
    data, why = read_json(path)
    if why is None and data is not None:
        why = check(data)
    if why is None:
        return None
    try:
        aside = move_aside(path, wall)
    except OSError as exc:
        return f"{path} is unreadable ({why}) and could not be moved aside: {exc.strerror or exc}"
    return f"{path} was unreadable ({why}); moved to {aside}, {kept}"


def _log(path: Path, lines: Lines, wall: float) -> str | None:
    if lines.error is not None:
        try:
            aside = move_aside(path, wall)
        except OSError as exc:
            return f"{path} is unreadable ({lines.error}) and could not be moved aside: {exc}"
        return f"{path} was unreadable ({lines.error}); moved to {aside}, starting a new log"
    if not lines.damaged:
        return None
    try:
        kept = f"kept in {keep_damaged(path, lines.damaged)}"
    except OSError as exc:
        kept = f"not copied aside ({exc.strerror or exc}): they stay in the file"
    return lines_warning(path, lines, kept)


def daemon_problem(data: Any) -> str | None:
    """Why a ``daemon.json`` is not one ``talon status`` can show."""
    if not isinstance(data, dict):
        return "not a JSON object"
    if not isinstance(data.get("config_error"), str | None):
        return "config_error is not text"
    worker = data.get("worker")
    return None if worker is None else worker_problem(worker)


def worker_problem(worker: Any) -> str | None:
    """Why the worker's status (in ``daemon.json`` or ``worker.json``) cannot be shown."""
    if not isinstance(worker, dict):
        return "worker is not an object"
    for name in ("owner", "blocked_by"):
        if not isinstance(worker.get(name), dict | None):
            return f"worker.{name} is not an object"
    started = worker.get("next_start_in_s")
    if started is not None and (not isinstance(started, int | float) or isinstance(started, bool)):
        return "worker.next_start_in_s is not a number"
    missing = worker.get("secrets_not_leased")
    if not isinstance(missing, list | None) or not all(isinstance(m, dict) for m in missing or []):
        return "worker.secrets_not_leased is not a list of objects"
    return None


def marker_problem(data: Any) -> str | None:
    """Why a ``failed-recovery.json`` is not the marker the executor writes."""
    if not isinstance(data, dict):
        return "not a JSON object"
    at = data.get("at")
    if not isinstance(at, int | float) or isinstance(at, bool):
        return "at is not a number"
    return None
