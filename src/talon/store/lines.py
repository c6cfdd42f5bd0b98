"""Reading what a crash, a power cut or a hand may have damaged (F25).

A JSON file is read whole or not at all: ``read_json`` says why not (a directory,
not UTF-8, not JSON). A JSON-lines log is read line by line: a damaged line (torn,
not UTF-8, not JSON, not a record of that log) is skipped and reported, the rest
is read. At start the daemon sets the damage aside: a whole file is moved aside
byte for byte (``move_aside``), a damaged line is copied to ``FILE.damaged``
(``keep_damaged``); the log itself is never rewritten.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Check = Callable[[dict[str, Any]], str | None]  # why a record is not one, or None


@dataclass(frozen=True, slots=True)
class Damaged:
    number: int  # the line's number, from 1
    raw: bytes
    why: str


@dataclass(slots=True)
class Lines:
    records: list[dict[str, Any]] = field(default_factory=list)
    damaged: list[Damaged] = field(default_factory=list)
    error: str | None = None  # the whole file could not be read


def no_check(_: dict[str, Any]) -> str | None:
    return None


def decode(raw: bytes) -> tuple[Any, str | None]:
    """(value, None), or (None, why the bytes are not JSON)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, "not UTF-8"
    try:
        return json.loads(text), None
    except ValueError as exc:
        return None, f"not JSON: {exc}"
    except RecursionError:
        return None, "not JSON: nested too deep"


def read_json(path: Path) -> tuple[Any, str | None]:
    """(value, None); (None, None) when the file does not exist; (None, why) when it
    cannot be read as JSON."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, _os_error(exc)
    if not raw.strip():
        return None, "empty"
    return decode(raw)


def read_lines(path: Path, check: Check = no_check) -> Lines:
    """Every record of a JSON-lines file; blank lines are not records and not damage."""
    out = Lines()
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return out
    except OSError as exc:
        out.error = _os_error(exc)
        return out
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        value, why = decode(raw)
        if why is None:
            why = check(value) if isinstance(value, dict) else "not a JSON object"
        if why is None:
            out.records.append(value)
        else:
            out.damaged.append(Damaged(number, raw, why))
    return out


def keep_damaged(path: Path, damaged: Sequence[Damaged]) -> Path:
    """Copy damaged lines to ``FILE.damaged`` (once each: a restart does not copy them
    again). Raises OSError."""
    aside = path.with_name(path.name + ".damaged")
    try:
        kept = set(aside.read_bytes().split(b"\n"))
    except FileNotFoundError:
        kept = set()
    new = [d.raw for d in damaged if d.raw not in kept]
    if new:
        with open(aside, "ab") as f:
            f.write(b"".join(raw + b"\n" for raw in new))
            f.flush()
            os.fsync(f.fileno())
    return aside


def move_aside(path: Path, wall: float) -> Path:
    """Move a damaged file (or whatever stands in its place) to ``FILE.corrupt-TIME``,
    byte for byte. Raises OSError."""
    aside = path.with_name(f"{path.name}.corrupt-{int(wall)}")
    n = 1
    while aside.exists() or aside.is_symlink():
        n += 1
        aside = path.with_name(f"{path.name}.corrupt-{int(wall)}-{n}")
    os.replace(path, aside)
    return aside


def lines_warning(path: Path, lines: Lines, kept: str) -> str:
    """``journal.jsonl: 2 damaged lines skipped (line 3: not UTF-8; ...), kept in ...``."""
    shown = "; ".join(f"line {d.number}: {d.why}" for d in lines.damaged[:3])
    more = f"; {len(lines.damaged) - 3} more" if len(lines.damaged) > 3 else ""
    plural = "s" if len(lines.damaged) != 1 else ""
    return (
        f"{path}: {len(lines.damaged)} damaged line{plural} skipped ({shown}{more}), {kept}; "
        f"the other {len(lines.records)} records were read"
    )


def _os_error(exc: OSError) -> str:
    if isinstance(exc, IsADirectoryError):
        return "a directory, not a file"
    return str(exc.strerror or exc)
