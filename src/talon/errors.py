"""Errors that carry what a human needs to fix them."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the pure core imports this module: keep it to the stdlib's cheapest
    from pathlib import Path


class TalonError(Exception):
    """Base of Talon's own errors."""


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong in one file: where it is, what it is, and how to fix it."""

    file: Path
    key: str | None
    message: str
    fix: str
    line: int | None = None

    def render(self) -> str:
        where = str(self.file) + (f":{self.line}" if self.line else "")
        key = f" [{self.key}]" if self.key else ""
        return f"{where}{key}: {self._said(self.message)} (fix: {self._said(self.fix)})"

    def as_dict(self) -> dict[str, object]:
        return {
            "file": str(self.file),
            "line": self.line,
            "key": self.key,
            "message": self._said(self.message),
            "fix": self._said(self.fix),
        }

    @staticmethod
    def _said(text: str) -> str:
        """A message may quote the bad value: its secrets are masked (every CLI output,
        log line, ``/health`` and the page show a problem through here)."""
        from talon.redact import redact_text

        return redact_text(text)


@dataclass
class ConfigError(TalonError):
    """The configuration cannot be used; ``problems`` lists every reason found."""

    problems: list[ConfigProblem] = field(default_factory=list)

    def __str__(self) -> str:
        return "\n".join(p.render() for p in self.problems)


class AdapterUnavailable(TalonError):
    """An adapter cannot do what was asked (tool missing, null adapter, denied)."""


class ToolMissing(AdapterUnavailable):
    """The tool an adapter calls is not installed, or not executable, on this node's PATH."""


class ActionFailed(TalonError):
    """An adapter ran the action and it failed (the tool exited non-zero, said no ...)."""


class ErrorKind(enum.StrEnum):
    REFUSED = "refused"  # nothing listens: transient during warmup
    EMPTY_REPLY = "empty_reply"  # accepted, closed without a byte: transient during warmup
    TIMEOUT = "timeout"  # connect or answer took longer than the probe's timeout
    RESET = "reset"
    UNREACHABLE = "unreachable"
    DNS = "dns"
    TLS = "tls"
    PROTOCOL = "protocol"  # answered, but not in the expected protocol
    HTTP_STATUS = "http_status"
    BODY_MISMATCH = "body_mismatch"
    EXIT_CODE = "exit_code"  # a script said warning/critical/unknown
    NOT_FOUND = "not_found"  # binary, service label or object does not exist
    DENIED = "denied"  # authentication or authorization refused
    PERSISTENCE = "persistence"  # redis reports failed AOF/RDB writes
    NOT_READY = "not_ready"  # the object exists but reports not ready
    UNAVAILABLE = "unavailable"  # no adapter can answer (null process manager, no VM)
    INTERNAL = "internal"  # a bug in Talon's probe code: still a visible result
    # The probe could not tell (Nagios UNKNOWN), never "the target failed" (F26):
    TOOL_MISSING = "tool_missing"  # the probe's own tool is missing or not executable
    TOOL_TIMEOUT = "tool_timeout"  # the tool itself hung past its own timeout (not the target)
    # Not a failure: stopped cleanly through its process manager, an operator's stop (F28).
    STOPPED = "stopped"

    @property
    def cannot_tell(self) -> bool:
        """The probe's own tooling failed: its result is UNKNOWN, whatever the target does."""
        return self in (ErrorKind.TOOL_MISSING, ErrorKind.TOOL_TIMEOUT)

    @property
    def transient(self) -> bool:
        """Tolerated during a warmup grace window (R9); everything else is a hard fault."""
        return self in (ErrorKind.REFUSED, ErrorKind.EMPTY_REPLY)
