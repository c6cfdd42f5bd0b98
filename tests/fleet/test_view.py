"""The fleet view, pure: how answers are classified and folded into one picture."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from talon.config.fleet import FleetConfig, PeerConfig
from talon.fleet import view
from talon.fleet.view import Answer, Target

SCHEMA = json.loads(resources.files("talon.schemas").joinpath("fleet.schema.json").read_text())
SIGNALS = list(view.SEVERITY)


def health(
    signal: str = "stable",
    *,
    passed: int = 2,
    failed: int = 0,
    age: float | None = 0.5,
    stale: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    """A talon.health/v1 document as a daemon serves it."""
    return {
        "schema": "talon.health/v1",
        "node": {"node_id": "n", "platform": "linux", "arch": "amd64"},
        "state": "healthy" if signal == "stable" else "hold",
        "signal": signal,
        "incident": None,
        "hold": None,
        "last_cycle": {"started_at": 1.0, "finished_at": 2.0, "age_s": age},
        "probes": {"total": passed + failed, "passed": passed, "failed": failed, "skipped": 0},
        "stale": stale,
        "stale_after_s": 47.0,
        "reasons": [],
        "version": "0.1.0",
        "now": 3.0,
        **extra,
    }


def ok(name: str, payload: dict[str, Any], status: int = 200) -> Answer:
    return Answer(
        Target(name, f"http://{name}/health", None, 3.0), 0.01, status, json.dumps(payload).encode()
    )


def down(name: str, error: str = view.REFUSED) -> Answer:
    return Answer(Target(name, f"http://{name}/health", None, 3.0), 0.01, error=error, detail="x")


def test_a_503_with_a_payload_is_an_answer_not_silence() -> None:
    peer = view.read_answer(
        ok("a", health("failed recovery", reasons=["signal is failed recovery"]), 503)
    )
    assert peer.reachable
    assert (peer.signal, peer.http_status, peer.reasons) == (
        "failed recovery",
        503,
        ("signal is failed recovery",),
    )


@pytest.mark.parametrize(
    ("status", "body", "error", "detail"),
    [
        (401, b'{"error": "unauthorized"}', view.UNAUTHORIZED, "token is missing or wrong"),
        (502, b"<html>bad gateway</html>", view.HTTP_ERROR, "HTTP 502 without a health payload"),
        (500, b'{"error": "internal"}', view.HTTP_ERROR, "HTTP 500 without"),
        (404, b"not found", view.HTTP_ERROR, "HTTP 404"),
        (200, b"<html>hello</html>", view.BAD_PAYLOAD, "not JSON"),
        (200, b"[1, 2]", view.BAD_PAYLOAD, "not a JSON object"),
        (200, b'{"schema": "other/v1"}', view.BAD_PAYLOAD, "schema is 'other/v1'"),
        (
            200,
            json.dumps(health() | {"signal": "fine"}).encode(),
            view.BAD_PAYLOAD,
            "unknown signal 'fine'",
        ),
    ],
)
def test_answers_that_are_not_health_documents_are_classified(
    status: int, body: bytes, error: str, detail: str
) -> None:
    answer = Answer(Target("p", "http://p/health", None, 3.0), 0.01, status, body)
    peer = view.read_answer(answer)
    assert not peer.reachable
    assert peer.error == error
    assert detail in peer.detail
    assert peer.http_status == status


def test_a_transport_error_is_kept_with_its_detail() -> None:
    peer = view.read_answer(down("p", view.TIMEOUT))
    assert (peer.reachable, peer.error, peer.detail, peer.signal) == (False, "timeout", "x", None)


def test_stale_by_the_peers_own_flag_or_by_the_fleets_threshold() -> None:
    own = view.read_answer(ok("a", health(stale=True, age=None)))
    assert own.stale
    assert own.stale_why == "no cycle finished yet"
    aged = ok("b", health(age=12.0))
    assert not view.read_answer(aged).stale  # without a threshold only the peer's flag counts
    peer = view.read_answer(aged, stale_after_s=3)
    assert peer.stale
    assert peer.stale_why == "last cycle 12s ago > 3s"
    assert not view.read_answer(ok("c", health(age=2.0)), stale_after_s=3).stale


def test_the_fleet_worst_signal_pass_rate_and_exit_code() -> None:
    fleet = view.fleet_view(
        [
            ok("a", health(passed=3)),
            ok("b", health("recovering", passed=1, failed=1), 200),
            down("c"),
            ok("d", health(age=30.0, passed=1)),
        ],
        stale_after_s=5,
    )
    assert fleet.worst_signal == "recovering"
    assert fleet.worst_peers == ("b",)
    assert (fleet.passed, fleet.failed) == (5, 1)
    assert fleet.pass_rate == pytest.approx(5 / 6)
    assert fleet.unreachable == ("c",)
    assert fleet.stale == ("d",)
    assert fleet.exit_code == 1


@pytest.mark.parametrize(
    ("answers", "code"),
    [
        ([ok("a", health())], 0),
        ([ok("a", health()), ok("b", health("recovering"))], 1),
        ([ok("a", health()), down("b")], 1),
        ([ok("a", health(stale=True))], 1),
        ([ok("a", health()), ok("b", health("degraded hold"), 503)], 2),
        ([down("a"), ok("b", health("failed recovery"), 503)], 2),
        ([], 2),  # nobody to ask: nothing is known
        ([down("a")], 1),
    ],
)
def test_exit_codes(answers: list[Answer], code: int) -> None:
    assert view.fleet_view(answers).exit_code == code


def test_failed_recovery_is_worse_than_degraded_hold() -> None:
    assert view.worst_signal(["degraded hold", "failed recovery", "stable"]) == "failed recovery"
    assert view.worst_signal(["stable", "recovering"]) == "recovering"
    assert view.worst_signal([]) is None


def test_an_unreachable_peer_never_makes_the_worst_signal_better() -> None:
    fleet = view.fleet_view([down("a"), ok("b", health("recovering"))])
    assert fleet.worst_signal == "recovering"
    assert view.fleet_view([down("a")]).worst_signal is None


def test_a_peer_without_probe_counts_has_no_pass_rate() -> None:
    payload = health()
    del payload["probes"]  # an older peer
    fleet = view.fleet_view([ok("a", payload)])
    assert fleet.peers[0].pass_rate is None
    assert fleet.pass_rate is None


def test_a_degraded_probe_is_counted_apart_and_never_as_passed() -> None:
    """A peer in split-brain: one probe answers only through the VM (issue 19 point 4)."""
    split = health("recovering", passed=2, failed=1)
    split["probes"] |= {"total": 4, "degraded": 1}
    old = health(passed=2)  # a peer too old to count degraded ones: they are its passed
    fleet = view.fleet_view([ok("split", split), ok("old", old)])
    peer = fleet.peers[0]
    assert (peer.passed, peer.degraded, peer.failed) == (2, 1, 1)
    assert peer.pass_rate == pytest.approx(2 / 4)
    assert (fleet.passed, fleet.degraded, fleet.failed) == (4, 1, 1)
    assert fleet.pass_rate == pytest.approx(4 / 6)
    doc = view.as_json(fleet, now=10.0, asked_by="me", timeout_s=3.5)
    jsonschema.validate(doc, SCHEMA)
    assert doc["summary"]["probes"] == {
        "passed": 4,
        "degraded": 1,
        "failed": 1,
        "pass_rate": round(4 / 6, 4),
    }
    assert doc["peers"][0]["probes"] == {
        "passed": 2,
        "degraded": 1,
        "failed": 1,
        "skipped": 0,
        "pass_rate": 0.5,
    }
    assert doc["peers"][1]["probes"]["degraded"] == 0


def test_the_fleet_table_shows_degraded_probes() -> None:
    from rich.console import Console

    from talon.cli.fleet import print_fleet

    split = health("recovering", passed=2, failed=1)
    split["probes"] |= {"degraded": 1}
    console = Console(record=True, width=200)
    print_fleet(view.fleet_view([ok("split", split)]), console)
    shown = console.export_text()
    assert "50% (2/4, 1 degraded)" in shown
    assert "probes passed: 50% (2/4, 1 degraded)" in shown


def test_the_json_document_follows_its_schema() -> None:
    held = health(
        "failed recovery",
        hold={"reason": "failed_recovery", "since": 1.0, "until": 61.0, "remaining_s": 30.0},
        incident={"id": "n-1", "opened_at": 1.0, "root_cause": "service_down", "faults": []},
    )
    fleet = view.fleet_view([ok("a", health()), ok("b", held, 503), down("c", view.TIMEOUT)])
    doc = view.as_json(fleet, now=10.0, asked_by="me", timeout_s=3.5)
    jsonschema.validate(doc, SCHEMA)
    b = doc["peers"][1]
    assert b["hold"] == {"reason": "failed_recovery", "remaining_s": 30.0}
    assert b["incident"] == {"id": "n-1", "root_cause": "service_down"}
    assert doc["summary"]["worst_signal"] == "failed recovery"
    assert doc["exit_code"] == 2


def test_targets_put_this_node_first_unless_a_peer_is_it() -> None:
    fleet = FleetConfig(
        peers=[
            PeerConfig(name="b", url="http://127.0.0.6:9999/health", token="env:B", timeout_secs=1),
            PeerConfig(name="c", url="http://127.0.0.7:9999/health"),
        ],
        timeout_secs=2,
    )
    kw: dict[str, Any] = {"health_enabled": True, "health_token": "env:T"}
    got = view.targets(fleet, node_id="a", health_bind="0.0.0.0:9999", **kw)
    assert [(t.name, t.url, t.token, t.timeout_s, t.is_self) for t in got] == [
        ("a", "http://127.0.0.1:9999/health", "env:T", 2, True),
        ("b", "http://127.0.0.6:9999/health", "env:B", 1, False),
        ("c", "http://127.0.0.7:9999/health", None, 2, False),
    ]
    same_url = view.targets(fleet, node_id="x", health_bind="127.0.0.6:9999", **kw)
    assert [t.name for t in same_url] == ["b", "c"]
    same_name = view.targets(fleet, node_id="c", health_bind="127.0.0.1:1", **kw)
    assert [t.name for t in same_name] == ["b", "c"]
    v6 = view.targets(fleet, node_id="a", health_bind="[::]:9", **kw)[0]
    assert v6.url == "http://[::1]:9/health"
    no_self = fleet.model_copy(update={"include_self": False})
    assert [
        t.name for t in view.targets(no_self, node_id="a", health_bind="127.0.0.1:1", **kw)
    ] == ["b", "c"]
    disabled = view.targets(
        fleet, node_id="a", health_bind="127.0.0.1:1", health_enabled=False, health_token=None
    )
    assert [t.name for t in disabled] == ["b", "c"]


# ---------------------------------------------------------------- properties
peer_answers = st.one_of(
    st.builds(
        lambda sig, p, f, status: (sig, p, f, status),
        st.sampled_from(SIGNALS),
        st.integers(0, 50),
        st.integers(0, 50),
        st.sampled_from([200, 503]),
    ),
    st.sampled_from([view.REFUSED, view.TIMEOUT, view.DNS, view.UNAUTHORIZED]),
)


def _answers(specs: list[Any]) -> list[Answer]:
    out = []
    for i, spec in enumerate(specs):
        if isinstance(spec, str):
            out.append(down(f"p{i}", spec))
        else:
            sig, p, f, status = spec
            out.append(ok(f"p{i}", health(sig, passed=p, failed=f), status))
    return out


@given(st.lists(peer_answers, max_size=8), st.randoms())
def test_worst_signal_and_pass_rate_do_not_depend_on_the_order(specs: list[Any], rnd: Any) -> None:
    answers = _answers(specs)
    shuffled = list(answers)
    rnd.shuffle(shuffled)
    a, b = view.fleet_view(answers), view.fleet_view(shuffled)
    assert a.worst_signal == b.worst_signal
    assert a.pass_rate == b.pass_rate
    assert a.exit_code == b.exit_code
    assert set(a.unreachable) == set(b.unreachable)
    if a.pass_rate is not None:
        assert 0.0 <= a.pass_rate <= 1.0
    reachable = [s for s in specs if not isinstance(s, str)]
    if reachable:
        assert a.worst_signal == max((s[0] for s in reachable), key=view.SEVERITY.__getitem__)
    assert (a.worst_signal is None) == (not reachable)


@given(st.lists(st.sampled_from(SIGNALS), min_size=1))
def test_the_worst_signal_is_at_least_as_severe_as_every_signal(signals: list[str]) -> None:
    worst = view.worst_signal(signals)
    assert worst in signals
    assert all(view.SEVERITY[worst] >= view.SEVERITY[s] for s in signals)
