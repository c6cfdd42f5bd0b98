"""Structured logs: JSON lines to a size-rotated file, a concise copy on stderr.

Every line of the file is one JSON object: ``ts`` (RFC 3339, UTC), ``level``,
``event``, then the bound keys. Records from plain ``logging`` loggers under
``talon`` (e.g. aiohttp's server errors routed to ``talon.web``) land in the
same file, with a ``logger`` key.

A log write that fails (full disk, a removed or read-only directory) never
raises into the caller and never prints a traceback per line (R31): the
``LogSink`` counts it and remembers the last error, so the daemon can show
both in ``/health``; one short line on stderr says it happened.

``configure_logging`` may be called again (a config reload): it replaces the
handlers of the previous call and closes them. structlog is imported only
when logging is configured or a logger is asked for, so ``import talon.logs``
stays cheap, and without rich (see ``_import_structlog``).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import logging.handlers
import os
import sys
import threading
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from structlog.stdlib import BoundLogger
    from structlog.typing import Processor

    from talon.config.outputs import LogConfig

LOGGER_NAME = "talon"
DEFAULT_FILE = "talon.jsonl"
LEADING_KEYS = ("ts", "level", "event")
TAIL_BLOCK = 64 * 1024

_lock = threading.RLock()

EventDict = MutableMapping[str, Any]
ErrorHook = Callable[[BaseException | None], None]


@dataclass
class LogSink:
    """Where logs go, and how writing them went."""

    path: Path
    errors: int = 0
    last_error: str | None = None
    handlers: list[logging.Handler] = field(default_factory=list)

    def record_error(self, exc: BaseException | None) -> None:
        with _lock:
            self.errors += 1
            self.last_error = "unknown error" if exc is None else f"{type(exc).__name__}: {exc}"
            first = self.errors == 1
        if first:  # one line, not one per failed write
            _stderr_line(f"talon: cannot write logs to {self.path} ({self.last_error}); counting")

    def status(self) -> dict[str, Any]:
        return {"path": str(self.path), "errors": self.errors, "last_error": self.last_error}


@dataclass
class _Installed:
    """What this module attached to the ``talon`` logger, so a reconfiguration can undo it."""

    sink: LogSink | None = None
    handlers: list[logging.Handler] = field(default_factory=list)


_INSTALLED = _Installed()


def _stderr_line(text: str) -> None:
    with contextlib.suppress(Exception):  # stderr itself may be gone; nothing left to tell
        print(text, file=sys.stderr, flush=True)


class _SafeFileHandler(logging.handlers.RotatingFileHandler):
    """Rotates by size; a failed write is counted, never raised or printed."""

    def __init__(self, path: Path, *, max_bytes: int, keep: int, on_error: ErrorHook) -> None:
        # delay: a missing or broken directory fails at the first write, where it is counted
        super().__init__(path, maxBytes=max_bytes, backupCount=keep, encoding="utf-8", delay=True)
        self._on_error = on_error

    def handleError(self, record: logging.LogRecord) -> None:
        self._on_error(sys.exc_info()[1])
        # Reopen at the next write: the directory may be back, or the disk freed.
        stream, self.stream = self.stream, None
        if stream is not None:
            with contextlib.suppress(Exception):  # its buffer cannot be flushed either; drop it
                stream.close()


class _SafeStreamHandler(logging.StreamHandler[TextIO]):
    def __init__(self, on_error: ErrorHook) -> None:
        super().__init__(sys.stderr)
        self._on_error = on_error

    def handleError(self, record: logging.LogRecord) -> None:
        self._on_error(sys.exc_info()[1])


def _leading_keys(_: Any, __: str, event: EventDict) -> EventDict:
    """``ts``, ``level`` and ``event`` first, so a human can read the file too."""
    head = {key: event.pop(key) for key in LEADING_KEYS if key in event}
    return {**head, **event}


def _concise(_: Any, __: str, event: EventDict) -> str:
    """``ts level event key=value ...`` for stderr."""
    ts, level, text = (str(event.pop(key, "")) for key in LEADING_KEYS)
    exc = event.pop("exception", None)
    pairs = " ".join(f"{key}={value!r}" for key, value in event.items())
    line = f"{ts} {level:<7} {text} {pairs}".rstrip()
    return f"{line}\n{exc}" if exc else line


def _import_structlog() -> None:
    """Import structlog, with rich hidden if nothing has imported rich yet.

    structlog's dev console imports rich (and pygments through it) whenever rich
    is installed, only for its colourful tracebacks. Talon renders its own lines
    and plain tracebacks, so that is 50 modules and ~3 MiB of the daemon's memory
    for nothing. ``sys.modules["rich"] = None`` makes ``import rich`` fail while
    structlog loads (structlog then falls back, as it does without rich);
    afterwards rich imports normally, for the CLI's tables.
    """
    if "structlog" not in sys.modules and "rich" not in sys.modules:
        with _lock:
            sys.modules["rich"] = None  # type: ignore[assignment]
            try:
                importlib.import_module("structlog")
            finally:
                sys.modules.pop("rich", None)


def _timestamper() -> Processor:
    import structlog

    return structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts")


def _formatter(*render: Processor) -> logging.Formatter:
    import structlog
    from structlog.stdlib import ProcessorFormatter

    foreign: list[Processor] = [
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        _timestamper(),
        structlog.processors.format_exc_info,
    ]
    return ProcessorFormatter(
        processors=[ProcessorFormatter.remove_processors_meta, *render],
        foreign_pre_chain=foreign,
    )


def _configure_structlog() -> None:
    import structlog

    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.add_log_level,
            _timestamper(),
            structlog.processors.format_exc_info,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # not cached: a reconfiguration (reload) reaches loggers made before it
        cache_logger_on_first_use=False,
    )


def log_path(config: LogConfig, log_dir: Path) -> Path:
    from talon.node import expand_path

    return expand_path(config.file) if config.file else log_dir / DEFAULT_FILE


def _handlers(config: LogConfig, sink: LogSink, *, stderr: bool) -> list[logging.Handler]:
    import structlog

    file_handler = _SafeFileHandler(
        sink.path, max_bytes=config.max_bytes, keep=config.keep, on_error=sink.record_error
    )
    file_handler.setFormatter(_formatter(_leading_keys, structlog.processors.JSONRenderer()))
    handlers: list[logging.Handler] = [file_handler]
    if stderr:
        err_handler = _SafeStreamHandler(sink.record_error)
        err_handler.setFormatter(_formatter(_concise))
        handlers.append(err_handler)
    return handlers


def _install(
    handlers: list[logging.Handler], level: int | str, sink: LogSink | None, *, own: bool = True
) -> None:
    """Swap the ``talon`` logger's handlers for ``handlers``; close the old ones."""
    logger = logging.getLogger(LOGGER_NAME)
    old = _INSTALLED.handlers
    for handler in old:
        logger.removeHandler(handler)
    for handler in handlers:
        logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = not handlers  # ours, or else the root logger's
    _INSTALLED.handlers, _INSTALLED.sink = handlers, sink
    for handler in old:
        handler.close()
    if own:
        _configure_structlog()


def configure_logging(config: LogConfig, *, log_dir: Path, stderr: bool = True) -> LogSink:
    """Send Talon's logs where ``config`` says; replaces any earlier configuration.

    Never raises for an unusable log directory: that is counted on the sink.
    """
    _import_structlog()
    sink = LogSink(log_path(config, log_dir))
    try:
        sink.path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        sink.record_error(exc)
    sink.handlers = _handlers(config, sink, stderr=stderr)
    with _lock:
        _install(sink.handlers, config.level.upper(), sink)
    return sink


def reset_logging() -> None:
    """Detach and close what ``configure_logging`` attached (shutdown, tests)."""
    with _lock:
        _install([], logging.NOTSET, None, own=False)


def current_sink() -> LogSink | None:
    """The sink of the last ``configure_logging``, if any."""
    return _INSTALLED.sink


def _install_fallback() -> None:
    """Before ``configure_logging``: warnings and errors, concise, on stderr (never stdout)."""
    import structlog

    handler = _SafeStreamHandler(lambda exc: None)
    handler.setFormatter(_formatter(_concise))
    # someone else's structlog setup (e.g. structlog.testing.capture_logs) wins
    _install([handler], logging.WARNING, None, own=not structlog.is_configured())


def get_logger(**bound: Any) -> BoundLogger:
    """A structlog logger writing through Talon's handlers, with ``bound`` keys."""
    _import_structlog()
    import structlog

    with _lock:
        if not _INSTALLED.handlers:
            _install_fallback()
    logger: BoundLogger = structlog.get_logger(LOGGER_NAME, **bound)
    return logger


def tail(path: Path, lines: int) -> list[str]:
    """The last ``lines`` lines of ``path``, reading backwards from its end.

    Costs about the size of those lines, not of the file. Raises ``OSError``
    (e.g. ``FileNotFoundError``) like ``open``.
    """
    if lines <= 0:
        return []
    with path.open("rb") as handle:
        pos = handle.seek(0, os.SEEK_END)
        chunks: list[bytes] = []
        newlines = 0
        # one newline more than lines: the one before the first line we return
        while pos > 0 and newlines <= lines:
            size = min(TAIL_BLOCK, pos)
            pos -= size
            handle.seek(pos)
            chunk = handle.read(size)
            chunks.append(chunk)
            newlines += chunk.count(b"\n")
    parts = b"".join(reversed(chunks)).split(b"\n")
    if parts and parts[-1] == b"":
        parts.pop()  # the file ends with a newline: no empty last line
    return [part.decode("utf-8", "replace").rstrip("\r") for part in parts[-lines:]]
