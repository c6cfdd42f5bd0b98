"""ColimaRuntime against a fake ``colima`` that copies the real tool's JSON and exit codes."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from pathlib import Path

import pytest

from talon.adapters.command import run_command
from talon.adapters.runtime.colima import ColimaRuntime
from talon.adapters.runtime.engine import EngineClient, EngineError
from talon.errors import ActionFailed, AdapterUnavailable, ErrorKind
from tests.adapters.runtime.fakes import (
    COLIMA_STATUS_FIELDS,
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
    """R7: during a warm restart `colima status` fails while the VM answers: still healthy.
    Status is asked only where the engine socket is; its failure decides nothing."""
    tools.set_state(
        {"vms": {"default": dict(RUNNING)}, "fail": {"colima status": "error retrieving runtime"}}
    )
    runtime = _colima(tools)
    assert asyncio.run(runtime.is_healthy()) is True
    assert [c[1] for c in tools.calls()] == ["status", "ssh"]
    assert "error retrieving runtime" in runtime.health_detail
    assert runtime.last_socket is not None
    assert runtime.last_socket.source == "conventional"


def _dead_socket(path: Path) -> socket.socket:
    """A socket file nothing listens on (bound, never listening): connecting is refused."""
    path.parent.mkdir(parents=True, exist_ok=True)
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(str(path))
    return dead


def test_status_running_and_a_refused_socket_fall_back_to_the_vms_shell(
    tools: FakeTools, sock_dir: Path
) -> None:
    """F19: the socket colima reports refuses (a stale file); the VM's shell answers, so
    the VM is up: healthy, and the detail says which socket refused and why it was used."""
    tools.set_state({"vms": {"default": dict(RUNNING)}})
    tools.env["COLIMA_HOME"] = str(sock_dir)
    path = sock_dir / "default" / "docker.sock"
    with _dead_socket(path):
        runtime = _colima(tools)
        assert asyncio.run(runtime.is_healthy()) is True
    assert [c[1] for c in tools.calls()] == ["status", "ssh"]
    assert f"nothing listens on {path}" in runtime.health_detail
    assert "reported by `colima status`" in runtime.health_detail
    assert "the VM's shell runs commands" in runtime.health_detail


def test_a_refused_socket_and_a_shell_that_fails_is_unhealthy(
    tools: FakeTools, sock_dir: Path
) -> None:
    """R7: the status text says running, the socket refuses, the shell fails: unhealthy."""
    tools.set_state({"vms": {"default": dict(RUNNING)}, "fail": {"colima ssh": "exit status 255"}})
    tools.env["COLIMA_HOME"] = str(sock_dir)
    path = sock_dir / "default" / "docker.sock"
    with _dead_socket(path):
        runtime = _colima(tools)
        assert asyncio.run(runtime.status())["answered"] is True
        assert asyncio.run(runtime.is_healthy()) is False
    assert str(path) in runtime.health_detail
    assert "exit status 255" in runtime.health_detail


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
    assert [c[1] for c in tools.calls()] == ["status"]  # where the socket is; no shell


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
    assert "`colima ssh` gave no answer within" in runtime.health_detail
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


# The status JSON, as the real tool encodes it ----------------------------------------


def test_status_json_is_go_s_compact_encoding_in_struct_order(tools: FakeTools) -> None:
    tools.set_state({"vms": {"default": {**RUNNING, "address": "192.168.106.2"}}})
    done = asyncio.run(run_command(["colima", "status", "--json"], timeout=10, env=tools.env))
    line = done.stdout
    assert line.endswith("}\n")  # json.Encoder: compact, one line
    assert ", " not in line
    assert ": " not in line
    assert list(json.loads(line)) == COLIMA_STATUS_FIELDS
    tools.set_state({"vms": {"default": {"status": "Running", "runtime": "containerd"}}})
    doc = asyncio.run(_colima(tools).status())
    assert "docker_socket" not in doc  # omitempty: only the docker runtime has one
    assert doc["buildkitd_socket"].endswith("/default/buildkitd.sock")


def test_ssh_on_a_stopped_vm_says_what_colima_ssh_says(tools: FakeTools) -> None:
    tools.set_state({"vms": {"default": {"status": "Stopped"}}})
    argv = _colima(tools).ssh_command("true")
    done = asyncio.run(run_command(argv, timeout=10, env=tools.env))
    assert done.exit_code == 1
    assert 'level=fatal msg="colima not running"' in done.stderr  # app.SSH's own words


# F19: the socket moves; the old file stays -------------------------------------------


def test_the_socket_is_asked_of_colima_every_check_and_followed_when_it_moves(
    tools: FakeTools, sock_dir: Path
) -> None:
    """colima's home is $COLIMA_HOME only once that directory exists (else ~/.colima):
    Talon's environment names one that does not exist yet, so colima reports the socket
    under ~/.colima. Then COLIMA_HOME is created and the VM started there: colima reports
    the new socket, and the old one stays behind, dead. Each check follows colima."""
    home = sock_dir / "h"
    tools.env["HOME"] = str(home)
    tools.env["COLIMA_HOME"] = str(sock_dir / "c")  # not there yet
    tools.set_state({"vms": {"default": dict(RUNNING)}})
    old = home / ".colima" / "default" / "docker.sock"
    new = sock_dir / "c" / "default" / "docker.sock"
    runtime = _colima(tools)
    assert runtime.engine_socket() == str(new)  # the adapter's own guess: wrong here

    async def main() -> None:
        async with FakeEngine(old):
            assert await runtime.is_healthy() is True
            assert runtime.health_detail.startswith(f"GET /_ping on {old}")
            assert runtime.engine_socket() == str(old)  # what container checks use now
        with _dead_socket(old):  # the engine moved: the old file stays, refusing
            async with FakeEngine(new) as engine:
                assert await runtime.is_healthy() is True
                assert engine.requests == ["/_ping"]
        assert f"moved from {old}" in runtime.health_detail
        assert runtime.moved == {"from": str(old), "to": str(new)}

    asyncio.run(main())
    assert [c[1] for c in tools.calls()] == ["status", "status"]  # no shell, no cycle


def test_a_failing_status_keeps_the_socket_colima_reported_last(
    tools: FakeTools, sock_dir: Path
) -> None:
    tools.env["COLIMA_HOME"] = str(sock_dir)
    tools.set_state({"vms": {"default": dict(RUNNING)}})
    runtime = _colima(tools)
    path = sock_dir / "default" / "docker.sock"

    async def main() -> None:
        async with FakeEngine(path):
            assert await runtime.is_healthy() is True
            tools.set_state({"vms": {}, "fail": {"colima status": "error retrieving runtime"}})
            assert await runtime.is_healthy() is True

    asyncio.run(main())
    assert runtime.last_socket is not None
    assert (runtime.last_socket.path, runtime.last_socket.source) == (str(path), "last reported")
    assert "error retrieving runtime" in runtime.health_detail


def test_a_configured_socket_is_used_and_a_different_report_is_said(
    tools: FakeTools, sock_dir: Path
) -> None:
    tools.set_state({"vms": {"default": dict(RUNNING)}})
    mine = sock_dir / "engine.sock"
    runtime = _colima(tools, socket=f"unix://{mine}")

    async def main() -> bool:
        async with FakeEngine(mine):
            return await runtime.is_healthy()

    assert asyncio.run(main()) is True
    reported = tools.env["COLIMA_HOME"] + "/default/docker.sock"
    assert f"GET /_ping on {mine} (configured ([runtime] socket); colima reports {reported})" in (
        runtime.health_detail
    )


def test_a_socket_this_user_may_not_use_is_not_a_dead_vm(
    tools: FakeTools, sock_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Permission denied on the socket (Talon runs as another user): no force-cycle can fix
    that, and it says nothing about the VM; the shell decides, and the detail names it."""
    tools.env["COLIMA_HOME"] = str(sock_dir)
    tools.set_state({"vms": {"default": dict(RUNNING)}})
    path = sock_dir / "default" / "docker.sock"

    async def denied(self: EngineClient) -> str:
        raise EngineError(ErrorKind.DENIED, f"permission denied on {self.socket}")

    monkeypatch.setattr(EngineClient, "ping", denied)  # root here may use any socket
    runtime = _colima(tools)
    with _dead_socket(path):
        assert asyncio.run(runtime.is_healthy()) is True
    assert f"permission denied on {path}" in runtime.health_detail
    assert "the VM's shell runs commands" in runtime.health_detail


def test_an_engine_that_hangs_is_unhealthy_without_asking_the_shell(
    tools: FakeTools, sock_dir: Path
) -> None:
    """Only a refused (or missing) socket is a stale one; an engine that accepts and never
    answers is a sick engine, and the check says so within its bound."""
    tools.env["COLIMA_HOME"] = str(sock_dir)
    tools.set_state({"vms": {"default": dict(RUNNING)}})
    runtime = _colima(tools, timeout_s=1.0)

    silent = _dead_socket(sock_dir / "default" / "docker.sock")
    silent.listen(8)  # the kernel accepts; nobody ever answers

    async def main() -> bool:
        return await runtime.is_healthy()

    started = time.monotonic()
    with silent:
        assert asyncio.run(main()) is False
    assert time.monotonic() - started < 3
    assert "gave no answer in time" in runtime.health_detail
    assert [c[1] for c in tools.calls()] == ["status"]


def test_facts_name_the_socket_used_why_and_its_last_move(tools: FakeTools, sock_dir: Path) -> None:
    tools.env["COLIMA_HOME"] = str(sock_dir)
    tools.set_state({"vms": {"default": dict(RUNNING)}})
    runtime = _colima(tools)
    asyncio.run(runtime.is_healthy())
    facts = asyncio.run(runtime.facts())
    path = str(sock_dir / "default" / "docker.sock")
    assert facts["engine_socket"] == {
        "path": path,
        "source": "colima status",
        "why": "reported by `colima status`",
    }
    assert facts["engine_socket_last_check"]["path"] == path
    assert facts["engine_socket_moved"] is None
