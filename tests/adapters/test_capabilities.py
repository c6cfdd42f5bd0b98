"""What each adapter declares it can do (DESIGN.md principle 8): plain data the core reads."""

from __future__ import annotations

import pytest

from talon.adapters.command import exec_env
from talon.adapters.process.launchd import LaunchdProcessManager
from talon.adapters.process.null import NullProcessManager
from talon.adapters.process.supervisord import SupervisordProcessManager
from talon.adapters.process.systemd import SystemdProcessManager
from talon.adapters.runtime.colima import ColimaRuntime
from talon.adapters.runtime.engine import EngineRuntime
from talon.adapters.runtime.lima import LimaRuntime
from talon.adapters.runtime.null import NullRuntime, StaticRuntime
from talon.adapters.runtime.remote import RemoteRuntime
from talon.capabilities import Capability as C

VM = {C.FORCE_CYCLE, C.VM_SHELL, C.UPTIME}


@pytest.mark.parametrize(
    ("adapter", "can"),
    [
        (ColimaRuntime, VM),  # its forwards live in the host agent: no forwarder-only restart
        (LimaRuntime, VM),
        (EngineRuntime, {C.RESTART_CONTAINER}),  # the engine itself belongs to the process manager
        (RemoteRuntime, {C.VM_SHELL, C.UPTIME}),  # never power-cycled over ssh
        (NullRuntime, set()),
        (StaticRuntime, set()),
        (LaunchdProcessManager, {C.RESTART_SERVICE}),
        (SystemdProcessManager, {C.RESTART_SERVICE}),
        (SupervisordProcessManager, {C.RESTART_SERVICE}),
        (NullProcessManager, set()),
    ],
)
def test_each_adapter_declares_what_its_platform_can_do(adapter: type, can: set[C]) -> None:
    assert adapter.capabilities == frozenset(can)


def test_a_native_engine_names_its_service_only_where_it_is_conventional() -> None:
    engine = EngineRuntime(exec_env())
    assert engine.engine_service("systemd") == "docker.service"
    assert engine.engine_service("launchd") is None
    assert engine.engine_service("null") is None


def test_the_lab_declares_by_its_profile(tmp_path: object) -> None:
    from pathlib import Path

    from talon.lab.runtime import LabRuntime

    lab_dir = Path(str(tmp_path))
    assert C.RESTART_FORWARDING not in LabRuntime(lab_dir).capabilities  # default: agent
    assert C.RESTART_FORWARDING in LabRuntime(lab_dir, profile="tunnels").capabilities
    assert LabRuntime(lab_dir, profile="agent").capabilities == frozenset(VM)
