"""OpenTelemetry, optional: spans reach a real OTLP/HTTP receiver from a real `talon run`;
without [telemetry] nothing from OpenTelemetry is imported; without the packages Talon
warns once and runs on."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from talon.config.telemetry import TelemetryConfig
from talon.errors import ConfigError
from talon.lab.daemon import LabDaemon
from talon.node import NodeIdentity
from talon.telemetry import NOOP, resource_attributes, traces_endpoint
from tests.support.procs import free_port
from tests.support.tiny_node import tiny_node

RECEIVER = "127.0.0.3"  # "another machine": the collector
ERROR = 2  # opentelemetry.proto.trace.v1.Status.STATUS_CODE_ERROR


# ----------------------------------------------------------------- the receiver
@dataclass
class Span:
    name: str
    attrs: dict[str, Any]
    events: list[tuple[str, dict[str, Any]]]
    status: int
    status_message: str
    trace_id: bytes
    span_id: bytes
    parent: bytes
    resource: dict[str, Any]


@dataclass
class Received:
    spans: list[Span] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)

    def named(self, name: str) -> list[Span]:
        return [s for s in self.spans if s.name == name]


def _value(any_value: Any) -> Any:
    return getattr(any_value, any_value.WhichOneof("value"))


def _attrs(pairs: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in pairs}


def _decode(body: bytes) -> list[Span]:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    request = ExportTraceServiceRequest.FromString(body)
    out = []
    for rs in request.resource_spans:
        resource = _attrs(rs.resource.attributes)
        for ss in rs.scope_spans:
            for s in ss.spans:
                out.append(
                    Span(
                        name=s.name,
                        attrs=_attrs(s.attributes),
                        events=[(e.name, _attrs(e.attributes)) for e in s.events],
                        status=s.status.code,
                        status_message=s.status.message,
                        trace_id=s.trace_id,
                        span_id=s.span_id,
                        parent=s.parent_span_id,
                        resource=resource,
                    )
                )
    return out


class _Handler(BaseHTTPRequestHandler):
    received: Received

    def do_POST(self) -> None:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceResponse,
        )

        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path != "/v1/traces":
            self.send_error(404)
            return
        self.received.headers.append({k.lower(): v for k, v in self.headers.items()})
        self.received.spans.extend(_decode(body))
        answer = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: Any) -> None:
        return None


@contextlib.contextmanager
def otlp_receiver() -> Iterator[tuple[str, Received]]:
    """A real OTLP/HTTP (protobuf) trace receiver on 127.0.0.3, in a thread of this process."""
    received = Received()
    handler = type("Handler", (_Handler,), {"received": received})
    server = ThreadingHTTPServer((RECEIVER, free_port(RECEIVER)), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{RECEIVER}:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# ------------------------------------------------- one real daemon, traced end to end
@dataclass
class Traced:
    run: LabDaemon
    received: Received
    exit_code: int
    stop_s: float


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Traced]:
    """`talon run` with [telemetry] pointing at the receiver, until a heal ran; then stopped."""
    pytest.importorskip("opentelemetry.sdk", reason="the otel extra is not installed")
    home = tmp_path_factory.mktemp("otel")
    with otlp_receiver() as (url, received):
        telemetry = {
            "otlp_endpoint": url,
            "probe_events": "all",
            "timeout_secs": 5,
            "headers": {"X-Talon-Test": "env:TALON_TEST_OTLP_TOKEN"},
        }
        with tiny_node(
            home, extra={"telemetry": telemetry}, env={"TALON_TEST_OTLP_TOKEN": "tok-123"}
        ) as run:
            run.wait_for("the tier-1c restart to end", lambda: run.ended("restart_service"))
            started = time.monotonic()
            code = run.stop()
            stop_s = time.monotonic() - started
        yield Traced(run, received, code, stop_s)


def test_cycle_spans_carry_the_node_the_counts_and_the_verdict(traced: Traced) -> None:
    cycles = traced.received.named("talon.cycle")
    assert cycles, f"no cycle span arrived: {[s.name for s in traced.received.spans]}"
    first = cycles[0].attrs
    assert first["talon.node_id"] == "lab-node"
    assert first["talon.platform"] in ("linux", "macos")
    assert first["talon.process_manager.adapter_type"] == "supervisord"
    assert first["talon.runtime.adapter_type"] == "null"
    assert (first["talon.probes"], first["talon.failing"]) == (2, 1)
    # The core asked for a restart, the platform refused it: nothing to verify (F20).
    assert first["talon.state"] == "failed"
    assert first["talon.signal"] == "recovering"
    assert first["talon.incident_id"]
    assert first["talon.actions"] >= 1


def test_probe_results_are_events_on_the_cycle_span_with_their_path(traced: Traced) -> None:
    events = {e["talon.probe"]: e for name, e in traced.received.named("talon.cycle")[0].events}
    assert set(events) == {"tcp.up", "tcp.down"}
    assert events["tcp.up"]["talon.endpoint_class"] == "localhost"
    assert events["tcp.up"]["talon.probe.status"] == "ok"
    assert events["tcp.down"]["talon.endpoint_class"] == "none"
    assert events["tcp.down"]["talon.probe.error_kind"] == "refused"
    assert events["tcp.down"]["talon.probe.kind"] == "tcp"


def test_a_heal_is_an_action_span_with_its_tier_and_adapter_under_its_cycle(
    traced: Traced,
) -> None:
    actions = traced.received.named("talon.action")
    heal = next(s for s in actions if s.attrs["talon.action.kind"] == "restart_service")
    assert heal.attrs["talon.heal_tier"] == "1c"
    assert heal.attrs["talon.adapter_type"] == "supervisord"
    assert heal.attrs["talon.action.target"] == "tcp.down"
    assert heal.attrs["talon.action.outcome"] == "refused"
    assert heal.attrs["talon.node_id"] == "lab-node"
    assert heal.status == ERROR
    assert "no supervisord socket at" in heal.status_message
    parent = next(s for s in traced.received.named("talon.cycle") if s.span_id == heal.parent)
    assert parent.trace_id == heal.trace_id
    assert heal.attrs["talon.incident_id"] == parent.attrs["talon.incident_id"]
    evidence = [s for s in actions if s.attrs["talon.action.kind"] == "capture_evidence"]
    assert evidence
    assert all(s.attrs["talon.heal_tier"] == "none" for s in evidence)
    assert all(s.attrs["talon.adapter_type"] == "evidence" for s in evidence)


def test_the_resource_names_the_service_and_the_node(traced: Traced) -> None:
    resource = traced.received.spans[0].resource
    assert resource["service.name"] == "talon"
    assert resource["service.instance.id"] == "lab-node"
    assert resource["host.arch"] in ("amd64", "arm64")
    assert resource["os.type"] in ("linux", "darwin")


def test_configured_headers_are_sent_with_the_secret_resolved(traced: Traced) -> None:
    assert traced.received.headers
    assert all(h.get("x-talon-test") == "tok-123" for h in traced.received.headers)
    assert all("protobuf" in h.get("content-type", "") for h in traced.received.headers)


def test_the_daemon_flushes_at_stop_and_exits_cleanly(traced: Traced) -> None:
    # the batch processor exports every 5 s; the heal's span arrived anyway: the stop flushed it
    assert traced.exit_code == 0
    assert traced.run.events("telemetry.enabled")
    assert not traced.run.events("telemetry.unavailable")
    stopped = traced.run.events("daemon.stop")
    assert stopped


# ------------------------------------------------------------------- zero cost
ZERO_COST = """
import asyncio, sys
import talon.daemon.loop, talon.daemon.executor, talon.web.metrics
from talon.config.telemetry import TelemetryConfig
from talon.telemetry import NOOP, build_tracer

class Log:
    def warning(self, *args, **kw):
        raise AssertionError(("no warning expected", args, kw))
    info = warning

async def main():
    for config in (TelemetryConfig(), TelemetryConfig(enabled=False, otlp_endpoint="http://127.0.0.3:4318")):
        tracer = await build_tracer(config, None, secrets=None, env={}, log=Log())
        assert tracer is NOOP
        with tracer.span("talon.cycle", {"talon.node_id": "n"}) as span:
            assert not span.recording
            span.set("talon.probes", 3)
            span.event("talon.probe", {"talon.probe": "tcp.x"})
            span.fail("no")
        await tracer.shutdown()

asyncio.run(main())
print(sorted(m for m in sys.modules if m.split(".")[0] in ("opentelemetry", "google")))
"""


def test_without_telemetry_nothing_from_opentelemetry_is_imported() -> None:
    out = subprocess.run(
        [sys.executable, "-c", ZERO_COST], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "[]"


def test_the_noop_span_is_one_shared_object() -> None:
    assert NOOP.span("a") is NOOP.span("b", {"x": 1})
    assert NOOP.enabled is False


# Records every attempt to import OpenTelemetry, then refuses it: the packages are "missing".
SITECUSTOMIZE = """
import os, sys

class _NoOtel:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "opentelemetry":
            with open(os.environ["TALON_TEST_OTEL_IMPORTS"], "a") as f:
                f.write(name + "\\n")
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _NoOtel())
"""


def test_configured_but_not_installed_warns_once_and_keeps_running(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    imports = tmp_path / "imports.txt"
    env = {"PYTHONPATH": str(site), "TALON_TEST_OTEL_IMPORTS": str(imports)}
    telemetry = {"otlp_endpoint": f"http://{RECEIVER}:{free_port(RECEIVER)}"}
    with tiny_node(tmp_path / "node", extra={"telemetry": telemetry}, env=env) as run:
        run.wait_for("two cycles", lambda: run.cycles() >= 2)
        warnings = run.events("telemetry.unavailable")
        assert len(warnings) == 1
        assert "pip install 'talon[otel]'" in warnings[0]["detail"]
        assert "not installed" in warnings[0]["detail"]
        assert run.ended("restart_service")  # it acts as before
        assert run.stop() == 0
    # one attempt, at start; never again per cycle or per action
    assert imports.read_text().splitlines() == ["opentelemetry"]


# --------------------------------------------------- the SDK tracer, in-process
def test_a_dead_collector_costs_the_stop_at_most_its_timeout() -> None:
    pytest.importorskip("opentelemetry.sdk", reason="the otel extra is not installed")
    from talon.telemetry.otel import OtelTracer

    async def run() -> float:
        tracer = OtelTracer(
            endpoint=f"http://{RECEIVER}:{free_port(RECEIVER)}/v1/traces",  # nothing listens
            headers={},
            timeout_s=1.0,
            resource={"service.name": "talon"},
        )
        for i in range(50):
            with tracer.span("talon.cycle", {"i": i}) as span:
                span.event("talon.probe", {"talon.probe": "tcp.x"})
        started = time.monotonic()
        await tracer.shutdown()
        return time.monotonic() - started

    assert asyncio.run(run()) < 5.0  # bounded: timeout + 1 s, not the SDK's 30 s


def test_an_exception_in_a_span_marks_it_failed_and_propagates() -> None:
    pytest.importorskip("opentelemetry.sdk", reason="the otel extra is not installed")
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import StatusCode

    from talon.telemetry.otel import OtelTracer

    tracer = OtelTracer(
        endpoint=f"http://{RECEIVER}:1/v1/traces", headers={}, timeout_s=1.0, resource={}
    )
    memory = InMemorySpanExporter()
    tracer._provider.add_span_processor(SimpleSpanProcessor(memory))
    with pytest.raises(RuntimeError), tracer.span("talon.action", {"talon.action.kind": "x"}):
        raise RuntimeError("boom")
    (span,) = memory.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "RuntimeError"
    asyncio.run(tracer.shutdown())


# --------------------------------------------------------------- config, pure
def test_the_endpoint_comes_from_the_config_then_the_standard_variables() -> None:
    on = TelemetryConfig(enabled=True)
    assert traces_endpoint(on, {}) == "http://localhost:4318/v1/traces"
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"}
    assert traces_endpoint(on, env) == "http://collector:4318/v1/traces"
    env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = "http://traces:4318/custom"
    assert traces_endpoint(on, env) == "http://traces:4318/custom"  # used as is
    mine = TelemetryConfig(otlp_endpoint="https://otel.example:4318")
    assert traces_endpoint(mine, env) == "https://otel.example:4318/v1/traces"
    full = TelemetryConfig(otlp_endpoint="http://127.0.0.1:4318/v1/traces")
    assert traces_endpoint(full, {}) == "http://127.0.0.1:4318/v1/traces"


def test_tracing_is_on_with_an_endpoint_or_when_enabled_and_off_by_default() -> None:
    assert not TelemetryConfig().active
    assert TelemetryConfig(otlp_endpoint="http://127.0.0.1:4318").active
    assert TelemetryConfig(enabled=True).active
    assert not TelemetryConfig(enabled=False, otlp_endpoint="http://127.0.0.1:4318").active


def test_the_resource_uses_semantic_convention_values(identity: NodeIdentity) -> None:
    attrs = resource_attributes(TelemetryConfig(service_name="watch"), identity)
    assert attrs["service.name"] == "watch"
    assert attrs["service.instance.id"] == identity.node_id
    mac = NodeIdentity(**{**identity.__dict__, "platform": "macos"})
    assert resource_attributes(TelemetryConfig(), mac)["os.type"] == "darwin"


def test_bad_telemetry_settings_are_config_errors_naming_the_key(
    tmp_path: Path, identity: NodeIdentity
) -> None:
    from talon.config import load

    (tmp_path / "services.toml").write_text("")
    config = tmp_path / "config.toml"
    config.write_text(
        '[telemetry]\notlp_endpoint = "ftp://collector"\nheaders = { Authorization = "Bearer abc" }\n'
    )
    with pytest.raises(ConfigError) as info:
        load(config, identity=identity)
    said = json.dumps([p.render() for p in info.value.problems])
    assert "telemetry.otlp_endpoint" in said
    assert "http:// or https://" in said
    assert "telemetry.headers" in said
    assert "env:NAME or secret:NAME" in said


def test_the_sdks_own_messages_go_to_talons_log_once_per_kind_per_five_minutes() -> None:
    pytest.importorskip("opentelemetry.sdk", reason="the otel extra is not installed")
    import logging

    from talon.telemetry.otel import REPEAT_S, _route_sdk_logs

    _route_sdk_logs()
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    keep = Keep()
    talon_log = logging.getLogger("talon.telemetry")
    talon_log.addHandler(keep)
    try:
        sdk = logging.getLogger("opentelemetry.exporter.test")
        for delay in (0.5, 0.9, 0.7):  # a dead collector: the same failure, batch after batch
            sdk.warning("Transient error %s, retrying in %.2fs.", "refused", delay)
        sdk.error("Failed to export spans batch.")
        assert [r.getMessage() for r in seen] == [
            "Transient error refused, retrying in 0.50s.",
            "Failed to export spans batch.",
        ]
        assert REPEAT_S == 300.0
    finally:
        talon_log.removeHandler(keep)
