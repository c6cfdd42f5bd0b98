"""End to end, judgement at the edges (issue 19, FAULTS.md F26, F27, F29): a real
`talon run` against the lab. A probe that cannot tell (the real monitoring-plugins'
``check_dummy`` saying UNKNOWN, a plugin that is not installed) is reported and
escalated, never healed; the API server down behind a live forward is the headline
and runs the heal script; a heal that keeps being needed is held, and the history
that trips the breaker survives a restart of Talon. Every daemon is stopped by its pid."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from talon.lab import faults
from talon.lab.daemon import LabDaemon
from talon.lab.substrate import Lab
from tests.lab.e2e import _lines, command_channel, kinds, recovered
from tests.support.talon_run import FAST, merged, talon_run

pytestmark = pytest.mark.slow

PLUGINS = Path("/usr/lib/nagios/plugins")


def _body_channel(home: Path) -> tuple[dict[str, object], Path]:
    """A notify channel that keeps each whole message (it comes on stdin)."""
    out = home / "bodies.txt"
    return {"name": "bodies", "command": ["sh", "-c", f"cat >> {out}; echo >> {out}"]}, out


def _with_probes(lab: Lab, settings: dict[str, dict[str, object]], extra: str) -> None:
    lab.write_talon_config(settings)
    services = lab.config_dir / "services.toml"
    services.write_text(services.read_text() + extra)


@pytest.mark.skipif(not (PLUGINS / "check_dummy").exists(), reason="monitoring-plugins missing")
def test_f26_a_probe_that_cannot_tell_is_reported_and_escalated_never_healed(
    fresh: Lab, tmp_path: Path
) -> None:
    agent = tmp_path / "agent.txt"
    channel, messages = command_channel(tmp_path)
    settings = merged(
        FAST,
        {
            "agent": {"cloud_command": f'cat "$TALON_PROMPT_FILE" >> {agent}'},
            "notify": {"channel": [channel]},
        },
    )
    extra = (
        f"\n[script.plugin]\ncommand = \"{PLUGINS}/check_dummy 3 'cannot reach the sensor'\"\n"
        "critical = true\ncritical_after_consecutive_failures = 1\n"
        '\n[script.missing]\ncommand = "check_not_installed_anywhere -H 127.0.0.1"\n'
        "critical = true\ncritical_after_consecutive_failures = 1\n"
    )
    _with_probes(fresh, settings, extra)
    with LabDaemon(fresh, tmp_path).running() as run:
        run.wait_for("the agent", lambda: run.ended("agent_cloud"), 30)
        seen = run.cycles()
        run.wait_for("three more cycles", lambda: run.cycles() >= seen + 3, 20)
        assert kinds(run) == []  # not a restart, not a force-cycle, not a heal script
        state = run.state()
        faults_seen = {(f["probe"], f["fault"], f["unknown"]) for f in state["findings"]}
        assert ("script.plugin", "service_down", True) in faults_seen
        assert ("script.missing", "node_tooling", True) in faults_seen
        last = json.loads((run.state_dir / "last-probe.json").read_text())
        probes = {p["key"]: p for p in last["probes"]}
        assert probes["script.plugin"]["status"] == "unknown"
        assert probes["script.missing"]["error_kind"] == "tool_missing"
        (opened,) = [line for line in _lines(messages, 1) or [] if "notify" in line][:1]
        assert "cannot tell" in opened or "node_tooling" in opened
        assert "check_not_installed_anywhere" in agent.read_text()  # the fix goes along


def test_f27_the_api_server_down_behind_a_live_forward_is_the_headline_and_runs_the_heal_script(
    fresh: Lab, tmp_path: Path
) -> None:
    script = f"{sys.executable} -m talon lab --dir {fresh.dir} heal-all"
    channel, messages = _body_channel(tmp_path)
    settings = merged(FAST, {"": {"heal_script": script}, "notify": {"channel": [channel]}})
    with talon_run(fresh, tmp_path, settings) as run:
        faults.service_down(fresh, "kubeapi")  # the forward on the host stays up
        assert fresh.procs.pid("fwd-kubeapi") is not None
        incident = run.wait_for("a verified recovery", lambda: recovered(run), 60)
        assert incident["root_cause"] == "cluster_down"
        assert "node_not_ready" not in incident["faults"][:1]
        assert kinds(run) == ["heal_script"]
        first = messages.read_text().split("cluster_down on k8s.api", 1)
        assert len(first) == 2, messages.read_text()  # the API server is the headline
        assert "node_not_ready (k8s.node)" in first[1].split("\n")[0]  # and explains the node


def test_f29_a_heal_needed_again_and_again_is_held_and_the_history_survives_a_restart(
    fresh: Lab, tmp_path: Path
) -> None:
    channel, messages = _body_channel(tmp_path)
    settings = merged(
        FAST,
        {
            "healing": {"recurrence_heals": 1, "recurrence_window_secs": 3600},
            "agent": {"cloud_command": f'cp "$TALON_PROMPT_FILE" {tmp_path / "prompt.md"}; echo'},
            "notify": {"channel": [channel]},
        },
    )

    def outage(run: LabDaemon, count: int) -> None:
        faults.service_down(fresh, "inngest")
        run.wait_for(f"recovery {count}", lambda: len(run.closed()) >= count, 40)

    with talon_run(fresh, tmp_path, settings) as run:
        outage(run, 1)
        assert len(run.begun("restart_service")) == 1
    again = LabDaemon(fresh, tmp_path).start()  # a new Talon: the history is in state.json
    try:
        again.wait_for("the first cycle", lambda: again.daemon().get("last_cycle"), 20)
        faults.service_down(fresh, "inngest")
        state = again.wait_for("the recurrence hold", lambda: again.state()["held_heals"], 30)
        assert list(state) == ["restart_service:inngest"]
        again.wait_for("the agent", lambda: again.ended("agent_cloud"), 30)
        assert len(again.begun("restart_service")) == 1  # not a second time
        notices = messages.read_text()
        assert "failed recovery (recurrence)" in notices
        assert "after 1 heal by restart_service:inngest" in notices
        assert "hypothesis: " in notices  # seed 004's, named by the recurrence's evidence
        assert "Hypothesis the evidence supports: " in (tmp_path / "prompt.md").read_text()
        status = again.talon("status", "--json")
        assert "failed recovery" in status.stdout
        assert again.talon("hold", "clear").returncode == 0
        again.wait_for("the restart again", lambda: len(again.begun("restart_service")) == 2, 30)
    finally:
        again.stop()
