"""The ``service`` probe asks the configured ProcessManager (here systemd, through a FAKE
``systemctl`` from tests/support/fake_pm_tools.py: systemd cannot run here)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from talon.adapters.process.systemd import SystemdProcessManager
from talon.adapters.runtime import NullRuntime
from talon.config.probes import ServiceProbe
from talon.node import NodeIdentity
from talon.probes import ProbeContext
from talon.probes.service import probe
from talon.report import ErrorKind, Observation, Status
from tests.support.fake_pm import FakePlatformTools, systemd_unit


def _observe(tools: FakePlatformTools, identity: NodeIdentity, label: str) -> Observation:
    pm = SystemdProcessManager(tools.env, timeout_s=2)
    ctx = ProbeContext(identity, NullRuntime(), pm, tools.env)
    spec = ServiceProbe.model_validate({"name": "worker", "label": label})
    return asyncio.run(probe(spec, ctx))


def test_running_unit_is_ok_and_names_the_scope(tmp_path: Path, identity: NodeIdentity) -> None:
    tools = FakePlatformTools(tmp_path)
    tools.set_state({"systemd": {"user": {"worker.service": systemd_unit(pid=77)}}})
    seen = _observe(tools, identity, "worker")
    assert seen.status is Status.OK, seen
    assert seen.detail == {"manager": "systemd", "pid": 77, "domain": "user"}


def test_failed_unit_is_critical(tmp_path: Path, identity: NodeIdentity) -> None:
    tools = FakePlatformTools(tmp_path)
    unit = systemd_unit(active="failed", sub="failed", pid=0, result="exit-code")
    tools.set_state({"systemd": {"system": {"worker.service": unit}}})
    seen = _observe(tools, identity, "worker.service")
    assert (seen.status, seen.error_kind) == (Status.CRITICAL, ErrorKind.NOT_READY)


def test_a_missing_tool_is_unknown_with_the_reason(tmp_path: Path, identity: NodeIdentity) -> None:
    tools = FakePlatformTools(tmp_path, tools=("launchctl",))
    seen = _observe(tools, identity, "worker")
    assert (seen.status, seen.error_kind) == (Status.UNKNOWN, ErrorKind.UNAVAILABLE)
    assert "systemctl is not available" in seen.message
