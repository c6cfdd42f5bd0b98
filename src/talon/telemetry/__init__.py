"""Traces, optional: the small ``Tracer`` port the daemon uses, and its no-op.

The daemon opens a ``talon.cycle`` span per cycle and the executor a
``talon.action`` span per action (attributes in ``talon.telemetry.attributes``,
reference in ``docs/telemetry.md``). Without ``[telemetry]`` — or without the
``otel`` extra installed — ``build_tracer`` returns ``NOOP``: nothing from
OpenTelemetry is imported, ``span()`` hands back one shared object, and the
attribute builders are skipped (``Span.recording`` is false). Only
``talon.telemetry.otel`` imports the SDK.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from talon.actions.secrets import Secrets
    from talon.config.telemetry import TelemetryConfig
    from talon.node import NodeIdentity

AttrValue = str | bool | int | float
Attrs = Mapping[str, AttrValue]
TRACES_PATH = "/v1/traces"
DEFAULT_ENDPOINT = "http://localhost:4318"  # the OTLP/HTTP default


class Span(Protocol):
    recording: bool  # false for the no-op: skip building attributes

    def set(self, key: str, value: AttrValue) -> None: ...

    def event(self, name: str, attrs: Attrs) -> None: ...

    def fail(self, description: str) -> None:
        """Mark the span's status ERROR."""
        ...


class Tracer(Protocol):
    enabled: bool

    def span(self, name: str, attrs: Attrs | None = None) -> AbstractContextManager[Span]: ...

    async def shutdown(self) -> None:
        """Flush what is queued, bounded by the configured timeout."""
        ...


class NoopSpan:
    """A span that records nothing; one shared instance, also its own context manager."""

    __slots__ = ()
    recording = False

    def __enter__(self) -> NoopSpan:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def set(self, key: str, value: AttrValue) -> None:
        return None

    def event(self, name: str, attrs: Attrs) -> None:
        return None

    def fail(self, description: str) -> None:
        return None


class NoopTracer:
    enabled = False
    _span = NoopSpan()

    def span(self, name: str, attrs: Attrs | None = None) -> NoopSpan:
        return self._span

    async def shutdown(self) -> None:
        return None


NOOP = NoopTracer()


def traces_endpoint(config: TelemetryConfig, env: Mapping[str, str]) -> str:
    """Where traces go: the config, else the standard variables, else the OTLP default."""
    if config.otlp_endpoint:
        return _with_path(config.otlp_endpoint)
    if specific := env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip():
        return specific  # the signal's own URL, used as is (the OTLP spec)
    return _with_path(env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip() or DEFAULT_ENDPOINT)


def _with_path(base: str) -> str:
    base = base.rstrip("/")
    return base if base.endswith(TRACES_PATH) else base + TRACES_PATH


def resource_attributes(config: TelemetryConfig, identity: NodeIdentity) -> dict[str, str]:
    """The OpenTelemetry resource: who sends (semantic-convention names and values)."""
    from talon import __version__

    return {
        "service.name": config.service_name,
        "service.version": __version__,
        "service.instance.id": identity.node_id,
        "host.name": identity.node_id,
        "host.arch": identity.arch,
        "os.type": "darwin" if identity.platform == "macos" else identity.platform,
        "talon.platform": identity.platform,
    }


async def build_tracer(
    config: TelemetryConfig,
    identity: NodeIdentity,
    *,
    secrets: Secrets,
    env: Mapping[str, str],
    log: Any,
) -> Tracer:
    """The configured tracer, or ``NOOP`` (with a warning saying why, when it was asked for)."""
    if not config.active:
        return NOOP
    try:
        from talon.telemetry import otel
    except ImportError as exc:
        log.warning(
            "telemetry.unavailable",
            detail=f"[telemetry] is configured but OpenTelemetry is not installed ({exc}); "
            "install it with: pip install 'talon[otel]'. Talon runs on without traces.",
        )
        return NOOP
    from talon.actions.secrets import SecretError
    from talon.redact import redact_text

    try:
        headers = {name: await secrets.resolve(ref) for name, ref in config.headers.items()}
    except SecretError as exc:
        log.warning(
            "telemetry.unavailable",
            detail=f"[telemetry] headers: {exc}. Talon runs on without traces.",
        )
        return NOOP
    endpoint = traces_endpoint(config, env)
    tracer = otel.OtelTracer(
        endpoint=endpoint,
        headers=headers,
        timeout_s=float(config.timeout_secs),
        resource=resource_attributes(config, identity),
    )
    known = set(headers.values())
    log.info("telemetry.enabled", endpoint=redact_text(endpoint, known), exporter="otlp/http")
    return tracer
