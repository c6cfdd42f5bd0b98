"""`talon fleet status` against real `talon run` daemons, each on its own loopback address.

The fleet: ``green`` (127.0.0.5, every probe passes; read as this node's own
/health through ``include_self``), ``red`` (127.0.0.6, one failing probe),
``locked`` (127.0.0.7, a [health] token; listed twice: with the token and
without it), ``wedged`` (127.0.0.8, its second cycle hangs in a 120 s script,
so its last cycle ages past the fleet's stale_after_secs while /health keeps
answering), plus a port on 127.0.0.9 where nothing listens and a socket there
that accepts connections and never answers. The daemons start together in one
module-scoped fixture and are stopped by pid.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from talon.lab.daemon import LabDaemon
from talon.lab.substrate import render_toml
from tests.support import procs

TOKEN = "fleet-e2e-token-5150"
STALE_AFTER = 8
TIMEOUT = 3.0
SILENT_TIMEOUT = 1.0


@dataclass
class Node:
    name: str
    host: str
    port: int
    daemon: LabDaemon

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/health"

    def health(self) -> dict[str, Any]:
        request = urllib.request.Request(self.url, headers={"Authorization": f"Bearer {TOKEN}"})
        try:
            with urllib.request.urlopen(request, timeout=2) as r:
                data: dict[str, Any] = json.loads(r.read())
        except urllib.error.HTTPError as e:
            data = json.loads(e.read())
        except OSError:
            return {}
        return data


def _write(home: Path, config: dict[str, dict[str, Any]], services: str) -> Path:
    (home / "config").mkdir(parents=True, exist_ok=True)
    path = home / "config" / "config.toml"
    path.write_text(render_toml(config))
    (home / "config" / "services.toml").write_text(services)
    return path


def _node(root: Path, name: str, host: str, services: str, **health: Any) -> Node:
    port = procs.free_port(host)
    config = {
        "": {"check_interval_secs": 1, "services_file": "services.toml"},
        "healing": {"durability_interval_secs": 1},  # the interval while an incident is open
        "process_manager": {"kind": "null"},
        "health": {"bind": f"{host}:{port}", **health},
    }
    home = root / name
    path = _write(home, config, services)
    env = {"NODE_ID": name, "PEER_TOKEN": TOKEN}
    return Node(name, host, port, LabDaemon(None, home, config=path, env=env))


def _wait(what: str, predicate: Any, nodes: list[Node], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for node in nodes:
            assert node.daemon.alive(), f"{node.name} died:\n{node.daemon.output()[-3000:]}"
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("fleet")
    flag = root / "wedged-once"
    wedge = f"if [ -e {flag} ]; then sleep 120; else touch {flag}; fi"
    nodes = [
        _node(
            root,
            "green",
            "127.0.0.5",
            '[script.a]\ncommand = "true"\n[script.b]\ncommand = "true"\n',
        ),
        _node(
            root,
            "red",
            "127.0.0.6",
            '[script.a]\ncommand = "true"\n[script.broken]\ncommand = "exit 2"\nclass = "app"\n',
        ),
        _node(
            root,
            "locked",
            "127.0.0.7",
            '[script.a]\ncommand = "true"\n[script.b]\ncommand = "true"\n',
            token="env:PEER_TOKEN",
        ),
        _node(
            root,
            "wedged",
            "127.0.0.8",
            f"[script.wedge]\ncommand = {json.dumps(wedge)}\ntimeout_secs = 120\n",
        ),
    ]
    for node in nodes:  # all at once: they boot in parallel
        node.daemon.start()
    try:
        by_name = {n.name: n for n in nodes}
        _wait(
            "every daemon's first cycle on /health",
            lambda: all(n.health().get("last_cycle", {}).get("finished_at") for n in nodes),
            nodes,
        )
        _wait(
            "red to be recovering",
            lambda: by_name["red"].health().get("signal") == "recovering",
            nodes,
        )
        _wait(
            "wedged's last cycle to age",
            lambda: (by_name["wedged"].health()["last_cycle"]["age_s"] or 0) > STALE_AFTER + 0.5,
            nodes,
        )
        yield {"root": root, "nodes": by_name}
    finally:
        for node in nodes:
            if node.daemon.alive():
                node.daemon.stop()


def _fleet_config(root: Path, nodes: dict[str, Node], refused: int, silent: int) -> Path:
    green = nodes["green"]
    peers = [
        {"name": "red", "url": nodes["red"].url},
        {"name": "locked", "url": nodes["locked"].url, "token": "env:FLEET_TOKEN"},
        {"name": "locked-no-token", "url": nodes["locked"].url},
        {"name": "wedged", "url": nodes["wedged"].url},
        {"name": "gone", "url": f"http://127.0.0.9:{refused}/health"},
        {
            "name": "silent",
            "url": f"http://127.0.0.9:{silent}/health",
            "timeout_secs": SILENT_TIMEOUT,
        },
    ]
    config = {
        "health": {"bind": f"{green.host}:{green.port}"},  # include_self reads green
        "fleet": {"timeout_secs": TIMEOUT, "stale_after_secs": STALE_AFTER, "peers": peers},
    }
    return _write(root / "observer", config, "")


def _talon(config: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {**os.environ, "NODE_ID": "green", "FLEET_TOKEN": TOKEN}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "talon", "--config", str(config), "fleet", "status", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done, time.monotonic() - started


def test_fleet_status_shows_every_peer_and_flags_the_broken_ones(fleet: dict[str, Any]) -> None:
    with procs.refusing_port("127.0.0.9") as refused, procs.silent_listener("127.0.0.9") as silent:
        config = _fleet_config(fleet["root"], fleet["nodes"], refused, silent)
        done, elapsed = _talon(config, "--json")
    assert done.returncode == 1, done.stderr
    doc = json.loads(done.stdout)
    peers = {p["name"]: p for p in doc["peers"]}
    assert list(peers) == ["green", "red", "locked", "locked-no-token", "wedged", "gone", "silent"]

    def row(name: str) -> tuple[Any, ...]:
        p = peers[name]
        probes = p["probes"]
        return (
            p["reachable"],
            p["error"],
            p["signal"],
            p["stale"],
            probes["passed"],
            probes["failed"],
        )

    assert row("green") == (True, None, "stable", False, 2, 0)
    assert peers["green"]["self"]
    assert peers["green"]["node_id"] == "green"
    assert row("red") == (True, None, "recovering", False, 1, 1)
    assert row("locked") == (True, None, "stable", False, 2, 0)
    assert row("locked-no-token") == (False, "unauthorized", None, False, 0, 0)
    assert peers["locked-no-token"]["http_status"] == 401
    assert row("wedged") == (True, None, "stable", True, 1, 0)
    assert peers["wedged"]["stale_why"].endswith(f"> {STALE_AFTER}s")
    assert peers["wedged"]["last_cycle_age_s"] > STALE_AFTER
    assert row("gone") == (False, "refused", None, False, 0, 0)
    assert row("silent") == (False, "timeout", None, False, 0, 0)
    assert peers["silent"]["detail"] == f"no answer within {SILENT_TIMEOUT:g}s"

    summary = doc["summary"]
    assert summary["worst_signal"] == "recovering"
    assert summary["worst_peers"] == ["red"]
    assert summary["unreachable"] == ["locked-no-token", "gone", "silent"]
    assert summary["stale"] == ["wedged"]
    assert summary["probes"] == {
        "passed": 6,
        "degraded": 0,
        "failed": 1,
        "pass_rate": round(6 / 7, 4),
    }
    # bounded: no peer took longer than its timeout, the command not much longer than the largest
    assert doc["timeout_s"] == TIMEOUT + 0.5
    assert all(p["elapsed_s"] <= TIMEOUT + 0.5 for p in doc["peers"])
    assert elapsed < doc["timeout_s"] + 15  # + interpreter start-up on a loaded box
    assert TOKEN not in done.stdout


def test_the_table_names_every_peer_and_why(fleet: dict[str, Any]) -> None:
    with procs.refusing_port("127.0.0.9") as refused, procs.silent_listener("127.0.0.9") as silent:
        config = _fleet_config(fleet["root"], fleet["nodes"], refused, silent)
        done, _ = _talon(config)
    assert done.returncode == 1, done.stderr
    out = done.stdout
    for name in ("green", "red", "locked", "locked-no-token", "wedged", "gone", "silent"):
        assert name in out
    assert "gone: refused: connection refused by 127.0.0.9" in out
    assert f"silent: timeout: no answer within {SILENT_TIMEOUT:g}s" in out
    assert "wedged: stale: last cycle" in out
    assert "7 peers: 4 reachable, 3 unreachable, 1 stale" in out
    assert "worst signal: recovering (red)" in out
    assert "exit 1" in out


def test_a_healthy_fleet_exits_0(fleet: dict[str, Any]) -> None:
    nodes = fleet["nodes"]
    config = {
        "health": {"bind": f"{nodes['green'].host}:{nodes['green'].port}"},
        "fleet": {
            "peers": [{"name": "locked", "url": nodes["locked"].url, "token": "env:FLEET_TOKEN"}]
        },
    }
    done, _ = _talon(_write(fleet["root"] / "healthy", config, ""), "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads(done.stdout)["summary"]
    assert (summary["worst_signal"], summary["reachable"], summary["probes"]["pass_rate"]) == (
        "stable",
        2,
        1.0,
    )
