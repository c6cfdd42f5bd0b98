"""A real `talon run` pinging a healthchecks.io stand-in on 127.0.0.3.

One daemon, one recorder: every cycle pings ``/start`` then the URL; a
recorder that hangs does not slow the cycles down (the pings wait beside the
loop, each bounded, the excess dropped, each distinct error logged once); a
failing probe with ``fail_when = ["recovering", ...]`` turns the next end
ping into ``/fail`` with a body that names the node and why; and the
notifications and CloudEvents that failure causes name the node too, so a
fleet's alerts can be told apart.
"""

from __future__ import annotations

import itertools
import json
import urllib.request
from datetime import datetime
from pathlib import Path

from talon.lab.daemon import LabDaemon
from talon.lab.substrate import render_toml
from tests.deadman.recorder import Recorder
from tests.support import procs

NODE = "deadman-node"
PATH = "/ping/5f1b2c7e-talon-e2e"
PING_TIMEOUT = 8


def _start(tmp_path: Path, recorder: Recorder, flag: Path) -> tuple[LabDaemon, int]:
    port = procs.free_port()
    inbox = tmp_path / "inbox.txt"  # a notify channel: title line, then the body
    save = f'{{ printf "%s\\n" "$TALON_TITLE"; cat; printf "\\n--\\n"; }} >> "{inbox}"'
    config = tmp_path / "config" / "config.toml"
    config.parent.mkdir()
    config.write_text(
        render_toml(
            {
                "": {"check_interval_secs": 1, "services_file": "services.toml"},
                "healing": {"durability_interval_secs": 1},
                "process_manager": {"kind": "null"},
                "health": {"bind": f"127.0.0.1:{port}"},
                "notify": {"channel": [{"name": "inbox", "command": ["sh", "-c", save]}]},
                "events": {"sink": [{"url": recorder.url("/events")}]},
                "deadman": {
                    "url": "env:TALON_DEADMAN_URL",
                    "min_interval_secs": 0,
                    "timeout_secs": PING_TIMEOUT,
                    "fail_when": ["recovering", "failed recovery", "degraded hold"],
                },
            }
        )
    )
    (config.parent / "services.toml").write_text(
        f'[script.canary]\ncommand = "test ! -e {flag} || exit 2"\nclass = "app"\n'
    )
    env = {"NODE_ID": NODE, "TALON_DEADMAN_URL": recorder.url(PATH)}
    daemon = LabDaemon(None, tmp_path / "talon", config=config, health_port=port, env=env)
    return daemon.start(), port


def _fails_ok(port: int) -> float:
    """talon_deadman_pings_total{kind="fail",result="ok"} on the daemon's /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as m:
        lines = m.read().decode().splitlines()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in lines
        if line.startswith("talon_deadman_pings_total{")
        and 'kind="fail"' in line
        and 'result="ok"' in line
    )


def _cycle_times(daemon: LabDaemon) -> list[float]:
    return [datetime.fromisoformat(e["ts"]).timestamp() for e in daemon.events("cycle")]


def test_pings_each_cycle_never_wait_for_a_hung_receiver_and_failure_names_the_node(
    tmp_path: Path,
) -> None:
    flag = tmp_path / "break-the-canary"
    with Recorder() as r:
        daemon, port = _start(tmp_path, r, flag)
        try:
            # 1. every cycle: /start, then success, in order, the body naming the node
            daemon.wait_for("two start/success pairs", lambda: len(r.seen()) >= 4, timeout=30)
            pings = r.seen()[:4]
            assert [(p.method, p.path) for p in pings] == [
                ("POST", f"{PATH}/start"),
                ("POST", PATH),
            ] * 2
            assert f"node: {NODE}" in pings[1].body
            assert "signal: stable" in pings[1].body

            # 2. the receiver hangs: cycles keep their cadence; each error is logged once
            r.hang()
            before = len(_cycle_times(daemon))
            daemon.wait_for(
                "six cycles with a hung receiver",
                lambda: len(_cycle_times(daemon)) >= before + 6,
                timeout=40,
            )
            times = _cycle_times(daemon)[before - 1 :]
            gaps = [b - a for a, b in itertools.pairwise(times)]
            # A ping awaited in the loop would add at least PING_TIMEOUT to a 1 s cycle.
            assert max(gaps) < PING_TIMEOUT, gaps
            daemon.wait_for(
                "the timeout to be logged",
                lambda: any(
                    "no answer" in e.get("error", "") for e in daemon.events("deadman.failed")
                ),
                timeout=20,
            )
            errors = [e["error"] for e in daemon.events("deadman.failed")]
            assert errors.count(f"no answer within {PING_TIMEOUT}s") == 1, errors
            assert all(e.count(PATH) == 0 for e in errors)
            r.release()

            # 3. a failing probe under fail_when: /fail, with the node and the reasons
            flag.touch()
            fail = daemon.wait_for(
                "a /fail ping",
                lambda: next((p for p in r.seen() if p.path == f"{PATH}/fail"), None),
                timeout=30,
            )
            assert f"talon node {NODE}: FAIL (recovering)" in fail.body
            assert f"node: {NODE}" in fail.body
            assert "failing probes: script.canary" in fail.body
            assert "reasons: signal is recovering" in fail.body
            daemon.wait_for(
                "the log to say the pings get through again",
                lambda: daemon.events("deadman.ok"),
                timeout=20,
            )
            daemon.wait_for(
                "the /fail ping counted in /metrics", lambda: _fails_ok(port), timeout=20
            )

            # 4. so a fleet's alerts can be told apart: notifications and events name the node
            inbox = tmp_path / "inbox.txt"
            messages = daemon.wait_for(  # complete ones: the channel may be writing one now
                "a notification",
                lambda: inbox.exists() and inbox.read_text().split("\n--\n")[:-1],
                timeout=20,
            )
            for message in messages:
                title, _, body = message.strip().partition("\n")
                assert title.startswith(f"[talon {NODE}] "), message
                assert f"node: {NODE}" in body, message
            events = daemon.wait_for(
                "events", lambda: [json.loads(p.body) for p in r.seen() if p.path == "/events"]
            )
            assert {e["type"] for e in events} >= {"talon.node.degraded", "talon.incident.opened"}
            for event in events:
                assert event["source"] == f"talon://{NODE}"
                assert event["data"]["node_id"] == NODE
        finally:
            if daemon.alive():
                daemon.stop()
