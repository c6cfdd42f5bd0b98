"""End to end with a real `talon run` (no VM, loopback only): an operator's pause and resume
reach the running daemon as messages and show on every surface (F28), and a probe answered
only through the VM's path is degraded, never passed, on every surface (F1; issue 19).

The pause node watches one critical TCP service (a listener this test owns, threshold 1);
its process manager is a supervisord that declares restarts but whose socket nobody serves,
so a restart is a real, journalled action that is refused at run time (F20). The split
node has a static runtime whose VM address is 127.0.0.2: the probe's localhost path is a
bound socket that refuses, its VM path a listener that answers (a split-brain).
"""

from __future__ import annotations

import contextlib
import json
import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from talon.lab.daemon import LabDaemon, merged
from talon.lab.substrate import render_toml
from tests.support.procs import free_port
from tests.support.tiny_node import bind, scrape

VM = "127.0.0.2"


@contextlib.contextmanager
def node(home: Path, services: str, extra: dict[str, dict[str, Any]]) -> Iterator[LabDaemon]:
    """A `talon run` with ``services``, up after its first cycle, stopped by pid after."""
    config = home / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    health = free_port()
    settings = merged(
        {
            "": {"check_interval_secs": 1},
            "healing": {"durability_interval_secs": 1, "restart_cooldown_secs": 2},
            "health": {"bind": f"127.0.0.1:{health}"},
        },
        extra,
    )
    config.write_text(render_toml(settings))
    (config.parent / "services.toml").write_text(services)
    run = LabDaemon(None, home / "talon", config=config, health_port=health)
    with run.running():
        yield run


def pause_node(home: Path, port: int) -> contextlib.AbstractContextManager[LabDaemon]:
    services = (
        f'[tcp.svc]\naddress = "127.0.0.1:{port}"\nrestart = "tcp.svc"\ncritical = true\n'
        "critical_after_consecutive_failures = 1\n"
    )
    manager = {
        "kind": "supervisord",
        "supervisord_url": f"unix://{home / 'no-supervisord.sock'}",
        "timeout_secs": 2,
    }
    return node(home, services, {"process_manager": manager})


def status(run: LabDaemon) -> dict[str, Any]:
    done = run.talon("status", "--json")
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def series(run: LabDaemon, name: str) -> dict[str, tuple[str, float]]:
    """probe -> (endpoint_class, value) of a probe series on /metrics, as Prometheus reads it."""
    from prometheus_client.parser import text_string_to_metric_families

    return {
        s.labels["probe"]: (s.labels.get("endpoint_class", ""), s.value)
        for family in text_string_to_metric_families(scrape(run))
        for s in family.samples
        if s.name == name
    }


def next_cycle(run: LabDaemon) -> None:
    seen = run.cycles()
    run.wait_for("the next cycle", lambda: run.cycles() > seen, 20)


def test_f28_pause_is_applied_within_one_cycle_shown_everywhere_and_resume_ends_it(
    tmp_path: Path,
) -> None:
    service = socket.create_server(("127.0.0.1", 0))
    with service, pause_node(tmp_path, service.getsockname()[1]) as run:
        done = run.talon("pause", "--for", "1h")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "asked the running daemon to pause healing" in done.stdout
        assert "healing and SOS paused until " in done.stdout
        assert "(1h) by " in done.stdout
        assert "no daemon runs" not in done.stdout
        # applied at the boundary, before any further cycle: status and /health see it
        [paused] = status(run)["paused"]
        assert (paused["probe"], 3500 < paused["remaining_s"] <= 3600) == (None, True)
        code, health = run.health()
        assert code == 200
        assert [p["probe"] for p in health["paused"]] == [None]
        assert health["operator"]["last_command"]["verb"] == "pause"
        assert health["operator"]["last_command"]["duration_s"] == 3600.0
        table = run.talon("status").stdout
        assert "paused: the whole node" in table
        next_cycle(run)
        assert series(run, "talon_pause_active") == {"*": ("", 1.0)}
        left = series(run, "talon_pause_remaining_seconds")["*"][1]
        assert 3500 < left <= 3600
        page = _page(run)
        assert "Healing paused" in page
        assert "talon resume" in page

        probe = run.talon("pause", "--probe", "tcp.sv", "--for", "10m")
        assert probe.returncode == 2
        assert "did you mean 'tcp.svc'?" in probe.stderr

        done = run.talon("resume")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "healing and SOS resumed by " in done.stdout
        assert status(run)["paused"] == []
        assert run.health()[1]["paused"] == []
        next_cycle(run)
        assert series(run, "talon_pause_active") == {"*": ("", 0.0)}
        assert run.talon("resume").stdout.strip().endswith("no pause is active")
        applied = [e["verb"] for e in run.events("operator.command") if e.get("applied")]
        assert applied == ["pause", "resume"]


def test_f28_a_service_that_dies_while_paused_is_not_restarted_until_resume(
    tmp_path: Path,
) -> None:
    """Probes keep running and reporting while paused; the heal waits for `talon resume`.
    (The core's half of F28: no heal, no agent and no SOS for what a pause covers.)"""
    service = socket.create_server(("127.0.0.1", 0))
    with service, pause_node(tmp_path, service.getsockname()[1]) as run:
        assert run.talon("pause", "--for", "1h").returncode == 0
        service.close()  # the service dies while an operator works on the box
        run.wait_for(
            "the probe to fail three cycles in a row",
            lambda: run.state().get("counters", {}).get("tcp.svc", 0) >= 3,
            30,
        )
        assert status(run)["summary"]["failed"] == 1  # reported while paused
        assert run.begun("restart_service") == [], "healed while paused"
        assert run.talon("resume").returncode == 0
        run.wait_for("the restart after resume", lambda: run.begun("restart_service"), 20)


# ------------------------------------------------------------------- split-brain (F1)
@contextlib.contextmanager
def split_service() -> Iterator[int]:
    """A port that answers on the VM's address and refuses on localhost."""
    for _ in range(20):
        vm = socket.create_server((VM, 0))
        port = vm.getsockname()[1]
        dead = socket.socket()
        try:
            dead.bind(("127.0.0.1", port))  # bound, never listening: connections are refused
        except OSError:
            vm.close()
            dead.close()
            continue
        with vm, dead:
            yield port
        return
    raise AssertionError("no port free on both 127.0.0.1 and 127.0.0.2")


def test_f1_a_probe_answered_only_through_the_vm_is_degraded_on_every_surface(
    tmp_path: Path,
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as fine, split_service() as port:
        services = (
            f'[tcp.split]\naddress = "127.0.0.1:{port}"\nendpoint = {{ via = ["localhost", "vm"] }}\n\n'
            f'[tcp.fine]\naddress = "127.0.0.1:{fine.getsockname()[1]}"\n'
        )
        extra = {
            "runtime": {"kind": "static", "vm_address": VM},
            "process_manager": {"kind": "null"},
        }
        with node(tmp_path, services, extra) as run:
            summary = status(run)["summary"]
            assert summary == {
                "total": 2,
                "passed": 1,
                "degraded": 1,
                "failed": 0,
                "skipped": 0,
                "pass_rate": 0.5,
            }
            split = next(p for p in status(run)["probes"] if p["key"] == "tcp.split")
            assert (split["status"], split["degraded"], split["endpoint_class"]) == (
                "ok",
                True,
                "vm",
            )
            assert "degraded" in run.talon("status").stdout
            health = run.health()[1]["probes"]
            assert (health["passed"], health["degraded"], health["pass_rate"]) == (1, 1, 0.5)
            degraded = series(run, "talon_probe_degraded")
            assert degraded == {"tcp.split": ("vm", 1.0), "tcp.fine": ("localhost", 0.0)}
            up = series(run, "talon_probe_up")
            assert up == {"tcp.split": ("vm", 0.0), "tcp.fine": ("localhost", 1.0)}
            fleet = run.talon("fleet", "status", "--json")
            doc = json.loads(fleet.stdout)
            assert doc["summary"]["probes"] == {
                "passed": 1,
                "degraded": 1,
                "failed": 0,
                "pass_rate": 0.5,
            }
            assert "(1/2, 1 degraded)" in run.talon("fleet", "status").stdout
            report = json.loads((run.state_dir / "last-probe.json").read_text())
            assert (report["summary"]["degraded"], report["summary"]["pass_rate"]) == (1, 0.5)


def _page(run: LabDaemon) -> str:
    with urllib.request.urlopen(f"http://{bind(run)}/", timeout=5) as r:
        body: bytes = r.read()
    return body.decode()
