"""RemoteRuntime against a fake ``ssh`` that joins its command words as OpenSSH does (R6)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from talon.adapters.command import run_command
from talon.adapters.runtime.remote import RemoteRuntime
from talon.errors import AdapterUnavailable
from tests.adapters.runtime.fakes import TRICKY_OUTPUT, TRICKY_SCRIPT, FakeTools
from tests.support.procs import assert_dead


def _remote(tools: FakeTools, **kwargs: object) -> RemoteRuntime:
    return RemoteRuntime(tools.env, host=str(kwargs.pop("host", "node1")), **kwargs)  # type: ignore[arg-type]


def test_argv_is_batch_mode_bounded_and_the_script_is_the_last_word(tools: FakeTools) -> None:
    runtime = _remote(tools, ssh_options=("-p", "2222", "-i", "/k/id"), timeout_s=3.5)
    argv = runtime.ssh_command("echo hi")
    assert argv == [
        "ssh",
        "-o",
        "BatchMode=yes",
        "-o",
        "ConnectTimeout=2",
        "-p",
        "2222",
        "-i",
        "/k/id",
        "--",
        "node1",
        "sh -c 'echo hi'",
    ]


def test_the_script_survives_the_remote_shell(tools: FakeTools) -> None:
    """R6 for real: ssh joins words with spaces and the remote shell splits them again."""
    tools.set_state({"hosts": ["node1"]})
    argv = _remote(tools, ssh_options=("-p", "2222")).ssh_command(TRICKY_SCRIPT)
    result = asyncio.run(run_command(argv, timeout=10, env=tools.env))
    assert result.stdout.strip() == TRICKY_OUTPUT
    assert result.exit_code == 3


def test_the_fake_ssh_really_re_splits(tools: FakeTools) -> None:
    """The control: passing ``sh -c SCRIPT`` as separate words loses the script (the R6 bug)."""
    tools.set_state({"hosts": ["node1"]})
    naive = ["ssh", "node1", "sh", "-c", TRICKY_SCRIPT]
    result = asyncio.run(run_command(naive, timeout=10, env=tools.env))
    assert result.stdout.strip() != TRICKY_OUTPUT


def test_health_and_uptime_over_ssh(tools: FakeTools) -> None:
    tools.set_state({"hosts": ["node1"], "guest": {"cat /proc/uptime": "9000.5 1.0\n"}})
    runtime = _remote(tools)
    assert asyncio.run(runtime.is_healthy()) is True
    assert asyncio.run(runtime.uptime_s()) == 9000.5


def test_an_unreachable_host_is_unhealthy_with_ssh_s_words(tools: FakeTools) -> None:
    tools.set_state({"hosts": []})
    runtime = _remote(tools, host="nowhere")
    assert asyncio.run(runtime.is_healthy()) is False
    assert "exited 255" in runtime.health_detail
    assert "Could not resolve hostname nowhere" in runtime.health_detail
    assert asyncio.run(runtime.uptime_s()) is None


def test_no_force_cycle_and_the_configured_address(tools: FakeTools) -> None:
    with pytest.raises(AdapterUnavailable, match="does not power-cycle"):
        asyncio.run(_remote(tools).force_cycle())
    with pytest.raises(AdapterUnavailable):
        asyncio.run(_remote(tools).restart_forwarding())
    assert asyncio.run(_remote(tools).vm_address()) is None
    assert asyncio.run(_remote(tools, address="10.0.0.5").vm_address()) == "10.0.0.5"
    assert tools.calls() == []


def test_a_missing_ssh_is_adapter_unavailable(tmp_path: Path) -> None:
    with pytest.raises(AdapterUnavailable, match="ssh"):
        asyncio.run(RemoteRuntime({"PATH": str(tmp_path)}, host="node1").is_healthy())


def test_a_hanging_ssh_is_bounded(tools: FakeTools) -> None:
    tools.set_state({"hosts": ["node1"], "hang": ["ssh node1"]})
    # 1 s, not less: the fake must get as far as recording its pid even on a loaded CI box.
    runtime = _remote(tools, timeout_s=1.0)
    started = time.monotonic()
    assert asyncio.run(runtime.is_healthy()) is False
    assert time.monotonic() - started < 8
    assert_dead(tools.pids()[0])
