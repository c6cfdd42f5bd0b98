"""The real WebServer on 127.0.0.1, port 0, queried with aiohttp's client (R32)."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from talon import logs
from talon.config.outputs import LogConfig
from talon.core import CoreState
from talon.node import NodeIdentity
from talon.report import ProbeResult
from talon.web.health import health_payload
from talon.web.metrics import TalonMetrics
from talon.web.server import WebConfigError, WebServer, WebSources
from tests.core.sim import up
from tests.web import states

T = TypeVar("T")
IDENTITY = NodeIdentity("n1", "linux", "amd64", Path("/c"), Path("/s"), Path("/l"))
TOKEN = "s3cr3t-t0ken-value-7f1c"


@dataclass
class Node:
    """What the daemon would hand the server: a snapshot, read per request."""

    state: CoreState
    now: float
    finished: float | None
    tasks: dict[str, str] = field(default_factory=lambda: {"loop": "running"})
    metrics: TalonMetrics = field(
        default_factory=lambda: TalonMetrics(node_id="n1", platform="linux")
    )

    def health(self) -> tuple[int, dict[str, Any]]:
        return health_payload(
            state=self.state,
            identity=IDENTITY,
            now=self.now,
            last_cycle_started=None if self.finished is None else self.finished - 1,
            last_cycle_finished=self.finished,
            stale_after_s=90.0,
            shadow=False,
            config_error=None,
            tasks=self.tasks,
            running_actions=[],
            version="0.1.0",
        )

    def cycle(self, *results: ProbeResult) -> None:
        self.metrics.observe_cycle(results, self.state, started=self.now - 1, finished=self.now)

    def sources(self) -> WebSources:
        return WebSources(health=self.health, metrics=self.metrics.render)


def _node(build: Callable[[], Any] = states.stable) -> Node:
    sim = build()
    return Node(sim.state, sim.now, sim.now - 5)


def _serve(server: WebServer, scenario: Callable[[int], Awaitable[T]]) -> T:
    async def main() -> T:
        await server.start()
        try:
            return await scenario(server.bound_port)
        finally:
            await server.stop()

    return asyncio.run(main())


async def _get(port: int, path: str, token: str | None = None) -> tuple[int, str, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}{path}", headers=headers) as resp,
    ):
        return resp.status, await resp.text(), resp.headers.get("Content-Type", "")


def _health(node: Node) -> tuple[int, dict[str, Any]]:
    status, body, content_type = _serve(
        WebServer("127.0.0.1:0", node.sources(), None), lambda port: _get(port, "/health")
    )
    assert content_type.startswith("application/json")
    return status, json.loads(body)


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    logs.configure_logging(LogConfig(), log_dir=tmp_path)
    yield tmp_path / "talon.jsonl"
    logs.reset_logging()


def test_stable_is_200() -> None:
    status, payload = _health(_node())
    assert status == 200
    assert payload["signal"] == "stable"
    assert payload["last_cycle"]["age_s"] == 5.0


def test_recovering_is_200() -> None:
    assert _health(_node(states.recovering))[0] == 200


def test_a_failed_recovery_hold_is_503() -> None:
    status, payload = _health(_node(states.failed_recovery))
    assert status == 503
    assert payload["hold"]["reason"] == "failed_recovery"


def test_a_stale_loop_is_503() -> None:
    node = _node()
    node.now += 600  # the loop wedged ten minutes ago
    status, payload = _health(node)
    assert (status, payload["stale"]) == (503, True)


def test_a_dead_task_is_503() -> None:
    node = _node()
    node.tasks["notifier"] = "dead: RuntimeError: boom"
    assert _health(node)[0] == 503


def _families(body: str) -> dict[str, Any]:
    return {fam.name: fam for fam in text_string_to_metric_families(body)}


def test_metrics_parse_and_hold_the_labelled_probe_series() -> None:
    node = _node()
    node.cycle(up("redis.redis"), up("http.inngest"))
    status, body, content_type = _serve(
        WebServer("127.0.0.1:0", node.sources(), None), lambda port: _get(port, "/metrics")
    )
    assert status == 200
    assert content_type.startswith("text/plain")
    probe_up = _families(body)["talon_probe_up"]
    assert {
        (s.labels["probe"], s.labels["kind"], s.labels["class"], s.labels["endpoint_class"])
        for s in probe_up.samples
    } == {
        ("redis.redis", "redis", "service", "localhost"),
        ("http.inngest", "http", "service", "localhost"),
    }
    assert {(s.labels["node_id"], s.labels["platform"]) for s in probe_up.samples} == {
        ("n1", "linux")
    }


def test_a_reload_dropping_a_probe_removes_its_series_from_the_scrape() -> None:
    node = _node()
    node.cycle(up("redis.redis"), up("http.inngest"))

    async def scenario(port: int) -> tuple[str, str]:
        before = (await _get(port, "/metrics"))[1]
        node.cycle(up("redis.redis"))  # the reloaded config has no http.inngest
        return before, (await _get(port, "/metrics"))[1]

    before, after = _serve(WebServer("127.0.0.1:0", node.sources(), None), scenario)
    assert 'probe="http.inngest"' in before
    assert 'probe="http.inngest"' not in after
    assert 'probe="redis.redis"' in after


@pytest.mark.parametrize(
    "bind", ["0.0.0.0:9999", "192.168.1.20:9999", "[::]:9999", "talon.lan:9999"]
)
def test_a_bind_that_is_not_loopback_needs_a_token(bind: str) -> None:
    with pytest.raises(WebConfigError) as err:
        WebServer(bind, _node().sources(), None)
    message = str(err.value)
    assert "[health] bind" in message
    assert "[health] token" in message
    assert "127.0.0.1" in message  # the other fix
    WebServer(bind, _node().sources(), TOKEN)  # with a token it is accepted


@pytest.mark.parametrize("bind", ["127.0.0.1:9999", "127.0.0.2:0", "localhost:9999", "[::1]:9999"])
def test_loopback_binds_need_no_token(bind: str) -> None:
    WebServer(bind, _node().sources(), None)


def test_an_empty_token_is_refused_without_echoing_anything() -> None:
    with pytest.raises(WebConfigError, match=r"\[health\] token"):
        WebServer("127.0.0.1:0", _node().sources(), "  ")


def test_a_busy_port_is_a_config_error_naming_the_bind() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        bind = f"127.0.0.1:{holder.getsockname()[1]}"
        server = WebServer(bind, _node().sources(), None)
        with pytest.raises(WebConfigError, match=r"\[health\] bind"):
            asyncio.run(server.start())


def test_with_a_token_requests_need_it_and_it_never_reaches_the_logs(
    log_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = WebServer("127.0.0.1:0", _node().sources(), TOKEN)

    async def scenario(port: int) -> list[tuple[int, str, str]]:
        return [
            await _get(port, "/health"),
            await _get(port, "/health", token="wrong"),
            await _get(port, "/metrics", token=TOKEN[:-1]),
            await _get(port, "/nowhere"),
            await _get(port, "/health", token=TOKEN),
            await _get(port, "/metrics", token=TOKEN),
        ]

    replies = _serve(server, scenario)
    assert [r[0] for r in replies] == [401, 401, 401, 401, 200, 200]
    assert json.loads(replies[0][1])["error"] == "unauthorized"
    text = log_file.read_text()
    assert '"event": "web.unauthorized"' in text  # it logged, just not the token
    captured = capsys.readouterr()
    for output in (text, captured.out, captured.err, repr(server), *(r[1] for r in replies)):
        assert TOKEN not in output
        assert "wrong" not in output


def test_a_failing_source_is_a_500_and_the_server_keeps_serving(log_file: Path) -> None:
    node = _node()
    calls = {"n": 0}

    def flaky_health() -> tuple[int, dict[str, Any]]:
        calls["n"] += 1
        if calls["n"] <= 2:
            raise RuntimeError("snapshot unavailable")
        return node.health()

    def broken_metrics() -> tuple[bytes, str]:
        raise ValueError("no registry")

    sources = WebSources(health=flaky_health, metrics=broken_metrics)

    async def scenario(port: int) -> list[tuple[int, str, str]]:
        return [await _get(port, p) for p in ("/health", "/health", "/metrics", "/health")]

    replies = _serve(WebServer("127.0.0.1:0", sources, None), scenario)
    assert [r[0] for r in replies] == [500, 500, 500, 200]
    assert json.loads(replies[0][1]) == {"error": "internal", "detail": "the health source failed"}
    assert "snapshot unavailable" not in replies[0][1]  # details go to the log, not the wire
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    failures = [line for line in lines if line["event"] == "web.source_failed"]
    assert [f["source"] for f in failures] == ["health", "health", "metrics"]
    # the traceback once per distinct failure, not once per scrape
    assert ["exception" in f for f in failures] == [True, False, True]


def test_requests_are_not_access_logged(log_file: Path) -> None:
    node = _node()

    async def scenario(port: int) -> None:
        for _ in range(5):
            await _get(port, "/health")
            await _get(port, "/metrics")

    _serve(WebServer("127.0.0.1:0", node.sources(), None), scenario)
    assert "GET /" not in (log_file.read_text() if log_file.exists() else "")


def test_stop_releases_the_port_and_bound_port_needs_a_started_server() -> None:
    server = WebServer("127.0.0.1:0", _node().sources(), None)
    with pytest.raises(RuntimeError):
        _ = server.bound_port
    port = _serve(server, lambda port: asyncio.sleep(0, result=port))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))  # free again
