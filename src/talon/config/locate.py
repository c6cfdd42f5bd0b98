"""Turn a validation error into "file:line [key]: what is wrong (fix: how)".

tomllib gives no positions for keys, so ``find_line`` scans the text for the
table header and the ``key =`` line. It only locates; parsing stays tomllib's.
"""

from __future__ import annotations

import difflib
import json
import re
import reprlib
from collections.abc import Iterable, Sequence
from typing import Any, cast

_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-.\"' ]+?)\s*=")
_BARE = re.compile(r"^[A-Za-z0-9_-]+$")
_SHOWN = reprlib.Repr()
_SHOWN.maxstring = _SHOWN.maxother = 80
_SHOWN.maxlist = _SHOWN.maxdict = 4
_SHOWN.maxlevel = 3
MAX_MESSAGE = 400


def dotted(path: Sequence[str]) -> str:
    """A key as TOML writes it: ``http.web.timeout_secs``; ``http."a.b"``, ``""`` quoted."""
    return ".".join(p if _BARE.match(p) else json.dumps(p, ensure_ascii=False) for p in path)


def shown(value: object) -> str:
    """A value as an error quotes it: a huge string or array is cut short."""
    return _SHOWN.repr(value)


def cap(message: str) -> str:
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 1] + "\u2026"


def key_path(given: object, loc: Sequence[int | str]) -> tuple[str, ...]:
    """A pydantic error's location as the file's keys: union members (``str``,
    ``list[str]``, ``function-after[...]``) are not keys, so they are dropped."""
    out: list[str] = []
    current: object = given
    for number, part in enumerate(loc):
        inside = (isinstance(current, dict) and part in current) or (
            isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current)
        )
        if inside:
            current = cast(Any, current)[part]
        elif number < len(loc) - 1 or not isinstance(current, dict):
            continue  # not in the file: a union member's tag, or past a scalar
        else:
            current = None  # a key the file lacks (missing): still the key to name
        out.append(str(part))
    return tuple(out)


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
    for split in range(len(path), 0, -1):  # only written inside a longer one: [htp.web]
        prefix = tuple(path[:split])
        header = ()
        for number, line in enumerate(lines, start=1):
            if m := _HEADER.match(line):
                header = _parts(m.group(1))
                if header[:split] == prefix:
                    return number
            elif (m := _KEY.match(line)) and (header + _parts(m.group(1)))[:split] == prefix:
                return number
    return None


def suggest(word: str, options: Iterable[str]) -> str | None:
    matches = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return matches[0] if matches else None


def describe(error: dict[str, Any], known_keys: Iterable[str]) -> tuple[str, str]:
    """(message, fix) for one pydantic error."""
    kind, msg, loc = error["type"], error["msg"], error["loc"]
    key = str(loc[-1]) if loc else ""
    given = shown(error.get("input"))
    if kind == "extra_forbidden":
        hint = suggest(key, known_keys)
        fix = f"did you mean '{hint}'?" if hint else "remove it; see the README for valid keys"
        return f"unknown key '{key}'", fix
    if kind == "missing":
        return f"required key '{key}' is missing", f"add `{key} = ...`"
    if kind.startswith(("greater_than", "less_than")):
        return f"{msg}, got {given}", "use a value in the allowed range"
    if kind.endswith(("_type", "_parsing")):
        return f"{msg}, got {given}", "write a value of the right type"
    if kind == "literal_error":
        return f"{msg}, got {given}", "use one of the listed values"
    return msg.removeprefix("Value error, "), "correct the value"
