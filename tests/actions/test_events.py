"""CloudEvents: the pure mapping from core steps, the envelope, and real sinks on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import re
import time
from datetime import datetime
from typing import Any

from talon.actions import events
from talon.actions.events import EventSink, action_event_data, cloud_event, events_for
from talon.actions.notify import Delivery
from talon.actions.secrets import Secrets
from talon.adapters.command import exec_env
from talon.config.outputs import EventsConfig, SecretsConfig, SinkConfig
from talon.core import Action, ActionKind, clear_hold
from talon.report import ProbeResult
from tests.actions.receiver import Receiver
from tests.core.sim import Sim, config, down, policy, up
from tests.support.procs import refusing_port, silent_listener
from tests.web import states

TOKEN = "evk_0a1b2c3d4e5f6789"
Seen = list[tuple[str, dict[str, Any], str]]


def _tick(sim: Sim, *results: ProbeResult, dt: float = 10.0) -> Seen:
    """A tick's events: those of each of its steps (a follow-up step has its own)."""
    first = len(sim.steps)
    sim.tick(*results, dt=dt)
    return [
        e
        for done in sim.steps[first:]
        for e in events_for(done.changes, done.state, done.actions, node_id="n1")
    ]


def _outage() -> list[Seen]:
    """Down, force-cycled, regressed into a hold, SOS, hold over, verified: one incident."""
    sim = states.stack()
    seen = [_tick(sim, *states.green())]
    seen += [_tick(sim, *states.red()) for _ in range(2)]
    seen += [_tick(sim, *states.green()) for _ in range(13)]
    seen += [_tick(sim, *states.red())]  # regressed inside the durability window: hold
    seen += [_tick(sim, *states.red(), dt=700) for _ in range(3)]  # critical, SOS, hold ends
    seen += [_tick(sim, *states.green(), dt=700) for _ in range(3)]
    seen += [_tick(sim, *states.green()) for _ in range(10)]
    return seen


def test_an_outage_yields_each_event_once_in_order() -> None:
    flat = [e for step in _outage() for e in step]
    assert [t for t, _, _ in flat] == [
        events.NODE_DEGRADED,
        events.INCIDENT_OPENED,
        events.HOLD_STARTED,
        events.RECOVERY_FAILED,
        events.SOS_SENT,
        events.HOLD_ENDED,
        events.NODE_RECOVERED,
        events.INCIDENT_CLOSED,
    ]
    assert len({eid for _, _, eid in flat}) == len(flat)
    incident = flat[0][1]["incident_id"]
    assert incident.startswith("n1-")
    assert all(eid.startswith(f"{incident}/") for _, _, eid in flat)
    for _, data, _ in flat:
        assert (data["node_id"], data["incident_id"]) == ("n1", incident)
        assert {"root_cause", "state", "signal"} <= set(data)


def test_event_data_names_the_node_cause_state_and_signal() -> None:
    by_type = {t: d for step in _outage() for t, d, _ in step}
    opened = by_type[events.INCIDENT_OPENED]
    assert (opened["root_cause"], opened["state"], opened["signal"]) == (
        "runtime_down",
        "failed",
        "recovering",
    )
    held = by_type[events.RECOVERY_FAILED]
    assert (held["reason"], held["signal"]) == ("failed_recovery", "failed recovery")
    assert held["until"] - held["since"] == 1800
    assert by_type[events.SOS_SENT]["reason"].startswith("in trouble for")
    closed = by_type[events.INCIDENT_CLOSED]
    assert (closed["outcome"], closed["state"], closed["signal"]) == (
        "recovered",
        "healthy",
        "stable",
    )
    assert "failed_recovery" in closed["faults"]


def test_the_same_steps_give_the_same_ids() -> None:
    """Replay-safe: a receiver can de-duplicate on the id."""
    assert _outage() == _outage()


def test_an_incident_that_ends_without_a_heal_is_closed_not_recovered() -> None:
    sim = Sim(config(policy("http.app", cls="app")))
    _tick(sim, up("http.app"))
    opened = _tick(sim, down("http.app"))
    closed = _tick(sim, up("http.app"))
    assert [t for t, _, _ in opened] == [events.NODE_DEGRADED, events.INCIDENT_OPENED]
    assert [(t, d["outcome"]) for t, d, _ in closed] == [
        (events.INCIDENT_CLOSED, "resolved_without_action")
    ]
    assert _tick(sim, up("http.app")) == []


def test_an_operator_clearing_a_hold_ends_it() -> None:
    sim = states.failed_recovery()
    done = clear_hold(sim.state, sim.now + 5)
    seen = events_for(done.changes, done.state, done.actions, node_id="n1")
    assert [t for t, _, _ in seen] == [events.HOLD_ENDED]
    assert seen[0][1]["reason"] == "failed_recovery"


def test_action_completed_data() -> None:
    action = Action(
        ActionKind.FORCE_CYCLE, "n1-1/1b/force_cycle/1", "n1-1", "runtime_down", tier="1b"
    )
    data = action_event_data(action, "done", "VM restarted")
    assert data == {
        "incident_id": "n1-1",
        "action": "force_cycle",
        "key": "n1-1/1b/force_cycle/1",
        "tier": "1b",
        "target": None,
        "reason": "runtime_down",
        "outcome": "done",
        "detail": "VM restarted",
    }


def _event(**kw: Any) -> dict[str, Any]:
    return cloud_event(
        events.INCIDENT_OPENED,
        node_id="edge-7",
        platform="linux",
        data={"incident_id": "edge-7-1", "root_cause": "runtime_down"},
        at=1_700_000_000.25,
        id="edge-7-1/incident.opened",
        **kw,
    )


def test_cloud_event_has_the_required_attributes_and_an_inngest_name() -> None:
    event = _event(subject="edge-7-1")
    assert event["specversion"] == "1.0"
    assert event["id"] == "edge-7-1/incident.opened"
    assert event["source"] == "talon://edge-7"
    assert event["type"] == event["name"] == "talon.incident.opened"
    assert event["time"] == "2023-11-14T22:13:20.250Z"
    assert datetime.fromisoformat(event["time"]).utcoffset() is not None  # RFC 3339, UTC
    assert event["datacontenttype"] == "application/json"
    assert event["subject"] == "edge-7-1"
    assert event["data"] == {
        "node_id": "edge-7",
        "platform": "linux",
        "incident_id": "edge-7-1",
        "root_cause": "runtime_down",
    }
    # CloudEvents: attribute names are lower-case letters and digits.
    assert all(re.fullmatch(r"[a-z0-9]{1,20}", name) for name in event)
    assert json.loads(json.dumps(event)) == event


def test_cloud_event_leaves_out_an_absent_subject() -> None:
    assert "subject" not in _event()


def _sink(*urls: str, timeout: int = 5) -> EventSink:
    env = {**exec_env(), "EVENT_KEY": TOKEN}
    sinks = [SinkConfig(url=u, secret="env:EVENT_KEY" if "{secret}" in u else None) for u in urls]
    return EventSink(EventsConfig(sink=sinks, timeout_secs=timeout), Secrets(SecretsConfig(), env))


def test_sink_posts_the_structured_event_to_a_real_receiver() -> None:
    event = _event(subject="edge-7-1")

    async def scenario() -> tuple[list[Delivery], Any]:
        async with Receiver() as r:
            sink = _sink(f"http://127.0.0.1:{r.port}/e/{{secret}}")
            try:
                return await sink.emit(event), r.requests
            finally:
                await sink.aclose()

    (delivery,), (request,) = asyncio.run(scenario())
    assert (delivery.ok, delivery.detail) == (True, "HTTP 200")
    assert delivery.channel == "sink0:127.0.0.1"
    assert request.method == "POST"
    assert request.path == f"/e/{TOKEN}"
    assert request.headers["Content-Type"] == "application/cloudevents+json"
    assert request.json() == event


def test_refusing_hanging_and_failing_sinks_never_raise_nor_delay_the_good_one() -> None:
    event = _event()

    async def scenario() -> tuple[list[Delivery], float, int]:
        with silent_listener() as hang_port, refusing_port() as refused_port:
            async with Receiver() as good, Receiver(status=500) as bad:
                sink = _sink(
                    f"http://127.0.0.1:{refused_port}/refused",
                    f"http://127.0.0.1:{hang_port}/hang",
                    f"http://127.0.0.1:{bad.port}/e/{{secret}}",
                    f"http://127.0.0.1:{good.port}/e",
                    timeout=1,
                )
                started = time.monotonic()
                try:
                    deliveries = await sink.emit(event)
                finally:
                    await sink.aclose()
                return deliveries, time.monotonic() - started, len(good.requests)

    deliveries, elapsed, received = asyncio.run(scenario())
    assert elapsed < 1 + 2
    assert received == 1
    refused, hanging, failing, good = deliveries
    assert good.ok
    assert not refused.ok
    assert "ClientConnectorError" in refused.detail
    assert (hanging.ok, hanging.detail) == (False, "no answer within 1s")
    assert (failing.ok, failing.detail) == (False, "HTTP 500: nope")
    assert all(TOKEN not in d.detail + d.channel for d in deliveries)


def test_a_sink_without_its_secret_fails_alone_and_names_the_reference() -> None:
    sink = EventSink(
        EventsConfig(sink=[SinkConfig(url="http://127.0.0.1:9/{secret}", secret="env:NOT_SET_X")]),
        Secrets(SecretsConfig(), exec_env()),
    )
    (delivery,) = asyncio.run(sink.emit(_event()))
    assert not delivery.ok
    assert "env:NOT_SET_X" in delivery.detail
    asyncio.run(sink.aclose())  # no session was made: nothing to close


def test_no_sinks_means_no_posts() -> None:
    assert asyncio.run(_sink().emit(_event())) == []
