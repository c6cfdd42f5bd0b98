"""LimaRuntime against a fake ``limactl`` that copies lima's JSON lines and shell quoting."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from talon.adapters.command import run_command
from talon.adapters.runtime.lima import LimaRuntime, json_lines, parse_uptime
from talon.errors import ActionFailed, AdapterUnavailable
from tests.adapters.runtime.fakes import TRICKY_OUTPUT, TRICKY_SCRIPT, FakeTools
from tests.support.procs import assert_dead

RUNNING: dict[str, Any] = {"status": "Running"}


def _lima(tools: FakeTools, **kwargs: Any) -> LimaRuntime:
    return LimaRuntime(tools.env, **kwargs)


def test_list_json_lines_are_parsed_and_the_instance_picked(tools: FakeTools) -> None:
    tools.set_state({"vms": {"default": {"status": "Stopped"}, "k8s": dict(RUNNING)}})
    info = asyncio.run(_lima(tools, instance="k8s").instance_info())
    assert info is not None
    assert info["name"] == "k8s"
    assert info["status"] == "Running"
    assert info["sshLocalPort"] == 60022
    assert info["dir"].endswith("/k8s")
    assert tools.calls() == [["limactl", "list", "--json"]]
    assert asyncio.run(_lima(tools, instance="absent").instance_info()) is None


def test_json_lines_skips_warnings_and_blank_lines() -> None:
    text = '{"name":"a","status":"Running"}\n\nlevel=warning msg=x\n{"name":"b"}\n'
    assert [d["name"] for d in json_lines(text)] == ["a", "b"]


def test_parse_uptime() -> None:
    assert parse_uptime("350735.47 234388.90\n") == 350735.47
    assert parse_uptime("") is None
    assert parse_uptime("cat: /proc/uptime: No such file") is None


def test_shell_keeps_the_script_one_word(tools: FakeTools) -> None:
    """R6: limactl quotes every word; the script arrives intact with spaces and quotes."""
    tools.set_state({"vms": {"default": dict(RUNNING)}})
    argv = _lima(tools).ssh_command(TRICKY_SCRIPT)
    assert argv == ["limactl", "shell", "default", "sh", "-c", TRICKY_SCRIPT]
    result = asyncio.run(run_command(argv, timeout=10, env=tools.env))
    assert result.stdout.strip() == TRICKY_OUTPUT
    assert result.exit_code == 3


def test_health_is_the_shell_running_a_command(tools: FakeTools) -> None:
    tools.set_state({"vms": {"default": dict(RUNNING)}})
    runtime = _lima(tools)
    assert asyncio.run(runtime.is_healthy()) is True
    tools.set_state({"vms": {"default": {"status": "Stopped"}}})
    assert asyncio.run(runtime.is_healthy()) is False
    tools.set_state({"vms": {}})
    assert asyncio.run(runtime.is_healthy()) is False
    assert "does not exist" in runtime.health_detail


def test_a_shell_that_exits_0_without_running_the_command_is_not_healthy(
    tools: FakeTools,
) -> None:
    """limactl can exit 0 having run nothing (a declined start prompt): exit codes lie."""
    tools.set_state({"vms": {"default": dict(RUNNING)}})
    (tools.bin / "limactl").write_text("#!/bin/sh\nexit 0\n")
    runtime = _lima(tools)
    assert asyncio.run(runtime.is_healthy()) is False
    assert "did not run" in runtime.health_detail


def test_uptime_via_the_shell(tools: FakeTools) -> None:
    tools.set_state(
        {"vms": {"default": dict(RUNNING)}, "guest": {"cat /proc/uptime": "77.25 3.0\n"}}
    )
    assert asyncio.run(_lima(tools).uptime_s()) == 77.25


def test_vm_address_configured_asks_nothing(tools: FakeTools) -> None:
    assert asyncio.run(_lima(tools, address="192.168.5.15").vm_address()) == "192.168.5.15"
    assert tools.calls() == []


def test_vm_address_of_a_shared_network_interface(tools: FakeTools) -> None:
    ip_line = (
        "2: lima0    inet 192.168.105.2/24 metric 100 brd 192.168.105.255 scope global "
        "dynamic lima0\\       valid_lft 85968sec preferred_lft 85968sec\n"
    )
    tools.set_state(
        {
            "vms": {"default": {**RUNNING, "network": [{"lima": "shared", "interface": "lima0"}]}},
            "guest": {"ip -4 -o addr show dev lima0": ip_line},
        }
    )
    assert asyncio.run(_lima(tools).vm_address()) == "192.168.105.2"


def test_vm_address_is_none_with_user_mode_networking(tools: FakeTools) -> None:
    tools.set_state({"vms": {"default": dict(RUNNING)}})
    assert asyncio.run(_lima(tools).vm_address()) is None


def test_force_cycle_stops_forcibly_then_starts_the_instance(tools: FakeTools) -> None:
    tools.set_state({"vms": {"k8s": dict(RUNNING)}})
    asyncio.run(_lima(tools, instance="k8s").force_cycle())
    assert tools.calls() == [["limactl", "stop", "-f", "k8s"], ["limactl", "start", "k8s"]]


def test_a_failed_start_is_action_failed(tools: FakeTools) -> None:
    tools.set_state(
        {
            "vms": {"default": dict(RUNNING)},
            "fail": {"limactl start": "exiting, status={Running:false}"},
        }
    )
    with pytest.raises(ActionFailed, match="limactl start"):
        asyncio.run(_lima(tools).force_cycle())


def test_restart_forwarding_is_unavailable(tools: FakeTools) -> None:
    with pytest.raises(AdapterUnavailable, match="host agent"):
        asyncio.run(_lima(tools).restart_forwarding())


def test_a_missing_tool_is_adapter_unavailable(tmp_path: Path) -> None:
    runtime = LimaRuntime({"PATH": str(tmp_path)})
    started = time.monotonic()
    with pytest.raises(AdapterUnavailable, match="limactl"):
        asyncio.run(runtime.is_healthy())
    assert time.monotonic() - started < 2


def test_a_hanging_shell_is_bounded(tools: FakeTools) -> None:
    tools.set_state({"vms": {"default": dict(RUNNING)}, "hang": ["limactl shell"]})
    # 1 s, not less: the fake must get as far as recording its pid even on a loaded CI box.
    runtime = _lima(tools, timeout_s=1.0)
    started = time.monotonic()
    assert asyncio.run(runtime.is_healthy()) is False
    assert time.monotonic() - started < 8
    assert_dead(tools.pids()[0])


def test_facts(tools: FakeTools) -> None:
    tools.set_state({"vms": {"default": dict(RUNNING)}, "guest": {"cat /proc/uptime": "5.0 1.0\n"}})
    facts = asyncio.run(_lima(tools).facts())
    assert facts["instance_info"]["vmType"] == "vz"
    assert facts["uptime_s"] == 5.0
    assert facts["vm_address"] is None
