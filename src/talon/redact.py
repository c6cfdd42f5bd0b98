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

# Apprise schemes whose whole target is credentials (bot tokens, webhook ids and
# tokens, API keys): everything after :// is masked.
_TOKEN_SCHEMES = (
    "tgram", "discord", "slack", "msteams", "pbul", "pover", "pushover", "join", "ifttt",
    "twilio", "line", "spush", "prowl", "pjet", "simplepush", "guilded", "revolt", "opsgenie",
    "pagerduty", "ses", "sns", "d7sms", "clickatell", "kavenegar", "msg91", "sinch", "bulksms",
    "threema", "flock", "ryver", "twist", "fcm", "pushed", "pushme", "techulus", "notica",
    "lametric", "dapnet", "signl4", "splunk", "victorops", "workflows", "wxteams", "webex",
    "zulip", "bark", "gchat", "mailgun", "sparkpost", "sendgrid", "psafer", "psafers",
)  # fmt: skip
# Apprise schemes of self-hosted services: the host stays visible, the path is masked.
_PATH_SCHEMES = (
    "gotify", "gotifys", "mmost", "mmosts", "apprise", "apprises", "rocket", "rockets",
    "ntfy", "ntfys", "matrix", "matrixs", "nctalk", "nctalks", "ncloud", "nclouds", "hassio",
    "hassios",
    "mastodon", "mastodons", "misskey", "misskeys", "signal", "signals", "whatsapp", "home",
)  # fmt: skip

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
    # (``secret:NAME`` is Talon's own placeholder in its messages, never a value.)
    re.compile(rf"(?i)((?:{_KEY_WORDS})[\"']?\s*[=:]\s*[\"']?)(?!NAME\b)[^\s\"'&,;]+"),
    re.compile(
        r"(?i)([?&;][\w.\-]{0,64}(?:key|token|secret|sig|signature|password|passwd|pass|pwd"
        r"|auth|code|credential)[\w.\-]{0,64}=)[^&#\s\"']+"
    ),
    # URL userinfo: the password of user:password@, and a lone token@ in a web or redis URL.
    re.compile(
        r"(?i)((?<![a-z0-9+.\-])[a-z][a-z0-9+.\-]{0,30}://[^/\s:@]{0,256}:)[^@\s/]{1,256}(@)"
    ),
    re.compile(r"(?i)((?<![a-z0-9+.\-])(?:https?|rediss?|wss?)://)[^/\s:@]{1,256}(@)"),
    # Apprise URLs whose host and path are the credentials (tgram://BOTTOKEN/CHAT ...).
    re.compile(rf"(?i)((?<![a-z0-9+.\-])(?:{'|'.join(_TOKEN_SCHEMES)})://)[^\s\"'<>]+"),
    # Apprise URLs of a self-hosted service: the host stays, the path is the token.
    re.compile(rf"(?i)((?<![a-z0-9+.\-])(?:{'|'.join(_PATH_SCHEMES)})://[^/\s\"'<>]+/)[^\s\"'<>]+"),
    # Web hooks whose path is the credential.
    re.compile(
        r"(?i)(https?://(?:hooks\.slack\.com/services|(?:\w+\.)?discord(?:app)?\.com/api/webhooks"
        r"|[\w.\-]+\.webhook\.office\.com/webhookb2|maker\.ifttt\.com/trigger/[^/\s]+/with/key"
        r"|hc-ping\.com|api\.telegram\.org/(?:file/)?bot)/?)[^\s\"'<>?#]+"
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


def redact_config(obj: Any, known: Iterable[str] = ()) -> Any:
    """``redact`` for a configuration: a secret reference (``env:NAME``, ``secret:NAME``)
    names where a secret lives, never the secret, so it stays readable."""
    return _redact(obj, _known(known), keep=_SECRET_REF)


_SECRET_REF = re.compile(r"^(?:env|secret):[A-Za-z_][A-Za-z0-9_.\-/]*$")


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


def _redact(obj: Any, values: tuple[str, ...], keep: re.Pattern[str] | None = None) -> Any:
    if isinstance(obj, str):
        return obj if keep is not None and keep.match(obj) else redact_text(obj, values)
    if isinstance(obj, Mapping):
        return {
            _redact(k, values, keep): MASK
            if isinstance(k, str)
            and _SECRET_KEYS.search(k)
            and isinstance(v, str)
            and v
            and not (keep is not None and keep.match(v))
            else _redact(v, values, keep)
            for k, v in obj.items()
        }
    if isinstance(obj, list | tuple):
        return [_redact(v, values, keep) for v in obj]
    return obj
