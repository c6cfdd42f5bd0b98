"""Redaction: secrets never reach a log line, an evidence file or a journal (R26).

Two nets: the values Talon itself resolved (exact matches), and patterns for
what a command's output may carry (authorization headers, ``token=...``,
passwords in YAML or env files, credentials and tokens in URLs, private key
blocks, well-known token shapes).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "***"
MIN_KNOWN = 4  # shorter "secrets" would mask ordinary words everywhere

# "auth" alone, not "author" or "authentication".
_KEY_WORDS = r"api[_-]?key|access[_-]?key|token|secret|password|passwd|pwd|auth(?![a-z])"

# Each pattern keeps group 1 (the label), masks the rest of the match, and
# keeps group 2 when it has one (a closing delimiter).
_PATTERNS = (
    # PEM private key blocks, also torn ones (output cut before the END line).
    re.compile(
        r"(-----BEGIN [A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----)[\s\S]*?"
        r"(-----END [A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----|\Z)"
    ),
    re.compile(r"(?i)((?:proxy-)?authorization:[ \t]*(?:[A-Za-z-]+[ \t]+)?)[^\s\"',]+"),
    re.compile(r"(?i)((?:set-)?cookie:[ \t]*)[^\r\n]+"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9\-._~+/]+=*"),
    # YAML (`key: value`) and INI (`key = value`) lines: the rest of the line is the value.
    re.compile(
        rf"(?im)^([ \t\-]*[\"']?[\w.\-]{{0,64}}(?:{_KEY_WORDS})[\w.\-]{{0,64}}[\"']?"
        r"(?:[ \t]*:|[ \t]+=)[ \t]*)(?=\S)[^\r\n]+"
    ),
    # key=value, "key": "value", key: value inside a line.
    re.compile(rf"(?i)((?:{_KEY_WORDS})[\"']?\s*[=:]\s*[\"']?)[^\s\"'&,;]+"),
    re.compile(
        r"(?i)([?&][\w.\-]{0,64}(?:key|token|secret|sig|signature|password|auth|code)"
        r"[\w.\-]{0,64}=)[^&#\s\"']+"
    ),
    re.compile(
        r"(?i)((?<![a-z0-9+.\-])[a-z][a-z0-9+.\-]{0,30}://[^/\s:@]{0,256}:)[^@\s/]{1,256}(@)"
    ),
    # Telegram bot tokens (also inside api.telegram.org/bot<token>/ URLs).
    re.compile(r"(?<!\d)(\d{5,16}:)[A-Za-z0-9_-]{30,}"),
    # Token shapes: GitHub, Slack, AWS access key ids, JWTs.
    re.compile(
        r"()\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,}"
        r"|xox[abposr]-[A-Za-z0-9-]{10,}|AKIA[0-9A-Z]{16}"
        r"|eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+)"
    ),
)
_SECRET_KEYS = re.compile(
    r"(?i)(token|secret|password|passwd|api[_-]?key|authorization|cookie|credential"
    r"|private[_-]?key)"
)


def _mask(match: re.Match[str]) -> str:
    tail = match.group(2) if match.re.groups > 1 and match.group(2) else ""
    return match.group(1) + MASK + tail


@functools.lru_cache(maxsize=32)
def _known_pattern(values: tuple[str, ...]) -> re.Pattern[str]:
    # Longest first, so a secret that contains another one is masked whole.
    return re.compile("|".join(re.escape(v) for v in sorted(values, key=len, reverse=True)))


def _mask_known(text: str, values: tuple[str, ...]) -> str:
    if not values:
        return text
    pattern = _known_pattern(values)
    # Masking can join pieces into a secret again (overlaps, a secret made of
    # mask characters); each pass shortens the text, so this ends.
    while pattern.search(text):
        text = pattern.sub(MASK, text)
    return text


def _known(known: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted({v for v in known if isinstance(v, str) and len(v) >= MIN_KNOWN}))


def redact_text(text: str, known: Iterable[str] = ()) -> str:
    values = _known(known)
    text = _mask_known(text, values)
    for pattern in _PATTERNS:
        text = pattern.sub(_mask, text)
    return _mask_known(text, values)  # a pattern's mask may have recreated one


def redact(obj: Any, known: Iterable[str] = ()) -> Any:
    """A copy of JSON-like ``obj`` with secrets masked; keys that name a secret lose their value."""
    return _redact(obj, _known(known))


def _redact(obj: Any, values: tuple[str, ...]) -> Any:
    if isinstance(obj, str):
        return redact_text(obj, values)
    if isinstance(obj, Mapping):
        return {
            _redact(k, values): MASK
            if isinstance(k, str) and _SECRET_KEYS.search(k) and isinstance(v, str) and v
            else _redact(v, values)
            for k, v in obj.items()
        }
    if isinstance(obj, list | tuple):
        return [_redact(v, values) for v in obj]
    return obj
