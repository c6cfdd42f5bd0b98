"""Redaction: secrets never reach a log line, an evidence file or a journal (R26).

Two nets: the values Talon itself resolved (exact matches), and patterns for
what a command's output may carry (bearer headers, ``token=...``, passwords,
credentials in URLs).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "***"
_PATTERNS = (
    re.compile(r"(?i)(authorization:\s*(?:bearer|basic)\s+)[^\s\"',]+"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9\-._~+/]+=*"),
    re.compile(
        r"(?i)((?:api[_-]?key|token|secret|password|passwd|pwd|auth)[\"']?\s*[=:]\s*[\"']?)"
        r"[^\s\"'&,;]+"
    ),
    re.compile(r"([a-z][a-z0-9+.\-]*://[^/\s:@]*:)[^@\s/]+(@)"),
)
_SECRET_KEYS = re.compile(r"(?i)(token|secret|password|passwd|api[_-]?key|authorization)")


def redact_text(text: str, known: Iterable[str] = ()) -> str:
    for value in sorted({v for v in known if len(v) >= 4}, key=len, reverse=True):
        text = text.replace(value, MASK)
    for pattern in _PATTERNS:
        text = pattern.sub(
            lambda m: m.group(1) + MASK + (m.group(2) if m.re.groups > 1 else ""), text
        )
    return text


def redact(obj: Any, known: Iterable[str] = ()) -> Any:
    """A copy of JSON-like ``obj`` with secrets masked; keys that name a secret lose their value."""
    known = tuple(known)
    if isinstance(obj, str):
        return redact_text(obj, known)
    if isinstance(obj, Mapping):
        return {
            k: MASK
            if isinstance(k, str) and _SECRET_KEYS.search(k) and isinstance(v, str) and v
            else redact(v, known)
            for k, v in obj.items()
        }
    if isinstance(obj, list | tuple):
        return [redact(v, known) for v in obj]
    return obj
