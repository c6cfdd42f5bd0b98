"""`talon fleet targets`: Prometheus file_sd JSON from [fleet], against real peers on loopback.

A peer on 127.0.0.11 answers /health (http.server in a thread) and says who it
is; one on 127.0.0.12 refuses; an https peer behind a path prefix on
127.0.0.13 refuses too; this node's own /health (include_self) is on
127.0.0.14 and refuses. The command runs as a real process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from talon.fleet import sd
from talon.lab.substrate import render_toml
from tests.fleet.test_view import health
from tests.support import procs

SAID = {"node_id": "edge-a", "platform": "macos", "arch": "arm64"}


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps(health(node=SAID)).encode()
        self.send_response(200 if self.path == "/health" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def peer() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.11", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def _config(tmp_path: Path, fleet: dict[str, Any], bind: str = "") -> Path:
    (tmp_path / "config").mkdir(exist_ok=True)
    path = tmp_path / "config" / "config.toml"
    bind = bind or f"127.0.0.14:{procs.free_port('127.0.0.14')}"
    path.write_text(render_toml({"health": {"bind": bind}, "fleet": fleet}))
    (tmp_path / "config" / "services.toml").write_text("")
    return path


def _talon(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NODE_ID": "observer"}
    return subprocess.run(
        [sys.executable, "-m", "talon", "--config", str(config), "fleet", "targets", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _fleet(port: int) -> dict[str, Any]:
    gone = procs.free_port("127.0.0.12")
    tls = procs.free_port("127.0.0.13")
    return {
        "timeout_secs": 2,
        "peers": [
            {
                "name": "a",
                "url": f"http://127.0.0.11:{port}/health",
                "labels": {"env": "prod", "platform": "linux"},
            },
            {
                "name": "gone",
                "url": f"http://127.0.0.12:{gone}/health",
                "labels": {"platform": "linux"},
            },
            {"name": "tls", "url": f"https://127.0.0.13:{tls}/talon/health/"},
        ],
    }


def test_targets_label_each_peer_by_its_health_or_its_config(tmp_path: Path, peer: int) -> None:
    fleet = _fleet(peer)
    out = tmp_path / "sd" / "talon.json"
    done = _talon(_config(tmp_path, fleet), "--output", str(out))
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "wrote 4 targets" in done.stderr
    assert "unreachable: observer, gone, tls" in done.stderr
    groups = json.loads(out.read_text())
    assert [g["labels"]["talon_peer"] for g in groups] == ["observer", "a", "gone", "tls"]
    me, a, gone, tls = groups
    assert me["targets"][0].startswith("127.0.0.14:")
    assert me["labels"]["node_id"] == "observer"
    assert {"platform", "arch"} <= set(me["labels"])  # this node's own identity
    # reachable: what /health says about itself wins over the config; config adds the rest
    assert a == {
        "targets": [f"127.0.0.11:{peer}"],
        "labels": {**SAID, "env": "prod", "talon_peer": "a"},
    }
    # unreachable: still listed, so Prometheus scrapes it and sees it down
    gone_port = fleet["peers"][1]["url"].rsplit(":", 1)[1].split("/")[0]
    assert gone == {
        "targets": [f"127.0.0.12:{gone_port}"],
        "labels": {"node_id": "gone", "platform": "linux", "talon_peer": "gone"},
    }
    assert tls["labels"] == {
        "__metrics_path__": "/talon/metrics",
        "__scheme__": "https",
        "node_id": "tls",
        "talon_peer": "tls",
    }
    assert [p.name for p in out.parent.iterdir()] == ["talon.json"]  # no temp file left


def test_targets_print_to_stdout_and_leave_self_out_when_told(tmp_path: Path, peer: int) -> None:
    fleet = {**_fleet(peer), "include_self": False}
    done = _talon(_config(tmp_path, fleet))
    assert done.returncode == 0, done.stderr
    groups = json.loads(done.stdout)
    assert [g["labels"]["node_id"] for g in groups] == ["edge-a", "gone", "tls"]


def test_no_peer_and_a_bad_label_are_config_errors(tmp_path: Path) -> None:
    done = _talon(_config(tmp_path, {"include_self": False}))
    assert done.returncode == 2
    assert "no target to write" in done.stderr
    assert "Traceback" not in done.stderr
    bad = {"peers": [{"name": "x", "url": "http://127.0.0.12:1/health", "labels": {"__a": "b"}}]}
    done = _talon(_config(tmp_path, bad))
    assert done.returncode == 2
    assert "__a" in done.stderr
    assert "Traceback" not in done.stderr


def test_address_of_a_health_url() -> None:
    assert sd.address("http://10.0.0.5:9999/health") == ("10.0.0.5:9999", {})
    assert sd.address("https://[::1]/x/health") == (
        "[::1]:443",
        {"__scheme__": "https", "__metrics_path__": "/x/metrics"},
    )
