"""Script probes and the subprocess runner: Nagios exit codes, R1 (PATH), R21 (pipes)."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sys
import threading
import time
from pathlib import Path

import pytest

from talon.adapters.command import child_watcher, exec_env, exec_path, run_command
from talon.config import ScriptProbe
from talon.probes import ErrorKind, ProbeContext, Status
from talon.probes import script as script_probe
from talon.report import Observation


def _run(command: str, ctx: ProbeContext, timeout: float = 5.0) -> Observation:
    spec = ScriptProbe(name="s", kind="script", command=command, timeout_secs=timeout)
    return asyncio.run(script_probe.probe(spec, ctx))


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (0, Status.OK),
        (1, Status.WARNING),
        (2, Status.CRITICAL),
        (3, Status.UNKNOWN),
        (9, Status.CRITICAL),
    ],
)
def test_nagios_exit_codes(code: int, status: Status, ctx: ProbeContext) -> None:
    obs = _run(f"echo 'line one'; echo 'line two'; exit {code}", ctx)
    assert obs.status is status
    assert obs.message == "line one"
    assert obs.detail["exit_code"] == code


@pytest.mark.parametrize(
    ("code", "status", "kind"),
    [
        (0, Status.OK, None),
        (1, Status.CRITICAL, ErrorKind.EXIT_CODE),
        (3, Status.CRITICAL, ErrorKind.EXIT_CODE),
        (127, Status.UNKNOWN, ErrorKind.TOOL_MISSING),
    ],
)
def test_the_originals_rule_zero_ok_anything_else_fails(
    code: int, status: Status, kind: ErrorKind | None, ctx: ProbeContext
) -> None:
    """``exit_codes = "zero_ok"`` (an original-format services file): its `test -d X`
    exiting 1 is a failure, as the original judged it, not a Nagios warning; a command
    that is not there still cannot tell."""
    spec = ScriptProbe(name="s", kind="script", command=f"exit {code}", exit_codes="zero_ok")
    obs = asyncio.run(script_probe.probe(spec, ctx))
    assert (obs.status, obs.error_kind) == (status, kind)


def test_missing_binary_is_a_visible_unknown_not_silence(ctx: ProbeContext) -> None:
    """R1, F26: a plugin that is not on PATH (exit 127) is this node's tooling: unknown,
    ``tool_missing``, with the shell's own words, the PATH searched and the fix."""
    obs = _run("definitely-not-a-real-tool --version", ctx)
    assert (obs.status, obs.error_kind) == (Status.UNKNOWN, ErrorKind.TOOL_MISSING)
    assert obs.detail["exit_code"] == 127
    assert obs.message.startswith("sh: 1: definitely-not-a-real-tool: not found (fix: install it")
    assert f"add its directory to [exec] path (PATH={ctx.env['PATH']})" in obs.message


def test_a_plugin_that_is_not_executable_is_unknown_tool_missing(
    ctx: ProbeContext, tmp_path: Path
) -> None:
    plugin = tmp_path / "check_thing"
    plugin.write_text("#!/bin/sh\necho OK\n")  # mode 0644: not executable
    obs = _run(str(plugin), ctx)
    assert (obs.status, obs.error_kind) == (Status.UNKNOWN, ErrorKind.TOOL_MISSING)
    assert obs.detail["exit_code"] == 126
    assert f"{plugin}: Permission denied" in obs.message
    assert "(fix: make it executable (chmod +x))" in obs.message


def test_a_shell_that_cannot_be_spawned_is_unknown_tool_missing(
    ctx: ProbeContext, tmp_path: Path
) -> None:
    """No ``sh`` on the probe's PATH at all: nothing ran, nothing was checked."""
    env = {**ctx.env, "PATH": str(tmp_path)}
    spec = ScriptProbe(name="s", kind="script", command="true")
    obs = asyncio.run(script_probe.probe(spec, dataclasses.replace(ctx, env=env)))
    assert (obs.status, obs.error_kind) == (Status.UNKNOWN, ErrorKind.TOOL_MISSING)
    assert f"sh is not available: sh: No such file or directory (PATH={tmp_path})" in obs.message
    assert "fix: install sh, or add its directory to [exec] path" in obs.message


CHECK_HTTP = Path("/usr/lib/nagios/plugins/check_http")
needs_check_http = pytest.mark.skipif(
    not CHECK_HTTP.exists(), reason="needs monitoring-plugins' check_http"
)


@needs_check_http
@pytest.mark.parametrize(
    ("path", "options", "status", "said"),
    [
        ("/ok", "", Status.OK, "HTTP OK: HTTP/1.1 200"),
        ("/missing", "", Status.WARNING, "HTTP WARNING: HTTP/1.1 404"),  # 4xx: warning
        ("/missing", "-e 200", Status.CRITICAL, "HTTP CRITICAL - Invalid HTTP response"),
        ("/fail", "", Status.CRITICAL, "HTTP CRITICAL: HTTP/1.1 500"),
    ],
    ids=["200", "404", "404-expect-200", "500"],
)
def test_the_real_check_http_plugin(
    farm: tuple[str, int],
    ctx: ProbeContext,
    path: str,
    options: str,
    status: Status,
    said: str,
) -> None:
    """monitoring-plugins' check_http against the farm on 127.0.0.1: its exit codes are
    Talon's statuses (by default a 404 is a warning; ``-e 200`` makes it critical)."""
    host, port = farm
    obs = _run(f"{CHECK_HTTP} -H {host} -p {port} -u {path} -t 5 {options}", ctx)
    assert obs.status is status, obs
    assert obs.message.startswith(said), obs.message
    assert obs.error_kind is (None if status is Status.OK else ErrorKind.EXIT_CODE)


@needs_check_http
def test_the_real_check_http_that_cannot_tell_is_unknown(ctx: ProbeContext) -> None:
    """Exit 3: the plugin itself says it cannot tell (here: no host to check)."""
    obs = _run(str(CHECK_HTTP), ctx)
    assert (obs.status, obs.error_kind) == (Status.UNKNOWN, ErrorKind.EXIT_CODE)
    assert obs.detail["exit_code"] == 3


def test_children_get_the_explicit_path(identity: object, tmp_path: Path) -> None:
    """R1: configured dirs first, then the system dirs, whatever PATH Talon was started with."""
    env = exec_env(["/opt/talon-test/bin"], inherit_path=False, base={"PATH": "/nowhere"})
    assert env["PATH"].split(":")[0] == "/opt/talon-test/bin"
    assert "/usr/bin" in env["PATH"].split(":")
    assert "/nowhere" not in env["PATH"]
    result = asyncio.run(run_command(["sh", "-c", 'echo "$PATH"'], timeout=5, env=env))
    assert result.stdout.strip() == env["PATH"]


def test_exec_path_deduplicates_and_keeps_order() -> None:
    assert exec_path(["/a", "/usr/bin"], "/b:/a").split(":")[:2] == ["/a", "/usr/bin"]
    assert exec_path([], "/b:/a").split(":")[-2:] == ["/b", "/a"]


def test_timeout_kills_the_whole_group(ctx: ProbeContext, tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild.pid"
    started = time.monotonic()
    obs = _run(f"sleep 60 & echo $! > {pidfile}; wait", ctx, timeout=0.5)
    assert obs.error_kind is ErrorKind.TIMEOUT
    assert time.monotonic() - started < 5
    _assert_dead(int(pidfile.read_text()))


def test_grandchild_holding_the_pipe_cannot_stall_the_probe(
    ctx: ProbeContext, tmp_path: Path
) -> None:
    """R21: the script exits at once but leaves a grandchild with our stdout open."""
    pidfile = tmp_path / "grandchild.pid"
    started = time.monotonic()
    obs = _run(f"sleep 60 & echo $! > {pidfile}; echo done", ctx, timeout=30)
    assert obs.status is Status.OK
    assert obs.message == "done"
    assert time.monotonic() - started < 5  # not the grandchild's 60 s, nor the 30 s timeout
    _assert_dead(int(pidfile.read_text()))


def test_output_is_capped(ctx: ProbeContext) -> None:
    result = asyncio.run(
        run_command(["sh", "-c", "yes | head -c 1000000"], timeout=5, env=ctx.env, output_cap=1000)
    )
    assert result.exit_code == 0
    assert len(result.stdout) == 1000
    assert result.truncated


def test_first_line_is_truncated(ctx: ProbeContext) -> None:
    obs = _run("printf '%0500d\\n' 0", ctx)
    assert len(obs.message) == 200
    assert obs.message.endswith("…")


def test_spawn_error_names_the_path(ctx: ProbeContext) -> None:
    result = asyncio.run(run_command(["no-such-binary-xyz"], timeout=5, env=ctx.env))
    assert result.exit_code is None
    assert result.spawn_error is not None
    assert "no-such-binary-xyz" in result.spawn_error
    assert "PATH=" in result.spawn_error


def test_cancellation_kills_the_group(ctx: ProbeContext, tmp_path: Path) -> None:
    """R30: a cancelled run (shutdown) leaves no process behind."""
    pidfile = tmp_path / "child.pid"

    async def main() -> None:
        task = asyncio.create_task(
            run_command(
                ["sh", "-c", f"echo $$ > {pidfile}; exec sleep 60"], timeout=60, env=ctx.env
            )
        )
        for _ in range(500):  # up to 10 s for a shell to start on a loaded box
            await asyncio.sleep(0.02)
            if pidfile.exists() and pidfile.read_text().strip():
                break
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    _assert_dead(int(pidfile.read_text()))


def _assert_dead(pid: int) -> None:
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        # A killed child of ours may linger as a zombie until init reaps it.
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().split(") ")[1].startswith("Z"):
                    return
        except FileNotFoundError:
            return
        time.sleep(0.02)
    raise AssertionError(f"process {pid} is still alive")


def test_the_shell_is_the_one_on_the_probes_path(ctx: ProbeContext, tmp_path: Path) -> None:
    """R1: ``sh`` is looked up on the explicit PATH (once); the script still sees ``$0 = sh``."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "sh").symlink_to("/bin/bash")  # Debian's own sh is dash
    env = {**ctx.env, "PATH": f"{bindir}:{ctx.env['PATH']}"}
    spec = ScriptProbe(name="s", kind="script", command='echo "${BASH_VERSION:+bash} $0"')
    obs = asyncio.run(script_probe.probe(spec, dataclasses.replace(ctx, env=env)))
    assert obs.message == "bash sh"


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="3.12+ watches children with pidfds")
def test_child_watcher_uses_pidfds_in_the_main_thread_and_restores_the_default() -> None:
    async def main() -> tuple[str, int | None]:
        watcher = asyncio.get_child_watcher()
        result = await run_command(["sh", "-c", "exit 3"], timeout=5, env=exec_env())
        return type(watcher).__name__, result.exit_code

    with child_watcher():
        assert asyncio.run(main()) == ("PidfdChildWatcher", 3)
    assert type(asyncio.get_child_watcher()).__name__ == "ThreadedChildWatcher"

    seen: list[tuple[str, int | None]] = []

    def elsewhere() -> None:
        with child_watcher():  # another thread: the process-wide watcher is left alone
            seen.append(asyncio.run(main()))

    thread = threading.Thread(target=elsewhere)
    thread.start()
    thread.join(30)
    assert seen == [("ThreadedChildWatcher", 3)]
