"""The ``service`` probe asks the configured ProcessManager: here systemd, for real (a
``systemd --user`` manager and the real ``systemctl``, tests/support/systemd.py)."""

from __future__ import annotations

import asyncio
import os
import shlex
import signal
import subprocess
import tomllib
from pathlib import Path

from talon.adapters.process.supervisord import SupervisordProcessManager
from talon.adapters.process.systemd import SystemdProcessManager
from talon.adapters.runtime import NullRuntime
from talon.config import parse_services
from talon.config.models import TalonConfig
from talon.config.probes import ServiceProbe
from talon.node import NodeIdentity
from talon.probes import ProbeContext
from talon.probes.runner import PROBES
from talon.probes.service import probe
from talon.report import ErrorKind, Observation, Status
from tests.support import systemd as real
from tests.support.systemd import Scope

user_scope = real.user_scope  # a real systemd user manager (a fixture)


def _observe(pm: SystemdProcessManager, identity: NodeIdentity, label: str) -> Observation:
    ctx = ProbeContext(identity, NullRuntime(), pm, {})  # the adapter has its own env
    spec = ServiceProbe.model_validate({"name": "worker", "label": label})
    return asyncio.run(probe(spec, ctx))


def test_a_running_unit_is_ok_and_names_its_pid_and_scope(
    user_scope: Scope, identity: NodeIdentity
) -> None:
    label = user_scope.unit("worker", "ExecStart=/bin/sleep 600")
    pid = user_scope.running_pid(label)
    seen = _observe(user_scope.pm(scope="auto", timeout_s=5), identity, label)
    assert seen.status is Status.OK, seen
    assert seen.detail == {"manager": "systemd", "pid": pid, "domain": "user"}


def test_a_failed_unit_is_critical(user_scope: Scope, identity: NodeIdentity) -> None:
    label = user_scope.unit("worker", "ExecStart=/bin/false")
    user_scope.wait(label, "failed", lambda s: s["ActiveState"] == "failed")
    seen = _observe(user_scope.pm(timeout_s=5), identity, f"{label}.service")
    assert (seen.status, seen.error_kind) == (Status.CRITICAL, ErrorKind.NOT_READY)


def test_a_unit_the_manager_does_not_know_is_critical(
    user_scope: Scope, identity: NodeIdentity
) -> None:
    seen = _observe(user_scope.pm(timeout_s=5), identity, user_scope.label("nothing"))
    assert (seen.status, seen.error_kind) == (Status.CRITICAL, ErrorKind.NOT_FOUND), seen
    assert "not found in user" in seen.message


def test_a_stopped_unit_is_an_operators_stop_a_warning_with_the_start_command(
    user_scope: Scope, identity: NodeIdentity
) -> None:
    """F28: ``systemctl stop`` by a human: warning, ``stopped``, never critical; the
    message says Talon leaves it down and gives the command that starts it, which works."""
    label = user_scope.unit("worker", "ExecStart=/bin/sleep 600")
    user_scope.running_pid(label)
    assert user_scope.ctl("stop", f"{label}.service").returncode == 0
    seen = _observe(user_scope.pm(timeout_s=5), identity, label)
    assert (seen.status, seen.error_kind) == (Status.WARNING, ErrorKind.STOPPED), seen
    start = f"systemctl --user start {label}.service"
    assert seen.message == (
        f"{label}: stopped by an operator (inactive (dead)); Talon does not restart it: "
        f"start it with `{start}`"
    )
    assert seen.detail == {"manager": "systemd", "pid": None, "domain": "user"}
    started = subprocess.run(shlex.split(start), env=user_scope.env, timeout=30)
    assert started.returncode == 0
    user_scope.running_pid(label)
    assert _observe(user_scope.pm(timeout_s=5), identity, label).status is Status.OK


def test_a_unit_whose_process_was_killed_is_critical(
    user_scope: Scope, identity: NodeIdentity
) -> None:
    """SIGKILL is not a stop: systemd says failed (Result=signal), the probe critical."""
    label = user_scope.unit("worker", "ExecStart=/bin/sleep 600")
    os.kill(user_scope.running_pid(label), signal.SIGKILL)
    user_scope.wait(label, "failed", lambda s: s["ActiveState"] == "failed")
    seen = _observe(user_scope.pm(timeout_s=5), identity, label)
    assert (seen.status, seen.error_kind) == (Status.CRITICAL, ErrorKind.NOT_READY), seen
    assert seen.message == f"{label}: failed (failed (failed), result signal)"


def test_a_unit_on_its_way_up_is_a_warning_in_transition(
    user_scope: Scope, identity: NodeIdentity
) -> None:
    label = user_scope.unit("slow", "Type=oneshot\nExecStart=/bin/sleep 600", start=False)
    assert user_scope.ctl("start", "--no-block", f"{label}.service").returncode == 0
    user_scope.wait(label, "activating", lambda s: s["ActiveState"] == "activating")
    seen = _observe(user_scope.pm(timeout_s=5), identity, label)
    assert (seen.status, seen.error_kind) == (Status.WARNING, ErrorKind.NOT_READY), seen
    assert seen.message == f"{label}: in transition (activating (start))"


def test_a_missing_tool_is_unknown_tool_missing_with_the_fix(
    user_scope: Scope, identity: NodeIdentity
) -> None:
    """F26: the manager's own tool is missing: this node's tooling, never the service."""
    pm = SystemdProcessManager(user_scope.env, systemctl="/nonexistent/systemctl")
    seen = _observe(pm, identity, "worker")
    assert (seen.status, seen.error_kind) == (Status.UNKNOWN, ErrorKind.TOOL_MISSING)
    assert "worker: /nonexistent/systemctl is not available" in seen.message
    assert "No such file or directory" in seen.message
    assert "fix: install systemctl at /nonexistent/systemctl" in seen.message


def test_a_manager_that_cannot_be_reached_is_unknown_unavailable(
    identity: NodeIdentity, tmp_path: Path
) -> None:
    """Not a missing tool: the manager is not there to ask (supervisord's socket is gone)."""
    pm = SupervisordProcessManager({}, url=f"unix://{tmp_path}/supervisor.sock", timeout_s=2)
    ctx = ProbeContext(identity, NullRuntime(), pm, {})
    spec = ServiceProbe.model_validate({"name": "worker", "label": "worker"})
    seen = asyncio.run(probe(spec, ctx))
    assert (seen.status, seen.error_kind) == (Status.UNKNOWN, ErrorKind.UNAVAILABLE)
    assert "no supervisord socket" in seen.message


def test_a_systemd_spelled_probe_asks_the_same_manager(
    user_scope: Scope, identity: NodeIdentity, tmp_path: Path
) -> None:
    """``[systemd.NAME]`` as a Linux operator writes it, loaded from a services file."""
    label = user_scope.unit("web", "ExecStart=/bin/sleep 600")
    pid = user_scope.running_pid(label)
    services = tmp_path / "services.toml"
    services.write_text(f'[systemd.web]\nlabel = "{label}"\ncritical = true\n')
    [spec] = parse_services(
        services.read_text(), tomllib.loads(services.read_text()), services, TalonConfig()
    )
    assert (spec.kind, spec.key) == ("systemd", "systemd.web")
    ctx = ProbeContext(identity, NullRuntime(), user_scope.pm(timeout_s=5), {})
    seen = asyncio.run(PROBES[spec.kind](spec, ctx))
    assert seen.status is Status.OK, seen
    assert seen.detail["pid"] == pid
