"""docs/prometheus/alertmanager.yml: checked by amtool, routed and inhibited as documented.

amtool and the Alertmanager come with Debian's ``prometheus-alertmanager`` package
(scripts/setup.sh installs it); without amtool these tests are skipped and say so.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.support.procs import ROOT, free_port, stop

DOCS = ROOT / "docs" / "prometheus"
CONFIG = DOCS / "alertmanager.yml"
AMTOOL = shutil.which("amtool")
ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
pytestmark = pytest.mark.skipif(
    AMTOOL is None,
    reason="amtool not found: install Debian's prometheus-alertmanager package "
    "(scripts/setup.sh does)",
)


def amtool(*args: str) -> str:
    assert AMTOOL is not None
    done = subprocess.run([AMTOOL, *args], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, f"amtool {' '.join(args)} failed:\n{done.stdout}{done.stderr}"
    return done.stdout


def config() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(CONFIG.read_text())
    return data


def alert_names() -> set[str]:
    data = yaml.safe_load((DOCS / "talon-alerts.yml").read_text())
    return {rule["alert"] for group in data["groups"] for rule in group["rules"]}


def test_the_shipped_config_passes_amtool_check_config() -> None:
    out = amtool("check-config", str(CONFIG))
    assert "SUCCESS" in out
    assert "4 inhibit rules" in out


@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        (["alertname=TalonNodeDown", "node_id=a", "severity=critical"], "telegram,webhook"),
        (["alertname=TalonFailedRecovery", "node_id=a", "severity=critical"], "telegram,webhook"),
        (["alertname=TalonProbeFlapping", "node_id=a", "severity=warning"], "webhook"),
        (["alertname=Watchdog", "severity=none"], "deadmansswitch"),
    ],
    ids=["critical", "critical-2", "warning", "watchdog"],
)
def test_amtool_routes_each_alert_to_its_receivers(labels: list[str], receivers: str) -> None:
    out = amtool("config", "routes", "test", f"--config.file={CONFIG}", *labels)
    assert out.strip() == receivers


def test_the_webhook_receiver_keeps_the_name_and_url_other_tests_rely_on() -> None:
    receivers = {r["name"]: r for r in config()["receivers"]}
    assert receivers["webhook"]["webhook_configs"][0]["url"] == "http://127.0.0.1:9095/alerts"
    assert all(c["send_resolved"] for c in receivers["webhook"]["webhook_configs"])
    assert receivers["telegram"]["telegram_configs"][0]["send_resolved"]
    assert config()["route"]["group_by"][0] == "node_id"


def test_every_inhibit_rule_is_bound_to_one_node() -> None:
    rules = config()["inhibit_rules"]
    assert rules
    known = alert_names()
    for rule in rules:
        assert "node_id" in rule["equal"], f"{rule} would let one node silence the fleet"
        # node_id required on both sides: a label missing on both alerts counts as equal
        for side in ("source_matchers", "target_matchers"):
            assert 'node_id =~ ".+"' in rule[side], f"{side} of {rule} does not need a node_id"
        # every alert an inhibit rule names exists in talon-alerts.yml
        for matcher in rule["source_matchers"] + rule["target_matchers"]:
            if matcher.startswith("alertname"):
                names = set(re.search(r'"(.*)"', matcher).group(1).split("|"))  # type: ignore[union-attr]
                assert names <= known, f"{matcher} names alerts talon-alerts.yml lacks"


# ------------------------------------------- a real Alertmanager applies the inhibition
@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if ALERTMANAGER is None:
        pytest.skip("prometheus-alertmanager not found: scripts/setup.sh installs it")
    home = tmp_path_factory.mktemp("alertmanager")
    port = free_port()
    proc = subprocess.Popen(
        [
            ALERTMANAGER,
            f"--config.file={CONFIG}",
            f"--storage.path={home}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(home / "log").open("w"),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                urllib.request.urlopen(f"{url}/-/ready", timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None, (home / "log").read_text()
                assert time.monotonic() < deadline, "alertmanager did not become ready"
                time.sleep(0.1)
        yield url
    finally:
        stop(proc)


def _post(url: str, alerts: list[dict[str, str]]) -> None:
    body = json.dumps([{"labels": labels} for labels in alerts]).encode()
    request = urllib.request.Request(
        f"{url}/api/v2/alerts", body, {"Content-Type": "application/json"}
    )
    urllib.request.urlopen(request, timeout=5).close()


def _inhibited(url: str) -> dict[tuple[str, str], bool]:
    with urllib.request.urlopen(f"{url}/api/v2/alerts", timeout=5) as answer:
        alerts = json.load(answer)
    return {
        (a["labels"]["alertname"], a["labels"].get("node_id", "")): bool(a["status"]["inhibitedBy"])
        for a in alerts
    }


def test_a_real_alertmanager_inhibits_only_the_explained_alerts_of_the_same_node(
    alertmanager: str,
) -> None:
    def alert(name: str, node: str, severity: str = "warning") -> dict[str, str]:
        return {"alertname": name, "node_id": node, "severity": severity}

    _post(
        alertmanager,
        [
            # a is down: everything else of a is inhibited, b is untouched
            alert("TalonNodeDown", "a", "critical"),
            alert("TalonProbeFlapping", "a"),
            alert("TalonFailedRecovery", "a", "critical"),
            alert("TalonProbeFlapping", "b"),
            # c failed its recovery: that explains its flapping, not its rejected config
            alert("TalonFailedRecovery", "c", "critical"),
            alert("TalonProbeFlapping", "c"),
            alert("TalonNodeNotStable", "c"),
            alert("TalonConfigRejected", "c"),
            # d's Talon stopped cycling: its other alerts are stale readings
            alert("TalonCycleStale", "d", "critical"),
            alert("TalonTaskDown", "d"),
            {"alertname": "Watchdog", "severity": "none"},
        ],
    )
    expected = {
        ("TalonNodeDown", "a"): False,
        ("TalonProbeFlapping", "a"): True,
        ("TalonFailedRecovery", "a"): True,
        ("TalonProbeFlapping", "b"): False,
        ("TalonFailedRecovery", "c"): False,
        ("TalonProbeFlapping", "c"): True,
        ("TalonNodeNotStable", "c"): True,
        ("TalonConfigRejected", "c"): False,
        ("TalonCycleStale", "d"): False,
        ("TalonTaskDown", "d"): True,
        ("Watchdog", ""): False,
    }
    # Alertmanager marks inhibitions as it processes the alerts, not within the POST: read
    # until it has (a loaded box takes a moment), then compare.
    deadline = time.monotonic() + 10
    seen = _inhibited(alertmanager)
    while seen != expected and time.monotonic() < deadline:
        time.sleep(0.2)
        seen = _inhibited(alertmanager)
    assert seen == expected
