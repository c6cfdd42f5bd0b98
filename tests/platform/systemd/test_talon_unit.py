"""`talon install` for real: the unit it writes runs `talon run` under a real systemd.

- As a user (the ``systemd --user`` manager): the installed unit runs Talon; Talon is
  SIGKILLed mid-heal; systemd restarts it (Restart=always); the heal script Talon had
  started survives, because the unit says KillMode=process, and keeps the runtime lock;
  the new Talon resumes the same incident, waits for that lock instead of healing a
  second time (F14, R19), and closes the incident once the script is done.
- As root (the system manager booted by systemd-nspawn): a system unit in the
  container's /etc/systemd/system, enabled for multi-user.target, running Talon.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import psutil

from talon.bootstrap.install import (
    install,
    install_plan,
    talon_command,
    uninstall,
    uninstall_plan,
    write_private,
)
from talon.node import NodeIdentity
from tests.support.procs import talon_cli
from tests.support.systemd import Scope, alive
from tests.support.talon_run import TalonRun

T = TypeVar("T")


def _until(what: str, found: Callable[[], T | None], timeout: float = 30.0) -> T:
    deadline = time.monotonic() + timeout
    while not (value := found()):
        assert time.monotonic() < deadline, f"no {what} within {timeout:g}s"
        time.sleep(0.05)
    return value


def _talon(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return talon_cli(*args, env=env)


def test_sigkilled_talon_is_restarted_and_resumes_while_its_heal_script_lives_on(
    user_scope: Scope, tmp_path: Path
) -> None:
    home = tmp_path / "talon"
    config = tmp_path / "talon-config" / "config.toml"
    marker, release, heal_pid = (tmp_path / n for n in ("runtime-up", "release", "heal.pid"))
    # The "runtime" is a file; the heal script brings it back once the test says so.
    heal = f"echo $$ > {heal_pid}; while [ ! -e {release} ]; do sleep 0.05; done; touch {marker}"
    write_private(
        config,
        f"check_interval_secs = 1\nheal_script = {json.dumps(heal)}\n\n"
        "[healing]\nwarmup_secs = 1\ndurability_interval_secs = 1\n\n"
        "[health]\nenabled = false\n\n"
        '[process_manager]\nkind = "systemd"\nsystemd_scope = "user"\n',
    )
    write_private(
        config.parent / "services.toml",
        f'[script.runtime]\ncommand = "test -e {marker} || exit 2"\nlayer = "runtime"\n'
        "critical = true\ncritical_after_consecutive_failures = 1\n",
    )
    run = TalonRun(None, home, config=config)  # only read: systemd runs this Talon
    env = {**run.env, **user_scope.env, "TALON_CONFIG_DIR": str(config.parent)}
    label = user_scope.label("talon")
    heal_pids: list[int] = []
    try:
        done = _talon(env, "--config", str(config), "install", "--label", label)
        assert done.returncode == 0, done.stdout + done.stderr
        first = user_scope.running_pid(label)
        assert psutil.Process(first).cmdline() == list(talon_command(config))

        [begun] = _until("the heal script's start", lambda: run.begun("heal_script"))
        heal_pids.append(int(_until("its pid", lambda: _read(heal_pid))))
        os.kill(first, signal.SIGKILL)  # SIGKILL Talon's MainPID, mid-heal

        shown = user_scope.wait(label, "restarted", lambda s: s["NRestarts"] == "1")
        second = user_scope.running_pid(label)
        assert second != first
        assert shown["Result"] in ("signal", "success")
        assert not alive(first)
        assert alive(heal_pids[0])  # KillMode=process: systemd killed Talon alone

        # The new Talon resumes the incident and waits for the lock the script still holds.
        _until(
            "the interrupted mark",
            lambda: [e for e in run.journal() if e["event"] == "interrupted"],
        )
        listed = json.loads(_talon(env, "--config", str(config), "incidents", "--json").stdout)
        [row] = [i for i in listed["incidents"] if i["open"]]
        assert row["id"] == begun["incident_id"]
        _until("the wait for the lock", lambda: "runtime_busy" in _rules(run.state()))
        assert run.state()["incident"]["id"] == begun["incident_id"]
        assert len(run.begun("heal_script")) == 1  # not fired a second time meanwhile
        assert alive(heal_pids[0])

        release.touch()  # the script ends; the runtime is up again
        [closed] = _until("the incident closed", lambda: run.closed(), 40)
        assert closed["id"] == begun["incident_id"]  # the same incident, resumed
        assert closed["outcome"] == "resolved"
        assert "runtime_busy" in [d["rule"] for d in closed["trail"]]  # it waited for the lock
        interrupted = [e["key"] for e in run.journal() if e["event"] == "interrupted"]
        assert interrupted == [begun["key"]]
        assert len(run.begun("heal_script")) == 1
        assert user_scope.running_pid(label) == second

        gone = _talon(env, "--config", str(config), "uninstall", "--label", label)
        assert gone.returncode == 0, gone.stdout + gone.stderr
        assert not alive(second)
        assert user_scope.show(label)["LoadState"] == "not-found"
    finally:
        for pid in heal_pids:  # KillMode=process: a survivor is ours to stop
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def _read(path: Path) -> str | None:
    text = path.read_text().strip() if path.exists() else ""
    return text or None


def _rules(state: dict[str, Any]) -> list[str]:
    """The rules in the open incident's trail (state.json)."""
    return [d["rule"] for d in (state.get("incident") or {}).get("trail", [])]


def test_as_root_install_writes_a_system_unit_the_system_manager_runs(
    system_scope: Scope, system_dir: Path
) -> None:
    """Root, scope auto: /etc/systemd/system (the container's), multi-user.target, no linger
    note; the container's systemd runs the real `talon run` (the venv and the repository
    are bound into it read-only, the state directory writable at the same path)."""
    identity = NodeIdentity(
        node_id="nspawn-node",
        platform="linux",
        arch="amd64",
        config_dir=system_dir / "talon-config",
        state_dir=system_dir / "talon-state",
        log_dir=system_dir / "talon-state" / "log",
    )
    config = identity.config_dir / "config.toml"
    write_private(config, "check_interval_secs = 1\n\n[health]\nenabled = false\n")
    write_private(identity.config_dir / "services.toml", '[script.alive]\ncommand = "true"\n')
    env = {"TALON_STATE_DIR": str(identity.state_dir), "TALON_LOG_DIR": str(identity.log_dir)}
    env["NODE_ID"] = identity.node_id
    pm = system_scope.pm(scope="auto", root=True)
    label = system_scope.label("talon")
    plan = install_plan(config, identity, pm, starter=None, label=label, env=env, user="root")
    assert (plan.service_file.path, plan.service_file.domain) == (
        system_scope.unit_dir / f"{label}.service",
        "system",
    )
    assert plan.notes == ()
    steps = plan.steps()
    assert f"systemctl enable --no-ask-password --now {label}.service" in steps

    asyncio.run(install(plan, pm))
    daemon = _until("Talon's first cycle", lambda: _daemon(identity.state_dir), 30)
    shown = system_scope.show(label)
    assert daemon["pid"] == int(shown["MainPID"])  # the unit's main process: a pid inside
    assert (shown["ActiveState"], shown["UnitFileState"]) == ("active", "enabled")
    wants = system_scope.unit_dir / "multi-user.target.wants" / f"{label}.service"
    assert wants.is_symlink()
    host = system_scope.host_pid(int(shown["MainPID"]))
    assert psutil.Process(host).cmdline() == list(talon_command(config))

    gone = uninstall_plan(config, None, identity, pm, label=label, env=env, purge=False)
    asyncio.run(uninstall(gone, pm))
    assert not plan.service_file.path.exists()
    assert not wants.exists()
    assert system_scope.show(label)["LoadState"] == "not-found"
    assert not alive(host)


def _daemon(state_dir: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads((state_dir / "daemon.json").read_text())
    except (OSError, ValueError):
        return None
    return data if data.get("last_cycle", {}).get("finished_at") else None
