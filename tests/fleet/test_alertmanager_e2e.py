"""Issue 22 end to end, with the real servers from Debian's packages: three `talon run`
nodes on their own loopback addresses (each watching a service on its own address),
a real Prometheus scraping them through `talon fleet targets`' file_sd file with the
shipped rules, a real Alertmanager with the shipped config delivering to a webhook
receiver this test runs on 127.0.0.1. Only the servers' timings (scrape and evaluation
intervals, the rules' `for`, group_wait/interval) and the receivers' URLs are changed,
in the test's own copies. Every process is stopped by its pid."""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from talon.lab.daemon import LabDaemon
from talon.lab.substrate import render_toml
from tests.support import procs

T = TypeVar("T")
DOCS = Path(__file__).resolve().parents[2] / "docs" / "prometheus"
PROMETHEUS = shutil.which("prometheus")
ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
HOSTS = {"a": "127.0.0.31", "b": "127.0.0.32", "c": "127.0.0.33"}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (PROMETHEUS and ALERTMANAGER),
        reason="prometheus and prometheus-alertmanager are installed by scripts/setup.sh",
    ),
]


@dataclass
class Receiver:
    """Alertmanager's webhook deliveries, by path (alerts, telegram, deadman)."""

    got: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def of(self, path: str, node: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [
                body
                for p, body in self.got
                if p == path and (node is None or body["groupLabels"].get("node_id") == node)
            ]


@contextlib.contextmanager
def receiver() -> Iterator[tuple[Receiver, int]]:
    rec = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with rec.lock:
                rec.got.append((self.path.strip("/"), body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield rec, int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


class Service:
    """A TCP service on a node's own address that the node's Talon watches."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.port = procs.free_port(host)
        self.sock: socket.socket | None = None
        self.up()

    def up(self) -> None:
        self.sock = socket.create_server((self.host, self.port))

    def down(self) -> None:
        assert self.sock is not None
        self.sock.close()
        self.sock = None


def _node(root: Path, name: str, service: Service) -> tuple[LabDaemon, str]:
    host = HOSTS[name]
    port = procs.free_port(host)
    home = root / name
    (home / "config").mkdir(parents=True)
    config = {
        "": {"check_interval_secs": 1, "services_file": "services.toml"},
        "process_manager": {"kind": "null"},
        "health": {"bind": f"{host}:{port}"},
    }
    (home / "config" / "config.toml").write_text(render_toml(config))
    (home / "config" / "services.toml").write_text(
        f'[tcp.svc]\naddress = "{service.host}:{service.port}"\ncritical = true\n'
        "critical_after_consecutive_failures = 1\n"
    )
    daemon = LabDaemon(None, home, config=home / "config" / "config.toml", env={"NODE_ID": name})
    return daemon, f"http://{host}:{port}/health"


def _prometheus_files(root: Path, am_port: int) -> Path:
    rules = re.sub(r"for: \d+[smh]", "for: 0s", (DOCS / "talon-alerts.yml").read_text())
    (root / "rules.yml").write_text(rules)
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": ["rules.yml"],
        "alerting": {
            "alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]
        },
        "scrape_configs": [
            {
                "job_name": "talon-fleet",
                "honor_labels": True,
                "file_sd_configs": [{"files": ["talon-targets.json"], "refresh_interval": "1s"}],
            }
        ],
    }
    path = root / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def _alertmanager_file(root: Path, hook: int) -> Path:
    config = yaml.safe_load((DOCS / "alertmanager.yml").read_text())
    route = config["route"]
    route.update(group_wait="1s", group_interval="1s", repeat_interval="1h")
    for sub in route["routes"]:
        if "group_wait" in sub:
            sub.update(group_wait="0s", group_interval="1s", repeat_interval="1h")
    to = {"webhook": "alerts", "telegram": "telegram", "deadmansswitch": "deadman"}
    for rec in config["receivers"]:  # every delivery to this test's receiver, nothing leaves
        url = f"http://127.0.0.1:{hook}/{to[rec['name']]}"
        rec.pop("telegram_configs", None)
        rec["webhook_configs"] = [{"url": url, "send_resolved": rec["name"] != "deadmansswitch"}]
    path = root / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def _start(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)


def _alerts(body: dict[str, Any], status: str = "firing") -> set[str]:
    return {a["labels"]["alertname"] for a in body["alerts"] if a["status"] == status}


def test_one_notice_per_node_with_its_root_cause_inhibition_resolve_and_node_down(
    tmp_path: Path,
) -> None:
    services = {name: Service(host) for name, host in HOSTS.items()}
    nodes = {name: _node(tmp_path, name, services[name]) for name in HOSTS}
    servers: list[subprocess.Popen[bytes]] = []
    try:
        for daemon, _ in nodes.values():
            daemon.start()
        for name, (daemon, _) in nodes.items():
            procs.wait_for(
                f"{name}'s first cycle", lambda d=daemon: d.daemon().get("last_cycle"), 45
            )
        observer = tmp_path / "observer"
        observer.mkdir()
        peers = [{"name": name, "url": url} for name, (_, url) in nodes.items()]
        (observer / "config.toml").write_text(
            render_toml({"fleet": {"include_self": False, "peers": peers}})
        )
        (observer / "services.toml").write_text("")
        targets = tmp_path / "talon-targets.json"
        done = subprocess.run(
            [
                *(sys.executable, "-m", "talon", "--config", str(observer / "config.toml")),
                *("fleet", "targets", "--output", str(targets)),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        labels = {e["labels"]["node_id"] for e in json.loads(targets.read_text())}
        assert labels == set(HOSTS)

        with receiver() as (rec, hook):
            am_port, prom_port = procs.free_port(), procs.free_port()
            servers.append(
                _start(
                    [
                        str(ALERTMANAGER),
                        f"--config.file={_alertmanager_file(tmp_path, hook)}",
                        f"--storage.path={tmp_path / 'am'}",
                        f"--web.listen-address=127.0.0.1:{am_port}",
                        "--cluster.listen-address=",  # no gossip port: one Alertmanager here
                    ],
                    tmp_path / "alertmanager.log",
                )
            )
            servers.append(
                _start(
                    [
                        str(PROMETHEUS),
                        f"--config.file={_prometheus_files(tmp_path, am_port)}",
                        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                        f"--web.listen-address=127.0.0.1:{prom_port}",
                        # a firing alert is re-sent every minute by default: the first
                        # send can come before the Alertmanager is discovered
                        "--rules.alert.resend-delay=1s",
                    ],
                    tmp_path / "prometheus.log",
                )
            )
            # the pipeline is alive: the Watchdog reaches the dead-man's switch
            procs.wait_for("the Watchdog", lambda: rec.of("deadman"), timeout=60)

            # 1. a fault on a: one notice grouped for a, its root cause first; the
            #    node's secondary alerts (TalonNodeNotStable) inhibited
            services["a"].down()
            first = procs.wait_for("a's notice", lambda: rec.of("alerts", "a"), 45)[0]
            assert "TalonIncident" in _alerts(first)
            cause = next(x for x in first["alerts"] if x["labels"]["alertname"] == "TalonIncident")
            assert cause["labels"]["root_cause"] == "service_down"
            time.sleep(4)  # room for a second, wrong notice to arrive
            for body in rec.of("alerts", "a"):
                assert "TalonNodeNotStable" not in _alerts(body)  # inhibited
            assert len([b for b in rec.of("alerts", "a") if b["status"] == "firing"]) == 1

            # 2. recovery: a resolved notice
            services["a"].up()
            procs.wait_for(
                "a's resolved notice",
                lambda: [
                    b for b in rec.of("alerts", "a") if "TalonIncident" in _alerts(b, "resolved")
                ],
                45,
            )

            # 3. b's Talon dies: the node-down alert, and nothing else for b
            nodes["b"][0].kill()
            down = procs.wait_for("b's node-down notice", lambda: rec.of("alerts", "b"), 45)[0]
            assert _alerts(down) == {"TalonNodeDown"}

            # 4. c is untouched throughout
            assert rec.of("alerts", "c") == []
            assert rec.of("telegram", "c") == []
    finally:
        for server in servers:
            procs.stop(server)
        for daemon, _ in nodes.values():
            if daemon.alive():
                daemon.stop()
        for service in services.values():
            if service.sock is not None:
                service.down()
