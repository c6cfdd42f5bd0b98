"""Turn a validation error into "file:line [key]: what is wrong (fix: how)".

tomllib gives no positions for keys, so ``find_line`` scans the text for the
table header and the ``key =`` line. It only locates; parsing stays tomllib's.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from typing import Any

_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-.\"' ]+?)\s*=")


def _parts(dotted: str) -> tuple[str, ...]:
    return tuple(p.strip().strip("\"'") for p in dotted.split("."))


def find_line(text: str, path: Sequence[str]) -> int | None:
    """1-based line of the most specific place ``path`` (tables then key) is written."""
    lines = text.splitlines()
    for split in range(len(path) - 1, -1, -1):
        table, key = tuple(path[:split]), path[split]
        header: tuple[str, ...] = ()
        for number, line in enumerate(lines, start=1):
            if m := _HEADER.match(line):
                header = _parts(m.group(1))
            elif (m := _KEY.match(line)) and header + _parts(m.group(1)) == (*table, key):
                return number
    for split in range(len(path), 0, -1):  # key absent: point at its table's header
        for number, line in enumerate(lines, start=1):
            if (m := _HEADER.match(line)) and _parts(m.group(1)) == tuple(path[:split]):
                return number
    return None


def suggest(word: str, options: Iterable[str]) -> str | None:
    matches = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return matches[0] if matches else None


def describe(error: dict[str, Any], known_keys: Iterable[str]) -> tuple[str, str]:
    """(message, fix) for one pydantic error."""
    kind, msg, loc = error["type"], error["msg"], error["loc"]
    key = str(loc[-1]) if loc else ""
    given = error.get("input")
    if kind == "extra_forbidden":
        hint = suggest(key, known_keys)
        fix = f"did you mean '{hint}'?" if hint else "remove it; see the README for valid keys"
        return f"unknown key '{key}'", fix
    if kind == "missing":
        return f"required key '{key}' is missing", f"add `{key} = ...`"
    if kind.startswith(("greater_than", "less_than")):
        return f"{msg}, got {given!r}", "use a value in the allowed range"
    if kind.endswith(("_type", "_parsing")):
        return f"{msg}, got {given!r}", "write a value of the right type"
    if kind == "literal_error":
        return f"{msg}, got {given!r}", "use one of the listed values"
    return msg.removeprefix("Value error, "), "correct the value"
