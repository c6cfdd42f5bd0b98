"""[notify] route: Alertmanager pages while its /-/ready answers; Talon's channels otherwise.

The Alertmanager stand-in and the local channel (apprise json://) are real
aiohttp servers on 127.0.0.1; an absent Alertmanager is a port nobody
listens on, a hung one a socket that never answers.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from talon.actions.alertmanager import AlertmanagerGate
from talon.actions.notify import Delivery, Message, Notifier
from talon.actions.secrets import Secrets
from talon.adapters.command import exec_env
from talon.config.outputs import ChannelConfig, NotifyConfig, SecretsConfig
from tests.actions.receiver import Clock, Receiver
from tests.support.procs import free_port, silent_listener


def _message() -> Message:
    return Message.build(
        key="edge-7-1/sos/1",
        event="sos",
        node_id="edge-7",
        incident_id="edge-7-1",
        summary="runtime_down (tcp.runtime)",
        body="The VM's socket refuses connections.",
    )


def _notifier(tmp_path: Path, hook: int, route: str, am_url: str | None, **kw: Any) -> Notifier:
    env = exec_env()
    channel = ChannelConfig(name="hook", url=f"json://127.0.0.1:{hook}/hook")
    config = NotifyConfig(channel=[channel], route=route, alertmanager_url=am_url, **kw)  # type: ignore[arg-type]
    return Notifier(
        config,
        Secrets(SecretsConfig(), env),
        env=env,
        outbox_path=tmp_path / "outbox.json",
        clock=Clock(),
    )


def _summary(deliveries: list[Delivery]) -> list[tuple[str, bool]]:
    return [(d.channel, d.ok) for d in deliveries]


def test_a_ready_alertmanager_pages_instead_of_the_local_channels(tmp_path: Path) -> None:
    async def scenario() -> tuple[list[Delivery], list[Delivery], list[Any], list[Any]]:
        async with Receiver() as am, Receiver() as hook:
            notifier = _notifier(tmp_path, hook.port, "alertmanager", f"http://127.0.0.1:{am.port}")
            first = await notifier.send(_message())
            second = await notifier.send(_message())  # within the cache: not asked again
            return first, second, am.requests, hook.requests

    first, second, asked, sent = asyncio.run(scenario())
    assert _summary(first) == _summary(second) == [("alertmanager", True)]
    assert "Alertmanager is ready" in first[0].detail
    assert "/-/ready: HTTP 200" in first[0].detail
    assert [(r.method, r.path) for r in asked] == [("GET", "/-/ready")]
    assert sent == []
    assert not (tmp_path / "outbox.json").exists()


@pytest.mark.parametrize("how", ["absent", "not ready"])
def test_an_unreachable_alertmanager_means_talon_notifies_locally(tmp_path: Path, how: str) -> None:
    async def scenario() -> tuple[list[Delivery], list[Any]]:
        async with Receiver(status=503) as am, Receiver() as hook:
            port = free_port() if how == "absent" else am.port
            notifier = _notifier(tmp_path, hook.port, "alertmanager", f"http://127.0.0.1:{port}")
            return await notifier.send(_message()), hook.requests

    deliveries, sent = asyncio.run(scenario())
    assert _summary(deliveries) == [("hook", True)]
    assert len(sent) == 1
    assert sent[0].path == "/hook"
    detail = deliveries[0].detail
    assert detail.startswith("Alertmanager unreachable (http://127.0.0.1:")
    assert detail.endswith("notified locally: sent")
    assert ("connection refused" if how == "absent" else "HTTP 503 (not ready)") in detail


def test_a_hung_alertmanager_costs_at_most_timeout_secs(tmp_path: Path) -> None:
    async def scenario(port: int) -> tuple[list[Delivery], float]:
        async with Receiver() as hook:
            notifier = _notifier(
                tmp_path, hook.port, "alertmanager", f"http://127.0.0.1:{port}", timeout_secs=1
            )
            started = time.monotonic()
            deliveries = await notifier.send(_message())
            return deliveries, time.monotonic() - started

    with silent_listener() as port:
        deliveries, took = asyncio.run(scenario(port))
    assert _summary(deliveries) == [("hook", True)]
    assert "no answer within 1s" in deliveries[0].detail
    assert took < 2.5


@pytest.mark.parametrize("route", ["local", "both"])
def test_local_and_both_send_locally_without_asking(tmp_path: Path, route: str) -> None:
    async def scenario() -> tuple[list[Delivery], list[Any], list[Any]]:
        async with Receiver() as am, Receiver() as hook:
            notifier = _notifier(tmp_path, hook.port, route, f"http://127.0.0.1:{am.port}")
            return await notifier.send(_message()), am.requests, hook.requests

    deliveries, asked, sent = asyncio.run(scenario())
    assert [(d.channel, d.ok, d.detail) for d in deliveries] == [("hook", True, "sent")]
    assert asked == []
    assert len(sent) == 1


def test_the_gate_caches_its_verdict_for_a_while() -> None:
    clock = Clock()

    async def scenario() -> tuple[list[bool], int]:
        async with Receiver() as am:
            gate = AlertmanagerGate(
                f"http://127.0.0.1:{am.port}/", timeout_s=1, cache_s=30, clock=clock
            )
            seen = [(await gate.readiness()).ready]
            clock.now += 29
            seen.append((await gate.readiness()).ready)
            clock.now += 2
            seen.append((await gate.readiness()).ready)
            return seen, len(am.requests)

    assert asyncio.run(scenario()) == ([True, True, True], 2)


@pytest.mark.parametrize("route", ["alertmanager", "both"])
def test_a_route_through_alertmanager_needs_its_url(route: str) -> None:
    with pytest.raises(ValidationError) as caught:
        NotifyConfig(route=route)  # type: ignore[arg-type]
    said = str(caught.value)
    assert "alertmanager_url" in said
    assert 'route = "local"' in said


def test_the_default_route_is_local() -> None:
    assert NotifyConfig().route == "local"
    url = NotifyConfig(route="both", alertmanager_url="http://127.0.0.1:9093/").alertmanager_url
    assert url == "http://127.0.0.1:9093"
