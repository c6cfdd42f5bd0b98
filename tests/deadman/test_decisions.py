"""The dead-man's switch, pure: what to ping, when, and what the ping says."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from talon.actions.deadman import Memory, Ping, at_end, at_start, ping_url, verdict
from talon.config.fleet import DeadmanConfig


def _verdict(**kw: Any) -> tuple[str, str]:
    args: dict[str, Any] = {
        "node_id": "edge-7",
        "state": "healthy",
        "signal": "stable",
        "incident": None,
        "root_cause": None,
        "failing": [],
        "tasks": {"web": "running"},
        "fail_when": ["failed recovery", "degraded hold"],
    }
    return verdict(**(args | kw))


def test_a_stable_cycle_is_a_success_that_names_the_node() -> None:
    kind, body = _verdict()
    assert kind == "success"
    assert body.splitlines()[:3] == [
        "talon node edge-7: ok (stable)",
        "node: edge-7",
        "state: healthy, signal: stable",
    ]


def test_a_failed_recovery_is_a_failure_with_its_reasons() -> None:
    kind, body = _verdict(
        state="hold",
        signal="failed recovery",
        incident="edge-7-3",
        root_cause="service_down",
        failing=["http.api", "tcp.redis"],
    )
    assert kind == "fail"
    assert "talon node edge-7: FAIL (failed recovery)" in body
    assert "incident: edge-7-3 (root cause: service_down)" in body
    assert "failing probes: http.api, tcp.redis" in body
    assert "reasons: signal is failed recovery" in body


def test_recovering_counts_only_when_listed() -> None:
    assert _verdict(state="degraded", signal="recovering")[0] == "success"
    listed = _verdict(signal="recovering", fail_when=["recovering"])
    assert listed[0] == "fail"
    assert "signal is recovering" in listed[1]


def test_a_dead_task_or_a_crashed_cycle_is_a_failure() -> None:
    kind, body = _verdict(tasks={"web": "dead: OSError: address in use"})
    assert kind == "fail"
    assert "task web is dead: OSError: address in use" in body
    kind, body = _verdict(crash="RuntimeError('boom')")
    assert kind == "fail"
    assert "the cycle crashed: RuntimeError('boom')" in body


def test_the_body_is_capped() -> None:
    _, body = _verdict(failing=[f"http.p{i}" for i in range(5000)])
    assert len(body) <= 10_001


@pytest.mark.parametrize(
    ("base", "kind", "url"),
    [
        ("https://hc-ping.com/abc", "success", "https://hc-ping.com/abc"),
        ("https://hc-ping.com/abc", "start", "https://hc-ping.com/abc/start"),
        ("https://hc-ping.com/abc/", "fail", "https://hc-ping.com/abc/fail"),
        (
            "https://hc-ping.com/KEY/slug?create=1",
            "fail",
            "https://hc-ping.com/KEY/slug/fail?create=1",
        ),
    ],
)
def test_ping_urls(base: str, kind: Any, url: str) -> None:
    assert ping_url(base, kind) == url


def _config(**kw: Any) -> DeadmanConfig:
    return DeadmanConfig(url="https://hc.example/ping/x", **kw)


def _run(config: DeadmanConfig, cycles: list[tuple[float, str]]) -> list[tuple[float, str]]:
    """Cycles as (start time, outcome), each lasting 1 s; the pings sent, in order."""
    memory, sent = Memory(), []
    for at, kind in cycles:
        ping, memory = at_start(config, memory, at)
        sent += [(at, ping.kind)] if ping else []
        ping, memory = at_end(config, memory, at + 1, kind, "body")  # type: ignore[arg-type]
        sent += [(at + 1, ping.kind)] if ping else []
    return sent


def test_every_cycle_pings_start_and_end_without_a_rate_limit() -> None:
    sent = _run(_config(min_interval_secs=0), [(0, "success"), (10, "success"), (20, "fail")])
    assert sent == [
        (0, "start"),
        (1, "success"),
        (10, "start"),
        (11, "success"),
        (20, "start"),
        (21, "fail"),
    ]


def test_the_rate_limit_keeps_start_and_end_together_and_never_delays_a_change() -> None:
    cycles = [(t, "success") for t in range(0, 70, 10)] + [
        (70, "fail"),
        (80, "fail"),
        (90, "success"),
    ]
    sent = _run(_config(min_interval_secs=30), cycles)
    assert sent == [
        (0, "start"),
        (1, "success"),
        (30, "start"),
        (31, "success"),
        (60, "start"),
        (61, "success"),
        (71, "fail"),  # a change goes at once, even when no start was due
        (91, "success"),
    ]


def test_without_starts_only_ends_are_sent() -> None:
    sent = _run(_config(min_interval_secs=0, send_start=False), [(0, "success"), (5, "fail")])
    assert sent == [(1, "success"), (6, "fail")]


@given(
    st.integers(0, 120),
    st.booleans(),
    st.lists(st.tuples(st.floats(1, 90), st.sampled_from(["success", "fail"])), max_size=40),
)
def test_rate_limit_properties(min_interval: int, send_start: bool, steps: list[Any]) -> None:
    config = _config(min_interval_secs=min_interval, send_start=send_start)
    memory, last_kind, last_sent_at = Memory(), None, None
    now = 0.0
    for gap, kind in steps:
        now += gap + 1
        start, memory = at_start(config, memory, now)
        end, memory = at_end(config, memory, now + 1, kind, "b")
        if start is not None:  # every /start is closed in the same cycle
            assert send_start
            assert end is not None
        if kind != last_kind:  # a change is never held back
            assert end == Ping(kind, "b")
        if end is not None:
            if kind == last_kind and start is None and last_sent_at is not None:
                assert now + 1 - last_sent_at >= min_interval - 0.5
            last_kind, last_sent_at = kind, now + (0 if start else 1)
