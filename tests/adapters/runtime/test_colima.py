"""ColimaRuntime against a fake ``colima`` that copies the real tool's JSON and exit codes."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import pytest

from talon.adapters.command import run_command
from talon.adapters.runtime.colima import ColimaRuntime
from talon.errors import ActionFailed, AdapterUnavailable
from tests.adapters.runtime.fakes import (
    TRICKY_OUTPUT,
    TRICKY_SCRIPT,
    FakeEngine,
    FakeTools,
)
from tests.support.procs import assert_dead

RUNNING = {"status": "Running", "runtime": "docker"}


def _colima(tools: FakeTools, **kwargs: object) -> ColimaRuntime:
    return ColimaRuntime(tools.env, **kwargs)  # type: ignore[arg-type]


def test_status_parses_the_real_json_and_passes_the_profile(tools: FakeTools) -> None:
    tools.set_state({"vms": {"work": {**RUNNING, "address": "192.168.106.2"}}})
    status = asyncio.run(_colima(tools, profile="work").status())
    assert status["answered"] is True
    assert status["display_name"] == "colima [profile=work]"
    assert status["ip_address"] == "192.168.106.2"
    assert status["docker_socket"].endswith("/work/docker.sock")
    assert tools.calls() == [["colima", "status", "--json", "-p", "work"]]


def test_a_failed_status_is_advice_not_a_verdict(tools: FakeTools) -> None:
    tools.set_state({"vms": {}})
    status = asyncio.run(_colima(tools).status())
    assert status["answered"] is False
    assert "colima is not running" in status["said"]
    assert "running" not in {k for k in status if k != "said"}  # never invents "down"


def test_vm_address_is_the_profiles_address_field(tools: FakeTools) -> None:
    tools.set_state(
        {
            "vms": {
                "default": {**RUNNING, "address": "192.168.106.2"},
                "work": {**RUNNING, "address": "192.168.106.3"},
            }
        }
    )
    assert asyncio.run(_colima(tools, profile="work").vm_address()) == "192.168.106.3"
    assert asyncio.run(_colima(tools).vm_address()) == "192.168.106.2"
    assert tools.calls()[0] == ["colima", "list", "--json"]


def test_vm_address_is_none_without_an_address_or_a_listing(tools: FakeTools) -> None:
    tools.set_state({"vms": {"default": dict(RUNNING)}})  # no --network-address
    assert asyncio.run(_colima(tools).vm_address()) is None
    assert asyncio.run(_colima(tools, profile="other").vm_address()) is None
    tools.set_state({"vms": {}, "fail": {"colima list": "error retrieving instances"}})
    assert asyncio.run(_colima(tools).vm_address()) is None


def test_ssh_command_keeps_the_script_one_word(tools: FakeTools) -> None:
    """R6: spaces and both kinds of quotes survive colima -> limactl shell -> guest shell."""
    tools.set_state({"vms": {"work": dict(RUNNING)}})
    runtime = _colima(tools, profile="work")
    argv = runtime.ssh_command(TRICKY_SCRIPT)
    assert argv == ["colima", "ssh", "-p", "work", "--", "sh", "-c", TRICKY_SCRIPT]
    result = asyncio.run(run_command(argv, timeout=10, env=tools.env))
    assert result.stdout.strip() == TRICKY_OUTPUT
    assert result.exit_code == 3


def test_uptime_comes_from_the_vms_proc_uptime(tools: FakeTools) -> None:
    tools.set_state(
        {"vms": {"default": dict(RUNNING)}, "guest": {"cat /proc/uptime": "4242.5 9.0\n"}}
    )
    assert asyncio.run(_colima(tools).uptime_s()) == 4242.5
    assert tools.calls() == [
        ["colima", "ssh", "-p", "default", "--", "sh", "-c", "cat /proc/uptime"]
    ]


def test_uptime_is_none_when_the_vm_is_down(tools: FakeTools) -> None:
    tools.set_state({"vms": {"default": {"status": "Stopped"}}})
    assert asyncio.run(_colima(tools).uptime_s()) is None


def test_health_without_an_engine_socket_is_the_vms_shell(tools: FakeTools) -> None:
    tools.set_state({"vms": {"default": dict(RUNNING)}})
    runtime = _colima(tools)
    assert asyncio.run(runtime.is_healthy()) is True
    tools.set_state({"vms": {"default": {"status": "Stopped"}}})
    assert asyncio.run(runtime.is_healthy()) is False
    assert "is not running" in runtime.health_detail


def test_a_failing_status_call_alone_never_reads_as_down(tools: FakeTools) -> None:
    """R7: during a warm restart `colima status` fails while the VM answers: still healthy."""
    tools.set_state(
        {"vms": {"default": dict(RUNNING)}, "fail": {"colima status": "error retrieving runtime"}}
    )
    runtime = _colima(tools)
    assert asyncio.run(runtime.is_healthy()) is True
    assert not [c for c in tools.calls() if "status" in c]  # health never asks the status text


def test_status_running_but_a_dead_engine_socket_is_unhealthy(
    tools: FakeTools, sock_dir: Path
) -> None:
    """R7: the status text says running, the engine socket is dead: unhealthy."""
    tools.set_state({"vms": {"default": dict(RUNNING)}})
    tools.env["COLIMA_HOME"] = str(sock_dir)
    path = sock_dir / "default" / "docker.sock"
    path.parent.mkdir()
    dead = socket.socket(socket.AF_UNIX)  # bound, never listening: connections are refused
    dead.bind(str(path))
    try:
        runtime = _colima(tools)
        assert asyncio.run(runtime.status())["answered"] is True
        assert asyncio.run(runtime.is_healthy()) is False
        assert str(path) in runtime.health_detail
    finally:
        dead.close()


def test_a_live_engine_socket_is_healthy(tools: FakeTools, sock_dir: Path) -> None:
    tools.set_state({"vms": {}})  # no shell at all: the socket alone decides
    tools.env["COLIMA_HOME"] = str(sock_dir)
    runtime = _colima(tools)
    assert runtime.engine_socket() == str(sock_dir / "default" / "docker.sock")

    async def main() -> bool:
        async with FakeEngine(sock_dir / "default" / "docker.sock") as engine:
            healthy = await runtime.is_healthy()
            assert engine.requests == ["/_ping"]
            return healthy

    assert asyncio.run(main()) is True
    assert tools.calls() == []


def test_a_configured_socket_wins(tools: FakeTools, sock_dir: Path) -> None:
    runtime = _colima(tools, socket=f"unix://{sock_dir}/engine.sock")
    assert runtime.engine_socket() == f"{sock_dir}/engine.sock"


def test_force_cycle_stops_with_force_then_starts_the_profile(tools: FakeTools) -> None:
    tools.set_state({"vms": {"work": dict(RUNNING)}})
    asyncio.run(_colima(tools, profile="work").force_cycle())
    assert tools.calls() == [
        ["colima", "stop", "--force", "-p", "work"],
        ["colima", "start", "-p", "work"],
    ]
    assert tools.state()["vms"]["work"]["status"] == "Running"


def test_a_failed_start_is_action_failed_with_the_tools_words(tools: FakeTools) -> None:
    tools.set_state(
        {"vms": {"default": dict(RUNNING)}, "fail": {"colima start": "error starting vm"}}
    )
    with pytest.raises(ActionFailed, match="error starting vm"):
        asyncio.run(_colima(tools).force_cycle())
    assert [c[1] for c in tools.calls()] == ["stop", "start"]


def test_a_hung_stop_is_not_followed_by_a_start(
    tools: FakeTools, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("talon.adapters.runtime.lima.STOP_TIMEOUT_S", 0.5)  # shared stop_then_start
    tools.set_state({"vms": {"default": dict(RUNNING)}, "hang": ["colima stop"]})
    with pytest.raises(ActionFailed, match="no answer within"):
        asyncio.run(_colima(tools).force_cycle())
    assert [c[1] for c in tools.calls()] == ["stop"]
    assert_dead(tools.pids()[0])


def test_restart_forwarding_is_unavailable_and_says_why(tools: FakeTools) -> None:
    with pytest.raises(AdapterUnavailable, match="force-cycle"):
        asyncio.run(_colima(tools).restart_forwarding())
    assert tools.calls() == []


def test_a_missing_tool_is_adapter_unavailable_at_once(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    runtime = ColimaRuntime({"PATH": str(empty), "HOME": str(tmp_path)})
    started = time.monotonic()
    with pytest.raises(AdapterUnavailable, match="colima"):
        asyncio.run(runtime.is_healthy())
    with pytest.raises(AdapterUnavailable, match="colima"):
        asyncio.run(runtime.force_cycle())
    assert time.monotonic() - started < 2


def test_a_hanging_tool_is_bounded_by_the_timeout(tools: FakeTools) -> None:
    tools.set_state({"vms": {"default": dict(RUNNING)}, "hang": ["colima *"]})
    runtime = _colima(tools, timeout_s=0.3)
    started = time.monotonic()
    assert asyncio.run(runtime.is_healthy()) is False
    assert asyncio.run(runtime.vm_address()) is None
    assert asyncio.run(runtime.uptime_s()) is None
    assert time.monotonic() - started < 5
    assert "no answer within 0.3s" in runtime.health_detail
    for pid in tools.pids():
        assert_dead(pid)


def test_facts_keep_status_address_and_uptime(tools: FakeTools) -> None:
    tools.set_state(
        {
            "vms": {"default": {**RUNNING, "address": "192.168.106.2"}},
            "guest": {"cat /proc/uptime": "100.0 1.0\n"},
        }
    )
    facts = asyncio.run(_colima(tools).facts())
    assert facts["runtime"] == "colima"
    assert facts["profile"] == "default"
    assert facts["vm_address"] == "192.168.106.2"
    assert facts["uptime_s"] == 100.0
    assert facts["status"]["runtime"] == "docker"


def test_profile_names_follow_colima(tools: FakeTools) -> None:
    assert _colima(tools, profile="colima").profile == "default"
    assert _colima(tools, profile="colima-work").profile == "work"
