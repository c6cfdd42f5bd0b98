"""The ``service`` probe asks the configured ProcessManager: here systemd, for real (a
``systemd --user`` manager and the real ``systemctl``, tests/support/systemd.py)."""

from __future__ import annotations

import asyncio
import tomllib
from pathlib import Path

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


def test_a_missing_tool_is_unknown_with_the_reason(
    user_scope: Scope, identity: NodeIdentity
) -> None:
    pm = SystemdProcessManager(user_scope.env, systemctl="/nonexistent/systemctl")
    seen = _observe(pm, identity, "worker")
    assert (seen.status, seen.error_kind) == (Status.UNKNOWN, ErrorKind.UNAVAILABLE)
    assert "systemctl is not available" in seen.message


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
