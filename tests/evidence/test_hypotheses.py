"""Seed 004's hypotheses from synthetic evidence: each one, the precedence, and totality."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from talon.evidence.healers import recent_runtime_actions
from talon.evidence.hypotheses import (
    CHURN,
    COLLAPSE,
    GUEST,
    PRECEDENCE,
    UNCLASSIFIED,
    USERNET,
    Hypothesis,
    hypothesize,
    wants_hypothesis,
)


def _path(path_class: str, ok: bool, kind: str | None = None) -> dict[str, Any]:
    return {
        "path_class": path_class,
        "target": f"{path_class}:6379",
        "ok": ok,
        "tried": True,
        "latency_ms": 1.0,
        "error_kind": None if ok else (kind or "refused"),
        "message": "" if ok else "connection refused",
    }


def _probe(
    key: str,
    status: str = "critical",
    *,
    kind: str = "tcp",
    layer: str = "service",
    paths: list[dict[str, Any]] | None = None,
    error_kind: str | None = None,
    message: str = "",
    **extra: Any,
) -> dict[str, Any]:
    """A probe as ``ProbeResult.as_dict`` writes it into a snapshot."""
    failed = status != "ok"
    return {
        "key": key,
        "kind": kind,
        "class": "service",
        "layer": layer,
        "critical": True,
        "informational": False,
        "status": status,
        "passed": status == "ok",
        "message": message,
        "error_kind": error_kind or ("refused" if failed else None),
        "paths": paths or [],
        **extra,
    }


def _split(key: str = "tcp.typesense") -> dict[str, Any]:
    """Dead on localhost, answering on the VM's own address (passed through the fallback)."""
    return _probe(
        key, "ok", paths=[_path("localhost", False), _path("vm", True)], endpoint_class="vm"
    )


RUNTIME_OK = _probe("runtime.colima", "ok", kind="runtime", layer="runtime", message="up 12m")
RUNTIME_DOWN = _probe(
    "runtime.colima",
    kind="runtime",
    layer="runtime",
    error_kind="timeout",
    message="colima: no answer from its control path within 5s",
)
COLIMA_UP = {"runtime": "colima", "status": {"answered": True}, "uptime_s": None}


def _facts(*probes: dict[str, Any], **parts: Any) -> dict[str, Any]:
    return {"probes": list(probes), **parts}


def _action(kind: str, began: float, ended: float | None, outcome: str = "done") -> dict[str, Any]:
    return {
        "kind": kind,
        "key": f"i/1b/{kind}/1",
        "outcome": outcome,
        "began_ago_s": began,
        "ended_ago_s": ended,
    }


def _considered(h: Hypothesis) -> dict[str, bool]:
    return {c.name: c.supported for c in h.considered}


# each hypothesis ---------------------------------------------------------------------


def test_localhost_dead_while_the_guest_answers_is_stale_usernet() -> None:
    h = hypothesize(_facts(_split(), RUNTIME_OK, runtime={"uptime_s": 600.0}))
    assert h.name == USERNET
    assert "tcp.typesense" in h.why
    assert "localhost" in h.why
    assert [c.name for c in h.considered] == list(PRECEDENCE)
    assert _considered(h) == {CHURN: False, COLLAPSE: False, USERNET: True, GUEST: False}


def test_a_witness_inside_the_vm_makes_a_localhost_only_failure_stale_usernet() -> None:
    only_local = _probe("http.inngest", paths=[_path("localhost", False)])
    classification = [{"probe": "http.inngest", "fault": "split_brain", "explained": False}]
    h = hypothesize(_facts(only_local, classification=classification))
    assert h.name == USERNET
    assert "witness" in h.why


def test_the_vm_up_and_its_control_path_silent_is_a_control_path_collapse() -> None:
    h = hypothesize(_facts(RUNTIME_DOWN, _split(), runtime=COLIMA_UP))
    assert h.name == COLLAPSE
    assert "runtime.colima failed" in h.why
    assert "shell gave no uptime" in h.why
    # the dead forward is a consequence, not a hypothesis of its own
    assert _considered(h)[USERNET] is False


def test_a_dead_engine_socket_with_the_guest_answering_is_a_collapse() -> None:
    engine = _probe(
        "container.docker",
        kind="container",
        layer="runtime",
        error_kind="refused",
        message="nothing listens on /home/u/.colima/default/docker.sock",
    )
    h = hypothesize(_facts(engine, _split()))
    assert h.name == COLLAPSE
    assert "answered on its own address" in h.why


def test_a_vm_that_is_not_running_is_no_collapse() -> None:
    stopped = {"runtime": "colima", "status": {"answered": False, "said": "colima is not running"}}
    h = hypothesize(_facts(RUNTIME_DOWN, runtime=stopped))
    assert h.name == UNCLASSIFIED
    assert "not running" in h.why


def test_the_guest_failing_while_its_shell_answers_is_a_guest_runtime_failure() -> None:
    k8s = _probe(
        "k8s.api",
        kind="k8s",
        layer="cluster",
        paths=[_path("localhost", False), _path("vm", False)],
        message="API server refused",
    )
    pod = _probe(
        "container.redis", kind="container", layer="runtime", error_kind="not_ready",
        message="redis: running, unhealthy",
    )  # fmt: skip
    h = hypothesize(_facts(k8s, pod, runtime={"uptime_s": 3600.0}))
    assert h.name == GUEST
    assert "shell answered" in h.why
    assert "k8s.api" in h.why
    assert "container.redis" in h.why


def test_the_engine_sick_while_the_shell_answers_is_a_guest_failure() -> None:
    sick = _probe(
        "runtime.colima", kind="runtime", layer="runtime", error_kind="not_ready",
        message="GET /_ping answered 500",
    )  # fmt: skip
    assert hypothesize(_facts(sick, runtime={"uptime_s": 900.0})).name == GUEST


def test_several_runtime_actions_in_the_window_are_healer_churn() -> None:
    healers = {
        "others_busy": False,
        "actions": [
            _action("force_cycle", 700, 640),
            _action("bridge_heal", 500, 499, "refused"),  # never touched the VM
            _action("force_cycle", 300, 200),
        ],
    }
    h = hypothesize(_facts(_split(), RUNTIME_OK, healers=healers, runtime={"uptime_s": 190.0}))
    assert h.name == CHURN
    assert "2 runtime action(s)" in h.why
    assert "also fit stale_usernet_recovery" in h.why  # the symptom is still named


def test_a_boot_after_talons_last_action_ended_is_healer_churn() -> None:
    healers = {"actions": [_action("heal_script", 600, 580)]}
    h = hypothesize(_facts(RUNTIME_OK, healers=healers, runtime={"uptime_s": 120.0}))
    assert h.name == CHURN
    assert "something other than Talon restarted it" in h.why


def test_a_boot_during_talons_own_force_cycle_is_not_churn() -> None:
    healers = {"actions": [_action("force_cycle", 600, 480)]}  # booted while it ran
    h = hypothesize(_facts(_split(), RUNTIME_OK, healers=healers, runtime={"uptime_s": 500.0}))
    assert h.name == USERNET
    assert "1 runtime action(s)" in next(c.fact for c in h.considered if c.name == CHURN)


def test_another_healer_on_the_lock_and_short_boots_are_churn() -> None:
    assert hypothesize({"healers": {"others_busy": True}}).name == CHURN
    h = hypothesize({"boots": {"vm_uptime_s": 30.0, "short_boots": 3}})
    assert h.name == CHURN
    assert "3 times in a row" in h.why


def test_nothing_to_go_on_is_unclassified_and_says_why() -> None:
    h = hypothesize(_facts(_probe("http.app", paths=[_path("localhost", False)])))
    assert h.name == UNCLASSIFIED
    assert h.why.startswith("none fits:")
    assert "unknown" in h.why
    assert not any(c.supported for c in h.considered)
    assert h.line().startswith("hypothesis: unclassified — ")


def test_app_informational_and_unknown_probes_say_nothing() -> None:
    app = _split("http.app") | {"class": "app"}
    info = _split("http.info") | {"informational": True}
    unknown = _probe("runtime.colima", "unknown", kind="runtime", error_kind="tool_missing")
    assert hypothesize(_facts(app, info, unknown)).name == UNCLASSIFIED


def test_a_warning_is_no_failed_control_path() -> None:
    young = _probe("runtime.colima", "warning", kind="runtime", layer="runtime")
    h = hypothesize(_facts(young, _split()))
    assert h.name == USERNET


def test_the_hypothesis_as_json() -> None:
    doc = hypothesize(_facts(_split())).as_dict()
    assert json.loads(json.dumps(doc)) == doc
    assert set(doc) == {"name", "why", "considered"}
    assert {"name", "supported", "fact"} == set(doc["considered"][0])


def test_which_moments_name_a_hypothesis() -> None:
    assert wants_hypothesis("recovery regressed")
    assert wants_hypothesis("recurrence: force_cycle:runtime")
    assert not wants_hypothesis("failure detected")
    assert not wants_hypothesis(None)


# the journal's tail --------------------------------------------------------------------


def test_recent_runtime_actions_pair_begin_and_end_and_skip_the_rest() -> None:
    lines = [
        json.dumps({"event": "begin", "at": 1000.0, "key": "a", "kind": "force_cycle"}),
        json.dumps({"event": "begin", "at": 1001.0, "key": "n", "kind": "notify"}),
        json.dumps({"event": "end", "at": 1090.0, "key": "a", "outcome": "done"}),
        '{"event": "begin", "at": 11',  # a torn line
        json.dumps({"event": "begin", "at": 1100.0, "key": "b", "kind": "heal_script"}),
        json.dumps({"event": "interrupted", "at": 1150.0, "key": "b"}),
        json.dumps({"event": "begin", "at": 1190.0, "key": "c", "kind": ["odd"]}),
        json.dumps({"event": "worker", "at": 1195.0}),
    ]
    actions = recent_runtime_actions(lines, 1200.0)
    assert actions == [
        {
            "kind": "force_cycle",
            "key": "a",
            "outcome": "done",
            "began_ago_s": 200.0,
            "ended_ago_s": 110.0,
        },
        {
            "kind": "heal_script",
            "key": "b",
            "outcome": "interrupted",
            "began_ago_s": 100.0,
            "ended_ago_s": 50.0,
        },
    ]


# totality ------------------------------------------------------------------------------

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=8)
    | st.sampled_from(["ok", "critical", "localhost", "vm", "runtime", "split_brain"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=30,
)
FIELD = st.one_of(JSON, st.sampled_from(["ok", "warning", "critical", "unknown", "skipped"]))
PATH = st.fixed_dictionaries(
    {},
    optional={
        "path_class": st.sampled_from(["localhost", "vm", "dns"]) | JSON,
        "ok": st.booleans() | JSON,
        "tried": st.booleans() | JSON,
    },
)
PROBE = st.fixed_dictionaries(
    {},
    optional={
        "key": st.sampled_from(["a", "b", ""]) | JSON,
        "kind": st.sampled_from(["runtime", "container", "k8s", "tcp"]) | JSON,
        "layer": st.sampled_from(["runtime", "cluster", "service", "host"]) | JSON,
        "status": FIELD,
        "passed": st.booleans() | JSON,
        "error_kind": st.sampled_from(["refused", "timeout", "not_ready"]) | JSON,
        "class": st.sampled_from(["app", "infra"]) | JSON,
        "informational": st.booleans() | JSON,
        "message": JSON,
        "paths": st.lists(PATH, max_size=3) | JSON,
    },
)
NUMBER = st.floats() | st.integers() | JSON
ACTION = st.fixed_dictionaries(
    {},
    optional={
        "kind": st.sampled_from(["force_cycle", "heal_script", "notify"]) | JSON,
        "outcome": st.sampled_from(["done", "refused"]) | JSON,
        "began_ago_s": NUMBER,
        "ended_ago_s": NUMBER,
    },
)
SNAPSHOT = st.fixed_dictionaries(
    {},
    optional={
        "probes": st.lists(PROBE, max_size=4) | JSON,
        "classification": st.lists(
            st.fixed_dictionaries({"probe": JSON, "fault": st.just("split_brain") | JSON})
        )
        | JSON,
        "runtime": st.fixed_dictionaries(
            {},
            optional={
                "uptime_s": NUMBER,
                "status": st.fixed_dictionaries({}, optional={"answered": JSON, "said": JSON})
                | JSON,
                "instance_info": st.fixed_dictionaries({}, optional={"status": JSON}) | JSON,
                "runtime": JSON,
            },
        )
        | JSON,
        "boots": st.fixed_dictionaries({}, optional={"vm_uptime_s": NUMBER, "short_boots": NUMBER})
        | JSON,
        "healers": st.fixed_dictionaries(
            {}, optional={"others_busy": JSON, "actions": st.lists(ACTION, max_size=4) | JSON}
        )
        | JSON,
    },
)


@settings(max_examples=400, deadline=None)
@given(SNAPSHOT)
def test_any_snapshot_shape_gives_a_hypothesis(facts: dict[str, Any]) -> None:
    h = hypothesize(facts)
    assert h.name in (*PRECEDENCE, UNCLASSIFIED)
    assert h.why
    assert len(h.why) <= 400
    assert [c.name for c in h.considered] == list(PRECEDENCE)
    # the first supported one, in the documented precedence
    assert h.name == next((c.name for c in h.considered if c.supported), UNCLASSIFIED)
    json.dumps(h.as_dict(), allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(JSON)
def test_any_json_value_gives_a_hypothesis(facts: Any) -> None:
    assert hypothesize(facts).name in (*PRECEDENCE, UNCLASSIFIED)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=40) | JSON.map(json.dumps), max_size=6), st.floats())
def test_any_journal_lines_give_actions(lines: list[str], now: float) -> None:
    for action in recent_runtime_actions(lines, now):
        assert action["kind"] in ("bridge_heal", "force_cycle", "heal_script", "restart_engine")
