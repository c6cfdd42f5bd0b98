"""The ``Tracer`` port on the OpenTelemetry SDK: OTLP/HTTP, batched, off the event loop.

The only module that imports OpenTelemetry (the ``otel`` extra); importing it
without the packages raises ImportError, which ``build_tracer`` turns into a
warning and the no-op. Spans end on the event loop (a queue append); the
batch processor's own thread exports them, each export bounded by
``timeout_secs``, so a dead collector costs the loop nothing. The provider is
never made global (no other library's instrumentation is switched on), and
its exit hook is off: Talon flushes at shutdown itself, bounded, from a
daemon thread, so a hung collector cannot hold the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Iterator, Mapping

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span as SdkSpan
from opentelemetry.trace import Status, StatusCode

from talon import __version__
from talon.telemetry import Attrs, AttrValue

SDK_LOGGER = "opentelemetry"
TALON_LOGGER = "talon.telemetry"
REPEAT_S = 300.0


class _ToTalonLog(logging.Handler):
    """The SDK's own messages (a failed export) go to Talon's log, not bare stderr.

    A dead collector fails every batch (every 5 s): each kind of message is let
    through once per ``REPEAT_S``, so the log says it without drowning in it.
    """

    def __init__(self) -> None:
        super().__init__()
        self._last: dict[tuple[str, str], float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        key = (record.name, str(record.msg))  # the template: its arguments vary
        if record.created - self._last.get(key, -REPEAT_S) < REPEAT_S:
            return
        self._last[key] = record.created
        logging.getLogger(TALON_LOGGER).handle(record)


def _route_sdk_logs() -> None:
    sdk = logging.getLogger(SDK_LOGGER)
    if not any(isinstance(h, _ToTalonLog) for h in sdk.handlers):
        sdk.addHandler(_ToTalonLog())
    sdk.propagate = False


class OtelSpan:
    __slots__ = ("_span",)
    recording = True

    def __init__(self, span: SdkSpan) -> None:
        self._span = span

    def set(self, key: str, value: AttrValue) -> None:
        self._span.set_attribute(key, value)

    def event(self, name: str, attrs: Attrs) -> None:
        self._span.add_event(name, dict(attrs))

    def fail(self, description: str) -> None:
        self._span.set_status(Status(StatusCode.ERROR, description))


class OtelTracer:
    enabled = True

    def __init__(
        self,
        *,
        endpoint: str,
        headers: Mapping[str, str],
        timeout_s: float,
        resource: Mapping[str, str],
    ) -> None:
        _route_sdk_logs()
        self._timeout_s = timeout_s
        self._provider = TracerProvider(
            resource=Resource.create(dict(resource)), shutdown_on_exit=False
        )
        exporter = OTLPSpanExporter(
            endpoint=endpoint, headers=dict(headers) or None, timeout=timeout_s
        )
        self._provider.add_span_processor(BatchSpanProcessor(exporter))
        self._tracer = self._provider.get_tracer("talon", __version__)

    @contextlib.contextmanager
    def span(self, name: str, attrs: Attrs | None = None) -> Iterator[OtelSpan]:
        with self._tracer.start_as_current_span(
            name,
            attributes=dict(attrs) if attrs else None,
            record_exception=False,
            set_status_on_exception=False,
        ) as raw:
            span = OtelSpan(raw)
            try:
                yield span
            except asyncio.CancelledError:
                span.fail("cancelled: Talon is shutting down")
                raise
            except Exception as exc:
                span.fail(f"{type(exc).__name__}")
                raise

    async def shutdown(self) -> None:
        """Export what is queued; give up after the timeout (the thread is a daemon)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def finished() -> None:
            if not done.done():
                done.set_result(None)

        def work() -> None:
            try:
                self._provider.shutdown()
            finally:
                with contextlib.suppress(RuntimeError):  # the loop may be gone
                    loop.call_soon_threadsafe(finished)

        threading.Thread(target=work, name="talon-otel-flush", daemon=True).start()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._timeout_s + 1.0):
                await done
