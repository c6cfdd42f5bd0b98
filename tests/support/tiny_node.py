"""A real `talon run` with two cheap TCP probes and no VM: one passes, one fails.

The passing probe connects to a listener this process opens; the failing one to
a loopback port nothing listens on. The failing probe is critical, so the first
cycle opens an incident and the core asks for a tier-1c restart: the process
manager is a supervisord that declares restarts but whose socket nobody serves,
so the restart is refused at run time (F20) — a real action with a heal tier and
a real refusal, for the price of one connect. Used by the /metrics scrape test
and the OpenTelemetry test.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import tomllib
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from talon.lab.daemon import LabDaemon, merged
from talon.lab.substrate import render_toml
from tests.support.procs import free_port

SERVICES = """\
[tcp.up]
address = "127.0.0.1:{up}"

[tcp.down]
address = "127.0.0.1:{down}"
restart = "tcp.down"  # a tcp check restarts only what it names (issue 20)
critical = true
critical_after_consecutive_failures = 1
"""


def bind(run: LabDaemon) -> str:
    config = tomllib.loads(run.config.read_text())
    return str(config["health"]["bind"])


@contextlib.contextmanager
def tiny_node(
    home: Path,
    *,
    worker: bool = False,
    extra: Mapping[str, Mapping[str, Any]] = {},
    env: Mapping[str, str] = {},
) -> Iterator[LabDaemon]:
    """Yield the daemon after its first cycle; stop it (by pid) and the listener after.

    ``extra`` adds config sections or keys, ``env`` variables of the daemon's environment.
    """
    listener = socket.create_server(("127.0.0.1", 0))
    try:
        up = listener.getsockname()[1]
        config = home / "config" / "config.toml"
        config.parent.mkdir(parents=True, exist_ok=True)
        health = free_port()
        settings: dict[str, dict[str, Any]] = {
            "": {"check_interval_secs": 1},
            "healing": {"durability_interval_secs": 1},
            "health": {"bind": f"127.0.0.1:{health}"},
            "process_manager": {
                "kind": "supervisord",
                "supervisord_url": f"unix://{home / 'no-supervisord.sock'}",
                "timeout_secs": 2,
            },
        }
        if worker:
            port = free_port()
            settings["worker"] = {
                "command": [sys.executable, "-m", "talon.lab.worker", "--port", str(port)],
                "port": port,
                "health_interval_secs": 1,
                "startup_sync_delay_secs": 0,
                "drain_timeout_secs": 2,
            }
        config.write_text(render_toml(merged(settings, extra)))
        services = SERVICES.format(up=up, down=free_port())
        (config.parent / "services.toml").write_text(services)
        run = LabDaemon(None, home / "talon", config=config, health_port=health)
        run.env.update(env)
        with run.running():
            yield run
    finally:
        listener.close()


def scrape(run: LabDaemon) -> str:
    """The daemon's /metrics, as Prometheus gets it."""
    with urllib.request.urlopen(f"http://{bind(run)}/metrics", timeout=5) as r:
        body: bytes = r.read()
    return body.decode()
