"""docs/prometheus/ is checked by promtool, and the rules read series a real daemon exposes.

promtool comes with Debian's ``prometheus`` package (scripts/setup.sh installs
it); without it these tests are skipped and say so.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from talon.lab.daemon import LabDaemon
from tests.support.procs import ROOT
from tests.support.tiny_node import scrape, tiny_node
from tests.web.test_metrics import documented

DOCS = ROOT / "docs" / "prometheus"
PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(
    PROMTOOL is None,
    reason="promtool not found: install Debian's prometheus package (scripts/setup.sh does)",
)
ASKED_FOR = {
    "TalonNodeNotStable",
    "TalonFailedRecovery",
    "TalonHoldActive",
    "TalonProbeFlapping",
    "TalonDown",
    "TalonCycleStale",
    # issue 22: the node-down alert Alertmanager inhibits on, the dead-man's switch, the hold
    "TalonNodeDown",
    "Watchdog",
    "TalonDegradedHold",
    "TalonIncident",  # the node's root cause: its one notification
}


def promtool(*args: str, cwd: Path = DOCS, stdin: str | None = None) -> str:
    assert PROMTOOL is not None
    done = subprocess.run(
        [PROMTOOL, *args], cwd=cwd, input=stdin, capture_output=True, text=True, timeout=60
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, f"promtool {' '.join(args)} failed:\n{out}"
    return out


def rules() -> list[dict[str, Any]]:
    data = yaml.safe_load((DOCS / "talon-alerts.yml").read_text())
    return [rule for group in data["groups"] for rule in group["rules"]]


def test_the_scrape_config_and_its_rule_file_pass_promtool_check_config(tmp_path: Path) -> None:
    # check config also opens the rule files and the bearer-token file, relative to the config
    for name in ("prometheus.yml", "talon-alerts.yml"):
        shutil.copy(DOCS / name, tmp_path / name)
    (tmp_path / "talon-token").write_text("a-token\n")
    # what `talon fleet targets` writes: file_sd JSON, a node_id and platform per target
    targets = [{"targets": ["10.0.0.21:9999"], "labels": {"node_id": "a", "platform": "linux"}}]
    (tmp_path / "talon-targets.json").write_text(json.dumps(targets))
    out = promtool("check", "config", str(tmp_path / "prometheus.yml"), cwd=tmp_path)
    assert f"SUCCESS: {len(rules())} rules found" in out
    assert "WARNING" not in out, out


def test_the_alert_rules_pass_promtool_check_rules() -> None:
    assert "SUCCESS" in promtool("check", "rules", "talon-alerts.yml")


def test_each_alert_fires_and_stays_quiet_as_its_unit_tests_say() -> None:
    assert "SUCCESS" in promtool("test", "rules", "talon-alerts.test.yml")


def test_the_alerts_the_issue_asks_for_exist_are_tested_and_name_the_node() -> None:
    alerts = {rule["alert"]: rule for rule in rules()}
    assert set(alerts) >= ASKED_FOR
    tested = (DOCS / "talon-alerts.test.yml").read_text()
    for name, rule in alerts.items():
        assert f"alertname: {name}\n" in tested, f"{name} has no promtool unit test"
        summary = rule["annotations"]["summary"]
        if name != "Watchdog":  # the pipeline's own heartbeat: no node
            who = "$labels.instance" if name == "TalonDown" else "$labels.node_id"
            assert who in summary, f"{name}'s summary does not name the node"
        assert rule["annotations"]["description"]


# ------------------------------------------------------- a real daemon's /metrics
@pytest.fixture(scope="module")
def exposition(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """/metrics of a real `talon run` with a worker, after it ran an action."""
    home = tmp_path_factory.mktemp("scrape")
    with tiny_node(home, worker=True) as run:
        yield run.wait_for("an action and a running worker", lambda: _ready(run), 30)


def _ready(run: LabDaemon) -> str | None:
    text = scrape(run)
    running = re.search(r'talon_worker_state\{[^}]*state="running"[^}]*\} 1\.0', text)
    return text if "talon_actions_total{" in text and running else None


def _names(text: str) -> set[str]:
    return set(re.findall(r"^# TYPE (\S+) ", text, re.M))


def test_a_real_daemons_metrics_pass_promtool_check_metrics(exposition: str) -> None:
    out = promtool("check", "metrics", stdin=exposition)
    assert out.strip() == "", f"promtool lint problems:\n{out}"


def test_every_series_the_alert_rules_read_is_exposed_by_a_real_daemon(exposition: str) -> None:
    exposed = _names(exposition)
    for rule in rules():
        text = rule["expr"] + "".join(rule["annotations"].values())
        for name in set(re.findall(r"\btalon_[a-z0-9_]+", text)):
            assert name in exposed, f"{rule['alert']} reads {name}, which /metrics does not have"


def test_a_real_daemon_exposes_only_documented_series(exposition: str) -> None:
    assert _names(exposition) == set(documented())


def test_a_real_daemons_series_name_the_node(exposition: str) -> None:
    samples = [
        line for line in exposition.splitlines() if line.startswith("talon_") and "{" in line
    ]
    assert samples
    assert all('node_id="lab-node"' in line for line in samples)
    assert re.search(r'talon_probe_up\{[^}]*probe="tcp.up"[^}]*\} 1\.0', exposition)
    assert re.search(r'talon_probe_up\{[^}]*probe="tcp.down"[^}]*\} 0\.0', exposition)
    assert re.search(r'talon_actions_total\{[^}]*kind="restart_service"[^}]*tier="1c"', exposition)
    assert re.search(r'talon_incidents_total\{[^}]*root_cause="service_down"', exposition)
    assert re.search(r"talon_host_disk_free_bytes\{", exposition)
