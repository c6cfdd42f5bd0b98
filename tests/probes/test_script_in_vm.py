"""Script probes with ``in_vm``: run through the runtime's shell, the script one word (R6).

Over ssh for real (``tests/support/sshd.py``: a real sshd on 127.0.0.5 and the real
client); through colima's shell with its fake (colima cannot run here)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from talon.adapters.command import exec_env
from talon.adapters.runtime.colima import ColimaRuntime
from talon.adapters.runtime.remote import RemoteRuntime
from talon.config import ScriptProbe
from talon.probes import ErrorKind, ProbeContext, Status
from talon.probes import script as script_probe
from talon.report import Observation
from tests.adapters.runtime.fakes import TRICKY_OUTPUT, TRICKY_SCRIPT, FakeTools
from tests.support import procs
from tests.support import sshd as real_sshd
from tests.support.sshd import Sshd

HOST = "127.0.0.5"


@pytest.fixture
def tools(tmp_path: Path) -> FakeTools:
    tools = FakeTools(tmp_path, tools=("colima",))
    tools.set_state({"vms": {"default": {"status": "Running"}}})
    return tools


server = real_sshd.server  # one real sshd on HOST for this module (a fixture)


def _over_ssh(ctx: ProbeContext, server: Sshd, tmp: Path, port: int | None = None) -> ProbeContext:
    env = exec_env()
    env.pop("SSH_AUTH_SOCK", None)  # only the configured key
    options = server.ssh_options(server.pin(tmp / "known_hosts"), port)
    remote = RemoteRuntime(env, host=f"{server.user}@{HOST}", ssh_options=options)
    return replace(ctx, runtime=remote, env=env)


def _run(command: str, ctx: ProbeContext, in_vm: bool = True) -> Observation:
    spec = ScriptProbe(name="w", kind="script", command=command, in_vm=in_vm, timeout_secs=10)
    return asyncio.run(script_probe.probe(spec, ctx))


def test_in_vm_runs_through_the_runtime_s_shell(ctx: ProbeContext, tools: FakeTools) -> None:
    vm_ctx = replace(ctx, runtime=ColimaRuntime(tools.env), env=tools.env)
    obs = _run(TRICKY_SCRIPT, vm_ctx)
    assert obs.status is Status.UNKNOWN  # the script's own exit 3
    assert obs.error_kind is ErrorKind.EXIT_CODE
    assert obs.message == TRICKY_OUTPUT
    assert obs.detail["in_vm"] == "colima"
    assert tools.calls() == [["colima", "ssh", "-p", "default", "--", "sh", "-c", TRICKY_SCRIPT]]


def test_in_vm_over_ssh_keeps_the_script_intact(
    ctx: ProbeContext, server: Sshd, tmp_path: Path
) -> None:
    obs = _run("""echo "ok: $((1+1)) 'x'"; exit 0""", _over_ssh(ctx, server, tmp_path))
    assert obs.status is Status.OK
    assert obs.message == "ok: 2 'x'"


def test_an_unreachable_vm_is_unknown_not_the_scripts_verdict(
    ctx: ProbeContext, server: Sshd, tmp_path: Path
) -> None:
    with procs.refusing_port(HOST) as closed:  # nothing listens there: ssh itself fails (exit 255)
        obs = _run("exit 0", _over_ssh(ctx, server, tmp_path, port=closed))
    assert obs.status is Status.UNKNOWN
    assert obs.error_kind is ErrorKind.UNAVAILABLE
    assert f"port {closed}: Connection refused" in obs.message


def test_a_plugin_missing_in_the_vm_is_unknown_tool_missing(
    ctx: ProbeContext, server: Sshd, tmp_path: Path
) -> None:
    """Exit 127 from the VM's shell: the plugin is not there; never the target's verdict."""
    obs = _run("check_not_installed_here -H x", _over_ssh(ctx, server, tmp_path))
    assert (obs.status, obs.error_kind) == (Status.UNKNOWN, ErrorKind.TOOL_MISSING), obs
    assert obs.detail["exit_code"] == 127
    assert "check_not_installed_here" in obs.message
    assert obs.message.endswith("(fix: install it in the VM, or use its full path there)")


def test_no_vm_is_unknown_with_the_reason(ctx: ProbeContext) -> None:
    obs = _run("true", ctx)  # the null runtime
    assert obs.status is Status.UNKNOWN
    assert obs.error_kind is ErrorKind.UNAVAILABLE
    assert "no VM" in obs.message


def test_without_in_vm_it_runs_here(ctx: ProbeContext, tools: FakeTools) -> None:
    host_ctx = replace(ctx, runtime=ColimaRuntime(tools.env), env=tools.env)
    obs = _run("echo here", host_ctx, in_vm=False)
    assert obs.status is Status.OK
    assert "in_vm" not in obs.detail
    assert tools.calls() == []
