"""The status page: the pure renderer, and its routes on the real WebServer (127.0.0.1, port 0)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
from collections.abc import Awaitable, Callable, Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest

from talon import logs
from talon.config.outputs import LogConfig
from talon.web import page
from talon.web.page import render_page
from talon.web.page_assets import CSP
from talon.web.server import WebServer, WebSources
from tests.web.page_views import EVIL, NOW, from_core, sample, variant

T = TypeVar("T")
TOKEN = "p4ge-t0ken-value-9d2e"
NBSP = "\u00a0"
VOID = {"meta", "link", "br", "hr", "img", "input", "wbr"}


class Tags(HTMLParser):
    """Checks that every element is closed in order, and collects what the page is made of."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> Tags:
    tags = Tags()
    tags.feed(html)
    tags.close()
    assert (tags.errors, tags.stack) == ([], [])
    return tags


def text(html: str) -> str:
    """What a reader sees (scripts and styles aside), whitespace collapsed."""
    body = re.sub(r"<(script|style)>.*?</\1>", "", html, flags=re.S)
    return " ".join(" ".join(parse(body).text).split())


def by_id(html: str, ident: str) -> dict[str, str | None]:
    return next(attrs for _, attrs in parse(html).tags if attrs.get("id") == ident)


# ------------------------------------------------------------------ the renderer
def test_the_page_is_well_formed_and_its_main_part_is_the_fragment() -> None:
    view = sample()
    html = render_page(view)
    parse(html)
    fragment = render_page(view, part="main")
    assert f'<main id="main">{fragment}</main>' in html
    assert "<script" not in fragment  # innerHTML would not run it anyway: none is sent
    assert "<html" not in fragment


def test_header_names_the_node_state_and_signal_coloured_by_signal() -> None:
    for signal, tone in (
        ("stable", "good"),
        ("recovering", "warn"),
        ("failed recovery", "bad"),
        ("degraded hold", "bad"),
    ):
        html = render_page(variant(signal=signal))
        assert f'<span class="sig {tone}" id="signal">{signal}</span>' in html
        assert f'<header class="top {tone}"' in html
        assert f"<title>hub: {signal}</title>" in html
    shown = text(render_page(sample()))
    assert "hub failed recovery state hold" in shown
    assert "4/6 probes pass, 1 skipped" in shown
    assert "updated 12 s ago" in shown


def test_probes_are_grouped_by_layer_in_the_views_order() -> None:
    html = render_page(sample())
    headings = re.findall(r'<section class="layer" id="layer-([a-z]+)"><h3>', html)
    assert headings == ["host", "runtime", "cluster", "service", "app", "nightly"]
    service = html.split('id="layer-service"')[1].split("</section>")[0]
    assert 'data-key="http.api"' in service
    assert 'data-key="http.search"' in service
    assert 'data-key="k8s.api"' not in service
    assert "1/2 ok" in service


def test_a_layer_missing_from_the_layers_list_is_still_shown() -> None:
    html = render_page(variant(layers=["host"]))
    assert 'id="layer-service"' in html
    assert html.index('id="layer-host"') < html.index('id="layer-app"')


def test_each_probe_shows_the_path_that_answered_and_every_paths_outcome() -> None:
    shown = text(render_page(sample()))
    assert "http.api ok critical via vm 127.0.0.2:8080 · 3 ms HTTP 200" in shown
    assert "localhost ✗ refused · vm ✓ 3 ms · dns – not tried" in shown
    assert "http.search critical (timeout) critical" in shown
    assert "classified service_down" in shown
    assert "4 failures in a row" in shown
    assert "via remote nas@127.0.0.5:22" in shown
    html = render_page(sample())
    assert 'title="127.0.0.1:8080 — refused"' in html  # the target and message on hover


def test_the_open_incident_has_its_timeline() -> None:
    html = render_page(sample())
    incident = html.split('id="incident"')[1].split("</section>")[0]
    rows = re.findall(r'<li class="decision">(.*?)</li>', incident)
    assert len(rows) == 3
    first = text(rows[0])
    assert first == "14 min ago force_cycle_confirmation blocked 1 of 2 ticks"
    assert 'title="2025-06-15 14:51:50 UTC"' in rows[0]  # absolute UTC on hover
    assert "root cause runtime_down" in text(incident)
    assert "actions force_cycle:runtime ×1" in text(incident)


def test_the_hold_has_a_countdown_from_the_daemons_clock() -> None:
    html = render_page(sample())
    countdown = by_id(html, "countdown")
    assert countdown["data-remaining"] == "1200.000"
    assert ">20:00</p>" in html
    assert "talon hold clear" in text(html)
    assert "until 15:26:40 UTC" in text(html)
    assert 'id="hold"' not in render_page(variant(hold=None))


def test_countdown_and_relative_time_wording() -> None:
    assert [page.left(s) for s in (0, 0.2, 59, 61, 3600, 3725)] == [
        "0:00",
        "0:01",
        "0:59",
        "1:01",
        "1:00:00",
        "1:02:05",
    ]
    assert [page.ago(s).replace(NBSP, " ") for s in (0.4, 12, 61, 7200, 200_000, -90)] == [
        "just now",
        "12 s ago",
        "1 min ago",
        "2 h ago",
        "2 d ago",
        "in 1 min",
    ]
    tag = page.when(NOW - 90, NOW)
    assert 'data-age="90.000"' in tag
    assert 'datetime="2025-06-15T15:05:10+00:00"' in tag
    assert f">1{NBSP}min ago</time>" in tag  # the number stays with its unit


def test_stale_and_warnings_are_shown() -> None:
    assert 'id="stale"' not in render_page(sample())
    view = sample()
    view["health"]["stale"] = True
    view["last_cycle"]["finished_at"] = NOW - 300
    shown = text(render_page(view))
    assert "Stale" in shown
    assert "has not finished a cycle in 90 s (last: 5 min ago" in shown
    assert "/health: task notify-retry is dead: boom" in shown
    assert "signal is" not in shown  # the header says it already
    assert 'config rejected: " onmouseover="alert(1)' in shown


def test_host_resources_findings_worker_and_recent_incidents() -> None:
    html = render_page(sample())
    shown = text(html)
    assert "memory: 6.0 GiB available of 8.0 GiB (75%)" in shown
    assert "load: 0.50 0.40 0.30 on 2 CPUs" in shown
    assert "filesystem of /srv/data is 95% full" in shown
    assert "worker: running, pid 4343" in shown
    assert "talon run pid 4242" in shown
    recent = html.split('<details id="incident-hub-6">')[1].split("</details>")[0]
    assert "hub-6" in recent
    assert "split_brain → recovered" in text(recent)
    assert '<li class="decision">' in recent


def test_every_value_from_the_view_is_escaped() -> None:
    html = render_page(sample())
    assert html.count("<script") == 1  # ours, at the end
    assert "alert(&quot;x&quot;)" in html
    assert 'onmouseover="alert' not in html
    assert "&quot; onmouseover=&quot;alert(1)" in html
    hostile = sample()
    for key in ("node_id", "platform", "arch"):
        hostile["node"][key] = EVIL
    hostile["signal"] = hostile["state"] = EVIL
    hostile["layers"] = [EVIL]
    for probe in hostile["probes"]:
        probe.update(key=EVIL, layer=EVIL, endpoint_class=EVIL, answered_by=EVIL, status=EVIL)
        for path in probe["paths"]:
            path.update(path_class=EVIL, target=EVIL, error_kind=EVIL, message=EVIL)
    hostile["incident"]["id"] = EVIL
    hostile["incident"]["attempts"] = {EVIL: 1}
    hostile["recent_incidents"][0]["id"] = EVIL
    hostile["findings"] = [EVIL]
    hostile["hold"]["reason"] = EVIL
    html = render_page(hostile)
    parse(html)
    assert html.count("<script") == 1
    assert "<script>alert" not in html
    assert 'onmouseover="' not in html


def test_the_csp_admits_exactly_the_inline_script_and_style() -> None:
    html = render_page(sample())
    for tag, directive in (("script", "script-src"), ("style", "style-src")):
        [body] = re.findall(rf"<{tag}>(.*?)</{tag}>", html, flags=re.S)
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"{directive} 'sha256-{digest}'" in CSP
    assert "default-src 'none'" in CSP
    assert "connect-src 'self'" in CSP
    assert "unsafe" not in CSP


def test_no_external_resource_and_phone_ready_head() -> None:
    html = render_page(sample())
    for tag, attrs in parse(html).tags:
        assert "style" not in attrs, f"<{tag} style=...> would need 'unsafe-inline'"
        assert "src" not in attrs
        href = attrs.get("href")
        assert href is None or href.startswith(("/", "data:")), href
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert '<noscript><meta http-equiv="refresh" content="10"></noscript>' in html
    assert "prefers-color-scheme:dark" in html
    assert "overflow-wrap:anywhere" in html
    assert by_id(html, "banner") == {"id": "banner", "role": "alert", "hidden": None}
    assert 'data-refresh="5"' in html
    assert 'data-refresh="30"' in render_page(sample(), refresh_s=30)


def test_a_view_built_by_status_view_from_a_holding_core_renders() -> None:
    view = from_core()
    html = render_page(view)
    shown = text(html)
    assert "failed recovery" in shown
    assert view["incident"]["id"] in shown
    assert by_id(html, "countdown")["data-remaining"] == f"{view['hold']['remaining_s']:.3f}"
    assert "force_cycle_confirmation" in shown
    for layer in ("runtime", "cluster", "service"):
        assert f'id="layer-{layer}"' in html


def test_an_empty_node_renders_without_a_cycle() -> None:
    from talon.core import CoreState
    from talon.status_view import status_view
    from tests.web.page_views import IDENTITY

    html = render_page(status_view(CoreState(), None, IDENTITY, NOW))
    shown = text(html)
    assert "no cycle recorded yet" in shown
    assert "no probe results yet" in shown
    assert "0/0 probes pass" in shown


# ------------------------------------------------------------------ the routes
def _serve(server: WebServer, scenario: Callable[[int], Awaitable[T]]) -> T:
    async def main() -> T:
        await server.start()
        try:
            return await scenario(server.bound_port)
        finally:
            await server.stop()

    return asyncio.run(main())


Reply = tuple[int, str, dict[str, str]]


async def _fetch(port: int, path: str, method: str = "GET", auth: str | None = None) -> Reply:
    headers = {"Authorization": auth} if auth else {}
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, f"http://127.0.0.1:{port}{path}", headers=headers) as resp,
    ):
        return resp.status, await resp.text(), dict(resp.headers)


def _sources(status: Callable[[], dict[str, Any]] | None = sample) -> WebSources:
    return WebSources(
        health=lambda: (200, {"ok": True}),
        metrics=lambda: (b"talon_up 1\n", "text/plain; version=0.0.4"),
        status=status,
    )


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_the_page_the_fragment_and_the_json_view() -> None:
    async def scenario(port: int) -> list[Reply]:
        paths = ("/", "/status", "/?part=main", "/status.json", "/?refresh=2", "/?refresh=0")
        odd = ("/?refresh=x", "/?refresh=99999", "/?refresh=%C2%B2", "/?refresh=" + "9" * 5000)
        return [await _fetch(port, p) for p in (*paths, *odd)]

    full, alias, fragment, as_json, *refreshes = _serve(
        WebServer("127.0.0.1:0", _sources(), None), scenario
    )
    assert full[0] == 200
    assert full[2]["Content-Type"] == "text/html; charset=utf-8"
    assert full[2]["Content-Security-Policy"] == CSP
    assert full[2]["Cache-Control"] == "no-store"
    assert full[2]["X-Content-Type-Options"] == "nosniff"
    assert full[1] == render_page(sample())
    assert alias[1] == full[1]
    assert (fragment[0], fragment[1]) == (200, render_page(sample(), part="main"))
    assert fragment[2]["Content-Security-Policy"] == CSP
    assert as_json[2]["Content-Type"].startswith("application/json")
    assert as_json[2]["Cache-Control"] == "no-store"
    assert json.loads(as_json[1]) == sample()
    assert [re.findall(r'data-refresh="(\d+)"', r[1]) for r in refreshes] == [
        ["2"],
        ["1"],
        ["5"],
        ["3600"],
        ["5"],
        ["5"],
    ]


def test_head_works_unknown_paths_are_json_404_and_other_methods_405() -> None:
    async def scenario(port: int) -> list[Reply]:
        return [
            await _fetch(port, "/", "HEAD"),
            await _fetch(port, "/status.json", "HEAD"),
            await _fetch(port, "/health", "HEAD"),
            await _fetch(port, "/nowhere"),
            await _fetch(port, "/", "POST"),
        ]

    head, head_json, head_health, missing, post = _serve(
        WebServer("127.0.0.1:0", _sources(), None), scenario
    )
    assert (head[0], head[1]) == (200, "")
    assert head[2]["Content-Type"] == "text/html; charset=utf-8"
    assert head[2]["Cache-Control"] == "no-store"
    assert (head_json[0], head_health[0]) == (200, 200)
    assert missing[0] == 404
    assert missing[2]["Content-Type"].startswith("application/json")
    error = json.loads(missing[1])
    assert error["error"] == "not_found"
    assert "/status.json" in error["detail"]
    assert post[0] == 405
    assert json.loads(post[1])["error"] == "method_not_allowed"
    assert "GET" in post[2]["Allow"]


def test_without_a_status_source_there_is_no_page() -> None:
    async def scenario(port: int) -> list[Reply]:
        return [await _fetch(port, p) for p in ("/", "/status.json", "/health")]

    page_reply, json_reply, health = _serve(
        WebServer("127.0.0.1:0", _sources(None), None), scenario
    )
    assert (page_reply[0], json_reply[0], health[0]) == (404, 404, 200)
    assert "/status.json" not in json.loads(page_reply[1])["detail"]


def test_a_failing_status_source_is_a_500_and_the_server_keeps_serving() -> None:
    calls = {"n": 0}

    def flaky() -> dict[str, Any]:
        calls["n"] += 1
        if calls["n"] <= 2:
            raise RuntimeError(EVIL)
        return sample()

    async def scenario(port: int) -> list[Reply]:
        return [await _fetch(port, p) for p in ("/", "/status.json", "/")]

    replies = _serve(WebServer("127.0.0.1:0", _sources(flaky), None), scenario)
    assert [r[0] for r in replies] == [500, 500, 200]
    assert json.loads(replies[0][1]) == {"error": "internal", "detail": "the status source failed"}
    assert "alert" not in replies[0][1]


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    logs.configure_logging(LogConfig(), log_dir=tmp_path)
    yield tmp_path / "talon.jsonl"
    logs.reset_logging()


def test_with_a_token_a_browser_gets_a_basic_challenge_and_bearer_still_works(
    log_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bearer, basic = f"Bearer {TOKEN}", _basic("anyone", TOKEN)
    wrong = [
        _basic("anyone", "wrong"),
        _basic(TOKEN, ""),  # the token as the user name is not the password
        "Basic " + base64.b64encode(TOKEN.encode()).decode(),  # no colon
        "Basic %%%not-base64",
        f"Basic {TOKEN}",
        f"Token {TOKEN}",
    ]

    async def scenario(port: int) -> dict[str, list[Reply]]:
        return {
            "none": [await _fetch(port, p) for p in ("/", "/status", "/status.json", "/health")],
            "wrong": [await _fetch(port, "/", auth=a) for a in wrong],
            "basic": [
                await _fetch(port, p, auth=basic)
                for p in ("/", "/?part=main", "/status.json", "/health", "/metrics")
            ],
            "bearer": [await _fetch(port, p, auth=bearer) for p in ("/", "/status.json")],
            "other user": [await _fetch(port, "/", auth=_basic("ops", TOKEN))],
        }

    replies = _serve(WebServer("127.0.0.1:0", _sources(), TOKEN), scenario)
    assert [r[0] for r in replies["none"]] == [401, 401, 401, 401]
    assert [r[2]["WWW-Authenticate"] for r in replies["none"]] == [
        'Basic realm="talon", charset="UTF-8"',
        'Basic realm="talon", charset="UTF-8"',
        'Bearer realm="talon", charset="UTF-8"',
        'Bearer realm="talon", charset="UTF-8"',
    ]
    assert [r[0] for r in replies["wrong"]] == [401] * len(wrong)
    assert [r[0] for r in replies["basic"]] == [200] * 5
    assert [r[0] for r in replies["bearer"] + replies["other user"]] == [200] * 3
    assert "hub" in replies["basic"][0][1]
    captured = capsys.readouterr()
    logged = log_file.read_text()
    assert '"event": "web.unauthorized"' in logged
    everything = [
        logged,
        captured.out,
        captured.err,
        *(r[1] for rs in replies.values() for r in rs),
    ]
    for output in everything:
        assert TOKEN not in output
        assert base64.b64encode(f"anyone:{TOKEN}".encode()).decode() not in output
