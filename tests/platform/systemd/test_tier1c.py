"""Tier 1c through a real systemd: a real `talon run` whose ``service`` probe watches a
real unit of a ``systemd --user`` manager. The unit's process is killed; Talon's core
asks for a restart, the executor restarts it through SystemdProcessManager (the real
``systemctl``), and the probe verifies it (F3 with systemd instead of the lab)."""

from __future__ import annotations

from pathlib import Path

import psutil

from talon.lab.substrate import render_toml
from tests.lab.e2e import kinds, recovered
from tests.support.procs import free_port
from tests.support.systemd import Scope, alive
from tests.support.talon_run import FAST, TalonRun, merged


def test_a_killed_unit_is_restarted_by_talon_through_systemd_and_verified(
    user_scope: Scope, tmp_path: Path
) -> None:
    # No Restart= in the unit: systemd leaves it failed, only Talon can bring it back.
    label = user_scope.unit("redis", "ExecStart=/bin/sleep 600")
    before = user_scope.running_pid(label)
    health = free_port()
    settings = merged(
        FAST,
        {
            "healing": {"warmup_secs": 1, "durability_checks": 2, "durability_window_secs": 1},
            "health": {"bind": f"127.0.0.1:{health}"},
            "process_manager": {"kind": "systemd", "systemd_scope": "user", "timeout_secs": 5},
        },
    )
    config = tmp_path / "config" / "config.toml"
    config.parent.mkdir()
    config.write_text(render_toml(settings))
    (config.parent / "services.toml").write_text(
        f'[service.redis]\nlabel = "{label}"\ncritical = true\n'
        "critical_after_consecutive_failures = 1\n"
    )
    run = TalonRun(None, tmp_path / "talon", config=config, health_port=health)
    run.env.update(user_scope.env)  # how Talon finds the user manager, as in a login session
    with run.running():
        assert run.state().get("incident") is None  # the unit runs: nothing to do

        assert user_scope.ctl("kill", "-s", "KILL", f"{label}.service").returncode == 0
        incident = run.wait_for("a verified recovery", lambda: recovered(run), 40)

        assert incident["root_cause"] == "service_down"
        assert kinds(run) == ["restart_service"]
        [begun] = run.begun("restart_service")
        assert begun["target"] == label
        [ended] = run.ended("restart_service")
        assert ended["outcome"] == "done"
        assert f"systemd: restarted {label}" in ended["detail"]
        shown = user_scope.show(label)
        assert (shown["ActiveState"], shown["SubState"]) == ("active", "running")
        assert shown["NRestarts"] == "0"  # not systemd's own restart: Talon's
        after = int(shown["MainPID"])
        assert after != before
        assert not alive(before)
        assert psutil.Process(after).cmdline() == ["/bin/sleep", "600"]
        assert run.alive()
