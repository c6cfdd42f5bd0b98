"""The status page in a real headless Chromium (Debian's ``chromium``).

One test loads the page from a real ``talon run`` against the lab in a
failed-recovery hold (F5) while redis answers only on the VM path, checks what
a reader sees, and keeps a phone-size screenshot in
``test-artifacts/status-page.png``. The others serve fixed views through the
real WebServer, so that the hold countdown, the refresh swapping in a new state,
the "daemon unreachable" banner and Basic auth are checked deterministically.
Chromium runs under a virtual-time budget: its timers run ahead of the wall
clock, so a 5 s countdown costs well under a second. Each Chromium is started in
its own session and its whole process group is killed by id afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import re
import signal
import struct
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from talon.lab import faults
from talon.lab.substrate import Lab
from talon.web.page import render_page
from talon.web.server import WebServer, WebSources
from tests.support.talon_run import FAST, merged, talon_run
from tests.web.page_views import sample, variant

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACT = Path(__file__).resolve().parents[2] / "test-artifacts" / "status-page.png"
PHONE = (390, 844)
TOKEN = "br0wser-t0ken-4e1a"
# F5 in a few seconds: a force-cycle whose VM dies again inside the durability window.
# (the lab's VM may have booted moments ago: only a boot dying within 2 s is a crash, F11)
SOON = merged(
    FAST,
    {"healing": {"durability_checks": 6, "durability_window_secs": 6}},
    {"healing": {"runtime_min_uptime_secs": 2}},
)
# Without the background-networking flags Chromium's own connections are refused by the
# closed network here and slow every run down; --enable-logging shows console messages
# (CSP violations, uncaught errors) on stderr.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--enable-logging=stderr",
    "--v=0",
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="Debian's chromium is not installed (scripts/setup.sh)"
    ),
]
_runs = itertools.count()


@dataclass
class Page:
    dom: str
    console: str  # Chromium's stderr

    def attr(self, ident: str, name: str) -> str:
        pattern = r"<body[^>]*>" if ident == "body" else rf'<[^>]*\bid="{ident}"[^>]*>'
        match = re.search(pattern, self.dom)
        assert match, f"no element #{ident}"
        value = re.search(rf'\b{name}="([^"]*)"', match.group(0))
        assert value, f"#{ident} has no {name}"
        return value.group(1)

    def text_of(self, ident: str) -> str:
        match = re.search(rf'id="{ident}"[^>]*>([^<]*)<', self.dom)
        assert match, f"no element #{ident}"
        return match.group(1)

    @property
    def refreshes(self) -> int:
        """How many fragments the page's script swapped in."""
        return int(self.attr("body", "data-refreshes"))

    def assert_clean_console(self) -> None:
        for bad in ("Content Security Policy", "Uncaught", "Refused to"):
            assert bad not in self.console, self.console[-3000:]


def chromium(
    url: str, tmp: Path, *, budget_ms: int, screenshot: Path | None = None, timeout: float = 40
) -> Page:
    """Load ``url`` at phone size, run its scripts for ``budget_ms`` of virtual time, dump."""
    profile = tmp / f"chromium-{next(_runs)}"  # a fresh profile: no cache, no cookies
    argv = [
        str(CHROMIUM),
        *FLAGS,
        f"--user-data-dir={profile}",
        f"--window-size={PHONE[0]},{PHONE[1]}",
        f"--virtual-time-budget={budget_ms}",
        "--dump-dom",
        *([f"--screenshot={screenshot}"] if screenshot else []),
        url,
    ]
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, cwd=tmp
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise AssertionError(f"chromium did not finish in {timeout}s: {url}") from None
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # helpers that outlived the browser
    console = err.decode(errors="replace")
    assert proc.returncode == 0, console[-3000:]
    return Page(out.decode(errors="replace"), console)


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from the IHDR chunk, after checking the PNG signature."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert head[12:16] == b"IHDR"
    width, height = struct.unpack(">II", head[16:24])
    return int(width), int(height)


@contextlib.contextmanager
def serving(status: Callable[[], dict[str, Any]], token: str | None = None) -> Iterator[int]:
    """The real WebServer on 127.0.0.1 with a fixed status source, in a thread of its own."""
    sources = WebSources(
        health=lambda: (200, {}), metrics=lambda: (b"", "text/plain"), status=status
    )
    server = WebServer("127.0.0.1:0", sources, token)
    loop = asyncio.new_event_loop()
    loop.run_until_complete(server.start())
    thread = threading.Thread(target=loop.run_forever, name="page-server", daemon=True)
    thread.start()
    try:
        yield server.bound_port
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def _get_json(url: str) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            data: dict[str, Any] = json.loads(reply.read())
            return data
    except urllib.error.HTTPError as exc:  # whose answer was it? the body tells
        raise AssertionError(f"{url}: HTTP {exc.code}: {exc.read()[:300]!r}") from None


# ---------------------------------------------------------------- the real daemon
def test_the_page_of_a_running_daemon_in_a_phone_sized_browser(lab: Lab, tmp_path: Path) -> None:
    """F5: a force-cycle that regresses, so the node holds (failed recovery) a few seconds
    after the fault; then redis's forward dies inside the hold: a real page with an incident
    timeline, every path of every probe (one answered only by the VM), and a hold countdown."""
    faults.heal_all(lab)
    try:
        with talon_run(lab, tmp_path / "home", SOON) as run:
            base = f"http://127.0.0.1:{lab.ports().health}"
            faults.arm_regress(lab, 3.0)
            faults.runtime_down(lab)
            run.wait_for("the hold", lambda: run.state().get("hold"), 60)
            faults.heal_all(lab)  # the VM is back, inside the hold ...
            faults.kill_forwarders(lab, "redis")  # ... and redis's forward dies

            def holding() -> dict[str, Any] | None:
                view = _get_json(f"{base}/status.json")
                redis = next((p for p in view["probes"] if p["key"] == "redis.redis"), None)
                split = redis is not None and redis["endpoint_class"] == "vm"
                return view if view["hold"] and view["incident"] and split else None

            view = run.wait_for("the hold, with redis answering on the VM only", holding, 40)
            ARTIFACT.parent.mkdir(exist_ok=True)
            ARTIFACT.unlink(missing_ok=True)
            started = time.monotonic()
            page = chromium(f"{base}/?refresh=1", tmp_path, budget_ms=3000, screenshot=ARTIFACT)
            took = time.monotonic() - started
            assert run.alive()
    finally:
        faults.heal_all(lab)
    page.assert_clean_console()
    dom = page.dom
    assert page.text_of("node") == "lab-node"
    assert page.text_of("signal") == "failed recovery"
    assert page.text_of("state") == "hold"
    assert '<header class="top bad"' in dom
    for layer in view["layers"]:
        assert f'id="layer-{layer}"><h3>{layer} ' in dom
    redis = dom.split('data-key="redis.redis"')[1].split("</li>")[0]
    assert "localhost ✗ refused" in redis  # the dead forward ...
    assert "vm ✓" in redis  # ... and the VM path that still answers: split-brain
    incident = view["incident"]["id"]
    assert f"<code>{incident}</code>" in dom
    assert "root cause <b>" in dom
    assert dom.count('<li class="decision">') >= 2
    assert "force_cycle" in dom
    minutes, seconds = map(int, page.text_of("countdown").split(":"))
    assert 0 < minutes * 60 + seconds <= 60  # FAST holds for 60 s
    # the script ran under the CSP and swapped in fresh fragments from the daemon
    assert page.refreshes >= 1
    assert page.attr("banner", "hidden") == ""
    assert png_size(ARTIFACT) == PHONE
    print(f"chromium: {took:.1f}s; screenshot {ARTIFACT}")


# ---------------------------------------------------------------- fixed views
def test_the_hold_countdown_and_relative_times_tick_in_the_browser(tmp_path: Path) -> None:
    with serving(sample) as port:
        page = chromium(f"http://127.0.0.1:{port}/?refresh=3600", tmp_path, budget_ms=5000)
    page.assert_clean_console()
    assert page.attr("countdown", "data-remaining") == "1200.000"
    minutes, seconds = map(int, page.text_of("countdown").split(":"))
    shown = minutes * 60 + seconds
    assert 1190 <= shown <= 1196, page.text_of("countdown")  # 20:00 at load, ~5 s later
    updated = re.search(r'id="updated">updated <time[^>]*>([^<]*)</time>', page.dom)
    assert updated
    age = updated.group(1).replace("&nbsp;", " ")
    assert age in {"16 s ago", "17 s ago", "18 s ago"}, age  # 12 s ago at load


def test_the_refresh_swaps_in_the_new_state_then_shows_the_daemon_unreachable(
    tmp_path: Path,
) -> None:
    """First the page (failed recovery, hold), then one fragment that is stable, then errors."""
    stable = variant(signal="stable", state="healthy", hold=None, incident=None)
    replies: list[dict[str, Any]] = [sample(), stable]

    def status() -> dict[str, Any]:
        if not replies:
            raise RuntimeError("the daemon is going away")
        return replies.pop(0)

    with serving(status) as port:
        page = chromium(f"http://127.0.0.1:{port}/?refresh=1", tmp_path, budget_ms=3500)
    assert page.text_of("signal") == "stable"
    assert page.text_of("state") == "healthy"
    assert 'id="countdown"' not in page.dom
    assert "<title>hub: stable</title>" in page.dom
    assert page.refreshes == 1
    banner = re.search(r'<div id="banner" role="alert">([^<]*)</div>', page.dom)
    assert banner, "the banner is shown (not hidden)"
    assert re.fullmatch(
        r"daemon unreachable since \d\d:\d\d:\d\d \(HTTP 500\); retrying every 1 s", banner[1]
    )


def test_a_browser_with_the_token_as_basic_password_loads_and_refreshes(tmp_path: Path) -> None:
    with serving(sample, TOKEN) as port:
        denied = chromium(f"http://127.0.0.1:{port}/", tmp_path, budget_ms=500)
        page = chromium(f"http://me:{TOKEN}@127.0.0.1:{port}/?refresh=1", tmp_path, budget_ms=2500)
    assert 'id="node"' not in denied.dom  # headless cancels the Basic prompt
    assert page.text_of("node") == "hub"
    assert page.refreshes >= 1  # fetch() was authenticated too
    assert page.attr("banner", "hidden") == ""


# Headless Chromium lays pages out at least 500 px wide whatever --window-size says (only
# the screenshot is taken at 390), so the layout is measured in a 390 px iframe: a real
# viewport of that width. The measuring script in the page posts what it saw to the parent.
LAYOUT_PROBE = """<script>
addEventListener("load", () => {
  const root = document.documentElement;
  const cards = [...document.querySelectorAll(".probe")];
  parent.postMessage(JSON.stringify({
    width: innerWidth,
    scroll: root.scrollWidth,
    font: parseFloat(getComputedStyle(document.body).fontSize),
    lefts: [...new Set(cards.map((c) => Math.round(c.getBoundingClientRect().left)))],
  }), "*");
});
</script></body>"""
FRAME = f"""<!doctype html><html><body>
<iframe src="page.html" width="{PHONE[0]}" height="{PHONE[1]}" style="border:0"></iframe>
<script>addEventListener("message", (e) => {{ document.body.dataset.layout = e.data; }});</script>
</body></html>"""


def test_at_phone_width_one_column_no_horizontal_scrolling(tmp_path: Path) -> None:
    """Measured in the browser, on local files: no CSP, so a measuring script can run."""
    view = sample()
    view["probes"][0]["message"] = "unbroken-" * 60  # a long word must wrap, not widen the page
    view["incident"]["trail"][0]["reason"] = "/very/long/path/" * 30
    (tmp_path / "page.html").write_text(render_page(view).replace("</body>", LAYOUT_PROBE))
    (tmp_path / "frame.html").write_text(FRAME)
    page = chromium((tmp_path / "frame.html").as_uri(), tmp_path, budget_ms=1000)
    layout_attr = re.search(r'data-layout="([^"]*)"', page.dom)
    assert layout_attr, page.dom[-2000:]
    layout = json.loads(layout_attr[1].replace("&quot;", '"'))
    assert layout["width"] == PHONE[0]
    assert layout["scroll"] <= layout["width"], layout  # no horizontal scrolling
    assert layout["font"] >= 16
    assert len(layout["lefts"]) == 1, layout  # the probe cards are stacked in one column
