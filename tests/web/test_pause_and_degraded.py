"""An operator's pause and a degraded probe on every surface, pure: the check report's
summary, /health, the status view, the page and /metrics (F28; issue 19 points 4 and 6).

A *degraded* probe answered only through a fallback path (a split-brain: localhost dead,
the VM's path answers): its own state, never counted as passed."""

from __future__ import annotations

from typing import Any

from talon.core import CoreState, pause
from talon.report import CycleReport, ProbeResult, Status, report_json
from talon.status_view import status_view
from talon.web.health import health_payload, probe_summary
from talon.web.metrics import TalonMetrics
from talon.web.page import render_page
from tests.core.sim import down, result, split, up
from tests.web import states
from tests.web.page_views import IDENTITY, sample
from tests.web.test_metrics import _by, _series
from tests.web.test_page import parse, text

NOW = 10_000.0


def split_brain_cycle() -> tuple[ProbeResult, ...]:
    """One probe up, one only through the VM, one down, one skipped."""
    skipped = result("script.off", status=Status.SKIPPED)
    return up("http.api"), split("redis.redis"), down("http.inngest"), skipped


def paused() -> CoreState:
    """The whole node for an hour, and one probe for ten minutes, by the real core."""
    state = pause(CoreState(), NOW - 60, NOW + 3540, who="ops@box (pid 7)").state
    return pause(state, NOW, NOW + 600, who="ana@box", probe="redis.redis").state


# ---------------------------------------------------------------- degraded
def test_a_split_brain_probe_is_degraded_not_passed() -> None:
    ok, degraded, failed, skipped = split_brain_cycle()
    assert (ok.degraded, degraded.degraded, failed.degraded, skipped.degraded) == (
        False,
        True,
        False,
        False,
    )
    assert degraded.passed  # its status stays ok: the core reads it as the bridge broken
    assert not degraded.healthy
    assert [r.state for r in split_brain_cycle()] == ["ok", "degraded", "critical", "skipped"]
    # a path that was not tried is no evidence: the VM answering first is not degraded
    untried = result("http.x", paths=(), endpoint="vm")
    assert not untried.degraded


def test_the_check_report_counts_degraded_apart_and_out_of_the_pass_rate() -> None:
    report = CycleReport("n1", "linux", "amd64", 1.0, 2.0, split_brain_cycle())
    summary = report.summary()
    assert summary == {
        "ok": 1,
        "degraded": 1,
        "warning": 0,
        "critical": 1,
        "unknown": 0,
        "skipped": 1,
        "total": 4,
        "passed": 1,
        "pass_rate": 0.3333,
        "critical_failures": 1,
        "noncritical_failures": 0,
    }
    probes = {p["key"]: p for p in report_json(report)["probes"]}
    assert (probes["redis.redis"]["passed"], probes["redis.redis"]["degraded"]) == (False, True)
    assert (probes["http.api"]["passed"], probes["http.api"]["degraded"]) == (True, False)


def test_health_counts_degraded_as_its_own_state() -> None:
    states_ = [r.state for r in split_brain_cycle()]
    assert probe_summary(states_) == {
        "total": 4,
        "passed": 1,
        "degraded": 1,
        "failed": 1,
        "skipped": 1,
        "pass_rate": 0.3333,
    }
    _, payload = _health(CoreState(), probes=[(r.key, r.state) for r in split_brain_cycle()])
    assert payload["probes"]["degraded"] == 1
    assert payload["probes"]["pass_rate"] < 1.0
    # statuses alone (an older caller) still sum up
    assert probe_summary(["ok", "ok"])["pass_rate"] == 1.0


def test_the_status_view_and_page_show_a_degraded_probe() -> None:
    report = CycleReport("n1", "linux", "amd64", NOW - 2, NOW - 1, split_brain_cycle())
    view = status_view(CoreState(), report_json(report), IDENTITY, NOW)
    assert (view["summary"]["degraded"], view["summary"]["pass_rate"]) == (1, 0.3333)
    redis = next(p for p in view["probes"] if p["key"] == "redis.redis")
    assert (redis["status"], redis["degraded"]) == ("ok", True)
    failing = {f["key"]: f["degraded"] for f in view["last_cycle"]["failures"]}
    assert failing == {"redis.redis": True, "http.inngest": False}
    html = render_page(view)
    probe = next(a for t, a in parse(html).tags if t == "li" and a.get("data-key") == "redis.redis")
    assert probe["class"] == "probe warn"
    shown = text(html)
    assert "1/3 probes pass, 1 degraded, 1 skipped" in shown
    assert "answered only through a fallback path" in shown


def test_metrics_a_degraded_probe_is_not_up_and_says_degraded() -> None:
    metrics = TalonMetrics(node_id="n1", platform="linux")
    metrics.observe_cycle(split_brain_cycle(), states.stable().state, 1.0, 2.0)
    assert _by(metrics, "talon_probe_up", "probe") == {
        "http.api": 1.0,
        "redis.redis": 0.0,
        "http.inngest": 0.0,
    }
    degraded = _series(metrics, "talon_probe_degraded")
    assert {dict(k)["probe"]: (dict(k)["endpoint_class"], v) for k, v in degraded.items()} == {
        "http.api": ("localhost", 0.0),
        "redis.redis": ("vm", 1.0),
        "http.inngest": ("none", 0.0),
    }
    metrics.observe_cycle((up("redis.redis"),), states.stable().state, 2.0, 3.0)
    assert _by(metrics, "talon_probe_degraded", "probe") == {"redis.redis": 0.0}


# ------------------------------------------------------------------- pauses
def _health(state: CoreState, now: float = NOW, **kw: Any) -> tuple[int, dict[str, Any]]:
    args: dict[str, Any] = {
        "state": state,
        "identity": IDENTITY,
        "now": now,
        "last_cycle_started": now - 2,
        "last_cycle_finished": now - 1,
        "stale_after_s": 90.0,
        "shadow": False,
        "config_error": None,
        "tasks": {},
        "running_actions": [],
        "version": "0",
    }
    return health_payload(**{**args, **kw})


def test_health_lists_the_running_pauses_the_node_first() -> None:
    code, payload = _health(paused())
    assert code == 200  # a pause is not trouble: the signal decides
    assert payload["paused"] == [
        {
            "probe": None,
            "by": "ops@box (pid 7)",
            "since": NOW - 60,
            "until": NOW + 3540,
            "remaining_s": 3540.0,
        },
        {
            "probe": "redis.redis",
            "by": "ana@box",
            "since": NOW,
            "until": NOW + 600,
            "remaining_s": 600.0,
        },
    ]
    _, later = _health(paused(), now=NOW + 600)  # the probe's pause ran out
    assert [p["probe"] for p in later["paused"]] == [None]
    assert _health(CoreState())[1]["paused"] == []


def test_the_status_view_and_the_page_show_a_pause_banner() -> None:
    view = status_view(paused(), None, IDENTITY, NOW)
    assert [(p["probe"], p["remaining_s"]) for p in view["paused"]] == [
        (None, 3540.0),
        ("redis.redis", 600.0),
    ]
    html = render_page(view)
    banners = [a for t, a in parse(html).tags if t == "section" and "pause" in (a["class"] or "")]
    assert [b["data-probe"] for b in banners] == ["", "redis.redis"]
    shown = text(html)
    assert "Healing paused" in shown
    assert "No heal, no agent and no SOS for this node for 59:00" in shown
    assert "Healing of redis.redis paused" in shown
    assert "Paused by ops@box (pid 7)" in shown
    assert "talon resume ends it early" in shown
    countdowns = [a["data-remaining"] for t, a in parse(html).tags if a.get("class") == "countdown"]
    assert countdowns == ["3540.000", "600.000"]
    assert 'id="paused"' not in render_page(sample())


def test_metrics_pauses_are_read_at_scrape_time() -> None:
    now = [NOW]
    metrics = TalonMetrics(node_id="n1", platform="linux", clock=lambda: now[0])
    metrics.observe_cycle(states.green(), CoreState(), 1.0, 2.0)
    assert _by(metrics, "talon_pause_active", "probe") == {"*": 0.0}
    assert _by(metrics, "talon_pause_remaining_seconds", "probe") == {"*": 0.0}
    metrics.observe_cycle(states.green(), paused(), 1.0, 2.0)
    assert _by(metrics, "talon_pause_active", "probe") == {"*": 1.0, "redis.redis": 1.0}
    assert _by(metrics, "talon_pause_remaining_seconds", "probe") == {
        "*": 3540.0,
        "redis.redis": 600.0,
    }
    now[0] += 600  # no cycle in between: the probe's pause is over at the scrape
    assert _by(metrics, "talon_pause_active", "probe") == {"*": 1.0}
    assert _by(metrics, "talon_pause_remaining_seconds", "probe") == {"*": 2940.0}
    metrics.observe_cycle(states.green(), CoreState(), 3.0, 4.0)  # resumed
    assert _by(metrics, "talon_pause_active", "probe") == {"*": 0.0}
