"""SystemdProcessManager against the real ``systemctl`` and real managers.

A ``systemd --user`` manager and a system manager booted by ``systemd-nspawn``
(tests/support/systemd.py), one of each per test process; every unit a test
writes has a name of its own and is removed after it. Most tests run once per
scope (the ``scope`` fixture).
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import signal
import sys
import time
from pathlib import Path

import psutil
import pytest

from talon.adapters.command import CommandResult, exec_env
from talon.adapters.process.base import ServiceSpec, ServiceState
from talon.adapters.process.systemd import (
    SystemdProcessManager,
    exec_word,
    parse_show,
    refusal,
    status_from_show,
)
from talon.errors import ActionFailed, AdapterUnavailable, ToolMissing
from tests.support import systemd as real
from tests.support.systemd import Scope, alive, stopped

# The real managers (tests/support/systemd.py), as this module's fixtures.
scope, user_scope, system_scope = real.scope, real.user_scope, real.system_scope

SPEC = ServiceSpec(
    "worker",
    ("/usr/local/bin/worker", "--name", "a b", 'say "hi"', "50%", "$HOME", "back\\slash"),
    cwd="/srv/worker",
    env={"MODE": "prod", "GREETING": 'hello "world" 100%'},
    stdout_path="/var/log/worker.out",
    stderr_path="/var/log/worker.err",
    description="the worker",
)
SLEEP = "ExecStart=/bin/sleep 600"


# ------------------------------------------------------------------ parsing and quoting (pure)
def test_show_parsing_keeps_values_with_equals() -> None:
    text = "MainPID=12\nResult=success\nLoadState=loaded\nExecStart=a=b\n\n"
    assert parse_show(text) == {
        "MainPID": "12",
        "Result": "success",
        "LoadState": "loaded",
        "ExecStart": "a=b",
    }


@pytest.mark.parametrize(
    ("props", "state", "pid"),
    [
        ("active running 12 loaded success", ServiceState.RUNNING, 12),
        ("reloading reload 12 loaded success", ServiceState.RUNNING, 12),
        ("active exited 0 loaded success", ServiceState.RUNNING, None),  # a oneshot that ran
        ("inactive dead 0 loaded success", ServiceState.STOPPED, None),  # a clean stop
        ("inactive dead 0 masked success", ServiceState.STOPPED, None),
        ("activating start 12 loaded success", ServiceState.CHANGING, None),
        ("activating start-pre 0 loaded success", ServiceState.CHANGING, None),
        ("deactivating stop-sigterm 12 loaded success", ServiceState.CHANGING, None),
        ("failed failed 0 loaded exit-code", ServiceState.FAILED, None),
        ("failed failed 0 loaded signal", ServiceState.FAILED, None),  # killed
        ("inactive dead 0 loaded signal", ServiceState.FAILED, None),
        ("activating auto-restart 0 loaded exit-code", ServiceState.FAILED, None),
        ("activating auto-restart-queued 0 loaded exit-code", ServiceState.FAILED, None),
        ("inactive dead 0 bad-setting success", ServiceState.FAILED, None),
        ("inactive dead 0 not-found success", ServiceState.NOT_FOUND, None),
        ("active running 12 not-found success", ServiceState.RUNNING, 12),  # file gone, still up
        ("maintenance x 0 loaded success", ServiceState.UNKNOWN, None),  # not a service state
    ],
)
def test_show_properties_map_to_states(props: str, state: ServiceState, pid: int | None) -> None:
    keys = ("ActiveState", "SubState", "MainPID", "LoadState", "Result")
    status = status_from_show("worker", "user", dict(zip(keys, props.split(), strict=True)))
    assert (status.state, status.pid) == (state, pid)
    assert bool(status.start_command) is (state is ServiceState.STOPPED)


def test_a_stopped_unit_says_how_to_start_it_in_its_scope() -> None:
    props = {"ActiveState": "inactive", "SubState": "dead", "LoadState": "loaded"}
    user = status_from_show("worker", "user", props)
    assert user.start_command == "systemctl --user start worker.service"
    system = status_from_show("web.service", "system", props)
    assert system.start_command == "systemctl start web.service"
    masked = status_from_show("web", "system", {**props, "LoadState": "masked"})
    assert masked.start_command == ("systemctl unmask web.service && systemctl start web.service")
    assert masked.detail == "inactive (dead), masked"


def test_exec_words_survive_systemds_command_line_rules() -> None:
    line = " ".join(exec_word(w, first=i == 0) for i, w in enumerate(SPEC.argv))
    assert line == (
        '/usr/local/bin/worker --name "a b" "say \\"hi\\"" 50%% "$$HOME" "back\\\\slash"'
    )
    # Undo the specifier and variable doubling, then split as a C-escaping tokenizer would.
    assert shlex.split(line.replace("%%", "%").replace("$$", "$")) == list(SPEC.argv)
    assert exec_word("-x", first=True) == '"-x"'  # never read as the "ignore failure" prefix
    assert exec_word("") == '""'


def test_service_file_has_every_line(tmp_path: Path) -> None:
    file = SystemdProcessManager({"HOME": str(tmp_path)}, scope="user").service_file(SPEC)
    assert file.path == tmp_path / ".config" / "systemd" / "user" / "worker.service"
    assert file.domain == "user"
    assert file.text.splitlines() == [
        "[Unit]",
        "Description=the worker",
        "",
        "[Service]",
        'ExecStart=/usr/local/bin/worker --name "a b" "say \\"hi\\"" 50%% "$$HOME" "back\\\\slash"',
        "WorkingDirectory=/srv/worker",
        'Environment="MODE=prod"',
        'Environment="GREETING=hello \\"world\\" 100%%"',
        "StandardOutput=append:/var/log/worker.out",
        "StandardError=append:/var/log/worker.err",
        "Restart=always",
        "RestartSec=1",
        "KillMode=process",
        "",
        "[Install]",
        "WantedBy=default.target",
    ]


def test_where_a_unit_is_installed_follows_the_scope_root_xdg_and_override(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path)}
    as_user = SystemdProcessManager(env, root=False).service_file(SPEC)  # scope auto
    assert (as_user.path.parent, as_user.domain) == (tmp_path / ".config/systemd/user", "user")
    as_root = SystemdProcessManager(env, root=True).service_file(SPEC)
    assert (as_root.path, as_root.domain) == (Path("/etc/systemd/system/worker.service"), "system")
    assert as_root.text.splitlines()[-1] == "WantedBy=multi-user.target"
    user_as_root = SystemdProcessManager(env, scope="user", root=True).service_file(SPEC)
    assert user_as_root.domain == "user"  # a configured scope wins over root-ness
    xdg = SystemdProcessManager({**env, "XDG_CONFIG_HOME": "/cfg"}, root=False)
    assert xdg.service_file(SPEC).path == Path("/cfg/systemd/user/worker.service")
    given = SystemdProcessManager(env, root=True, unit_dir=tmp_path / "units")
    assert given.service_file(SPEC).path == tmp_path / "units" / "worker.service"
    with pytest.raises(ValueError, match="newline"):
        given.service_file(ServiceSpec("worker", ("/bin/true",), cwd="/a\nb"))


def test_a_bad_scope_is_refused() -> None:
    with pytest.raises(ValueError, match="scope"):
        SystemdProcessManager({}, scope="gui")


@pytest.mark.parametrize(
    ("said", "code"),
    [
        ("Failed to restart worker.service: Interactive authentication required.", 1),
        ("Failed to restart worker.service: Access denied", 4),
    ],
)
def test_polkit_and_access_refusals_are_unavailable_and_name_the_fix(said: str, code: int) -> None:
    """Not producible here: polkit never asks root, and these tests run as root. So the
    classification is tested on the real tool's documented words (systemctl(1), exit
    statuses from systemd's translate_bus_error_to_exit_status), not on a fake tool."""
    argv = ("systemctl", "restart", "--no-ask-password", "worker.service")
    error = refusal(CommandResult(argv, code, "", said + "\n", 0.01), "system", 10.0)
    assert isinstance(error, AdapterUnavailable)
    message = str(error)
    assert f"exited {code}: {said}" in message
    assert f"command: {shlex.join(argv)}" in message
    assert "run Talon as root for system units, or set systemd_scope = 'user'" in message


# ------------------------------------------------------------------ inspect (real managers)
def test_inspect_a_running_unit_gives_its_real_pid_and_scope(scope: Scope) -> None:
    label = scope.unit("sleeper", SLEEP)
    pid = scope.running_pid(label)
    pm = scope.pm()
    status = asyncio.run(pm.inspect(label))
    assert (status.state, status.pid, status.domain) == (ServiceState.RUNNING, pid, scope.name)
    assert psutil.Process(scope.host_pid(pid)).cmdline() == ["/bin/sleep", "600"]
    suffixed = asyncio.run(pm.inspect(f"{label}.service"))  # the suffix may be given
    assert (suffixed.state, suffixed.pid, suffixed.domain) == (status.state, pid, scope.name)


@pytest.mark.parametrize(
    ("service", "start", "substate", "state", "detail"),
    [
        (SLEEP, False, "dead", ServiceState.STOPPED, "inactive (dead)"),
        ("ExecStart=/bin/false", True, "failed", ServiceState.FAILED, "result exit-code"),
        (
            "ExecStart=/bin/false\nRestart=always\nRestartSec=600",
            True,
            "auto-restart",
            ServiceState.FAILED,
            "activating (auto-restart)",
        ),
        ("Type=simple", False, "dead", ServiceState.FAILED, "cannot be loaded (bad-setting)"),
    ],
    ids=["never-started", "failed", "crash-loop", "no-execstart"],
)
def test_inspect_what_is_not_running(
    user_scope: Scope,
    service: str,
    start: bool,
    substate: str,
    state: ServiceState,
    detail: str,
) -> None:
    label = user_scope.unit("unit", service, start=start)
    user_scope.wait(label, substate, lambda s: s["SubState"] == substate)
    status = asyncio.run(user_scope.pm().inspect(label))
    assert (status.state, status.pid, status.domain) == (state, None, "user")
    assert detail in status.detail


def test_inspect_a_oneshot_that_ran_is_running_without_a_pid(user_scope: Scope) -> None:
    """``active (exited)``: systemd says it is up; it has no process by design."""
    label = user_scope.unit("once", "Type=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true")
    user_scope.wait(label, "exited", lambda s: s["SubState"] == "exited")
    status = asyncio.run(user_scope.pm().inspect(label))
    assert (status.state, status.pid, status.detail) == (
        ServiceState.RUNNING,
        None,
        "active (exited)",
    )


def test_inspect_a_unit_on_its_way_up_is_changing(user_scope: Scope) -> None:
    """``activating (start)``: a oneshot whose start has not finished."""
    label = user_scope.unit("slow", "Type=oneshot\nExecStart=/bin/sleep 600", start=False)
    assert user_scope.ctl("start", "--no-block", f"{label}.service").returncode == 0
    user_scope.wait(label, "activating", lambda s: s["ActiveState"] == "activating")
    status = asyncio.run(user_scope.pm().inspect(label))
    assert (status.state, status.pid, status.detail) == (
        ServiceState.CHANGING,
        None,
        "activating (start)",
    )
    assert status.start_command == ""


def test_inspect_a_unit_whose_process_was_killed_is_failed_not_stopped(
    user_scope: Scope,
) -> None:
    """SIGKILL of the main process (no Restart=): ``failed``, ``Result=signal``: not an
    operator's stop, so the probe stays critical and Talon may restart it."""
    label = user_scope.unit("victim", SLEEP)
    os.kill(user_scope.running_pid(label), signal.SIGKILL)
    user_scope.wait(label, "failed", lambda s: s["ActiveState"] == "failed")
    status = asyncio.run(user_scope.pm().inspect(label))
    assert (status.state, status.detail) == (ServiceState.FAILED, "failed (failed), result signal")


def test_inspect_of_an_unknown_unit_is_not_found_where_it_looked(user_scope: Scope) -> None:
    """The user manager answers; the host's systemctl says systemd is not PID 1 here, so
    in auto the system scope is skipped, not an error."""
    label = user_scope.label("nothing")
    status = asyncio.run(user_scope.pm(scope="auto").inspect(label))
    assert status.state is ServiceState.NOT_FOUND
    assert status.detail == f"{label}.service not found in user"


def test_r24_auto_finds_each_unit_in_its_scope_and_acts_there(
    user_scope: Scope, system_scope: Scope
) -> None:
    """One environment reaches both managers (the container's systemctl wrapper sends
    --user to the host's user manager): auto looks in the user scope, then the system one,
    and acts where the unit is; the unit of the other scope is left alone."""
    system_scope.prefix = user_scope.prefix  # the same names in both managers
    daemon = system_scope.unit("daemon", SLEEP)
    agent = user_scope.unit("agent", SLEEP)
    theirs = user_scope.running_pid(agent)
    before = system_scope.running_pid(daemon)
    pm = system_scope.pm(scope="auto")
    assert asyncio.run(pm.inspect(daemon)).domain == "system"
    assert asyncio.run(pm.inspect(agent)).domain == "user"
    missing = asyncio.run(pm.inspect(user_scope.label("nothing")))
    assert missing.detail == f"{user_scope.prefix}-nothing.service not found in user or system"
    listed = asyncio.run(pm.list(f"{user_scope.prefix}-*"))
    assert sorted((s.label, s.domain) for s in listed) == [
        (f"{agent}.service", "user"),
        (f"{daemon}.service", "system"),
    ]

    asyncio.run(pm.restart(daemon))
    after = asyncio.run(pm.inspect(daemon))
    assert (after.state, after.domain) == (ServiceState.RUNNING, "system")
    assert after.pid not in (None, before)
    assert user_scope.running_pid(agent) == theirs


def test_without_a_user_bus_auto_asks_the_system_manager(system_scope: Scope) -> None:
    """Talon as root outside a login session: no XDG_RUNTIME_DIR, no user manager."""
    label = system_scope.unit("daemon", SLEEP)
    env = {k: v for k, v in system_scope.env.items() if k != "XDG_RUNTIME_DIR"}
    pm = system_scope.pm(env, scope="auto")
    status = asyncio.run(pm.inspect(label))
    assert (status.state, status.domain) == (ServiceState.RUNNING, "system")
    missing = asyncio.run(pm.inspect(system_scope.label("nothing")))
    assert missing.detail == f"{system_scope.prefix}-nothing.service not found in system"


def test_a_user_scope_without_a_bus_is_unknown_and_names_the_fix(
    user_scope: Scope, tmp_path: Path
) -> None:
    label = user_scope.unit("sleeper", SLEEP)
    env = {**user_scope.env, "XDG_RUNTIME_DIR": str(tmp_path)}  # no manager's socket in it
    pm = user_scope.pm(env)
    status = asyncio.run(pm.inspect(label))
    assert status.state is ServiceState.UNKNOWN
    assert "Failed to connect to bus" in status.detail
    assert "loginctl enable-linger" in status.detail
    with pytest.raises(AdapterUnavailable, match="enable-linger"):
        asyncio.run(pm.restart(label))
    with pytest.raises(AdapterUnavailable, match="Failed to connect to bus"):
        asyncio.run(user_scope.pm(env, scope="auto").list("*"))  # neither scope answers


@pytest.mark.skipif(
    not Path("/usr/bin/systemctl").exists() or Path("/run/systemd/system").exists(),
    reason="needs a real systemctl on a host where systemd is not PID 1",
)
def test_the_real_systemctl_without_systemd_is_unknown_and_refused() -> None:
    """The host's own tool here says it cannot operate: unknown, with its words and the fix."""
    pm = SystemdProcessManager(exec_env(), scope="system", systemctl="/usr/bin/systemctl")
    status = asyncio.run(pm.inspect("worker"))
    assert status.state is ServiceState.UNKNOWN
    assert "Failed to connect to bus" in status.detail
    assert "not PID 1" in status.detail
    with pytest.raises(AdapterUnavailable, match="not PID 1"):
        asyncio.run(pm.restart("worker"))


# ------------------------------------------------------------------ changes
def test_restart_gives_a_new_pid_stop_stops_and_restart_starts_again(scope: Scope) -> None:
    label = scope.unit("svc", SLEEP)
    first = scope.host_pid(scope.running_pid(label))
    pm = scope.pm()
    asyncio.run(pm.restart(label))
    status = asyncio.run(pm.inspect(label))
    assert status.state is ServiceState.RUNNING
    assert status.pid is not None
    second = scope.host_pid(status.pid)
    assert second != first
    assert not alive(first)

    asyncio.run(pm.stop(label))
    stopped_now = asyncio.run(pm.inspect(label))
    assert (stopped_now.state, stopped_now.detail) == (ServiceState.STOPPED, "inactive (dead)")
    user = "--user " if scope.name == "user" else ""
    assert stopped_now.start_command == f"systemctl {user}start {label}.service"
    assert scope.show(label)["ActiveState"] == "inactive"
    assert not alive(second)
    asyncio.run(pm.restart(label))  # restart starts a stopped unit
    assert asyncio.run(pm.inspect(label)).state is ServiceState.RUNNING


def test_restart_and_stop_of_an_unknown_unit_fail_and_name_the_fix(scope: Scope) -> None:
    label = scope.label("nothing")
    with pytest.raises(ActionFailed, match="not loaded in the user or the system manager"):
        asyncio.run(scope.pm(scope="auto").restart(label))
    pm = scope.pm()
    said = rf"exited 5: Failed to restart {label}\.service: Unit {label}\.service not found\."
    with pytest.raises(ActionFailed, match=said):
        asyncio.run(pm.restart(label))
    with pytest.raises(ActionFailed, match=rf"Unit {label}\.service not loaded\..*list-units"):
        asyncio.run(pm.stop(label))


def test_a_unit_that_fails_to_start_is_a_failed_restart(user_scope: Scope) -> None:
    label = user_scope.unit("broken", f"ExecStartPre=/bin/false\n{SLEEP}", start=False)
    pm = user_scope.pm()
    with pytest.raises(ActionFailed) as caught:
        asyncio.run(pm.restart(label))
    assert "exited 1" in str(caught.value)
    assert f"systemctl --user restart --no-ask-password {label}.service" in str(caught.value)
    assert "see `systemctl --user status`" in str(caught.value)
    assert asyncio.run(pm.inspect(label)).state is ServiceState.FAILED


def test_list_reads_the_pattern_in_the_scope(scope: Scope) -> None:
    worker = scope.unit("worker", SLEEP)
    cron = scope.unit("worker-cron", "ExecStart=/bin/false")
    scope.unit("other", SLEEP, start=False)
    scope.wait(cron, "failed", lambda s: s["ActiveState"] == "failed")
    listed = asyncio.run(scope.pm().list(f"{scope.prefix}-worker*"))
    assert sorted((s.label, s.state, s.domain) for s in listed) == [
        (f"{cron}.service", ServiceState.FAILED, scope.name),
        (f"{worker}.service", ServiceState.RUNNING, scope.name),
    ]


# ------------------------------------------------------------------ enable, disable
def test_enable_then_disable(scope: Scope) -> None:
    label = scope.label("worker")
    spec = ServiceSpec(label, ("/bin/sleep", "600"), description="the worker")
    pm = scope.pm()
    asyncio.run(pm.enable(label, spec))
    unit = f"{label}.service"
    path = scope.unit_dir / unit
    assert path.read_text() == pm.service_file(spec).text
    target = "default.target" if scope.name == "user" else "multi-user.target"
    assert (scope.unit_dir / f"{target}.wants" / unit).is_symlink()
    shown = scope.show(label)
    assert (shown["ActiveState"], shown["UnitFileState"]) == ("active", "enabled")
    status = asyncio.run(pm.inspect(label))
    assert (status.state, status.domain) == (ServiceState.RUNNING, scope.name)
    assert status.pid is not None
    pid = scope.host_pid(status.pid)

    asyncio.run(pm.disable(label))
    assert not path.exists()
    assert not (scope.unit_dir / f"{target}.wants" / unit).exists()
    assert scope.show(label)["LoadState"] == "not-found"
    assert not alive(pid)
    assert asyncio.run(pm.inspect(label)).state is ServiceState.NOT_FOUND


def test_disable_of_a_unit_never_installed_is_quiet(scope: Scope) -> None:
    asyncio.run(scope.pm().disable(scope.label("never")))


RECORD = "import json, os, sys; json.dump({'argv': sys.argv[2:], 'env': os.environ.get('GREETING'), 'cwd': os.getcwd()}, open(sys.argv[1], 'w')); print('out'); os.execv('/bin/sleep', ['sleep', '600'])"


def test_the_unit_runs_the_command_exactly_as_given(user_scope: Scope, tmp_path: Path) -> None:
    """Quoting checked by systemd itself: every hostile word arrives intact."""
    label = user_scope.label("quoting")
    record = tmp_path / "record.json"
    words = ("a b", 'say "hi"', "50%", "$HOME", "back\\slash", "%n", "")
    spec = ServiceSpec(
        label,
        (sys.executable, "-c", RECORD, str(record), *words),
        cwd=str(tmp_path),
        env={"GREETING": 'hello "world" 100% $HOME'},
        stdout_path=str(tmp_path / "out.log"),
    )
    asyncio.run(user_scope.pm().enable(label, spec))
    user_scope.running_pid(label)
    deadline = time.monotonic() + 15
    while not (record.exists() and record.read_text()):
        assert time.monotonic() < deadline, (tmp_path / "out.log").read_text()
        time.sleep(0.02)
    seen = json.loads(record.read_text())
    assert seen == {"argv": list(words), "env": 'hello "world" 100% $HOME', "cwd": str(tmp_path)}


def test_a_unit_dir_that_cannot_be_written_is_unavailable(
    user_scope: Scope, tmp_path: Path
) -> None:
    (tmp_path / "file").write_text("")
    pm = user_scope.pm(unit_dir=tmp_path / "file" / "units")
    label = user_scope.label("nowhere")
    with pytest.raises(AdapterUnavailable, match="cannot change"):
        asyncio.run(pm.enable(label, ServiceSpec(label, ("/bin/true",))))


# ------------------------------------------------------------------ KillMode=process
@pytest.mark.parametrize("kill_mode", ["process", "control-group"])
def test_a_killed_main_process_is_restarted_and_only_process_keeps_its_children(
    user_scope: Scope, tmp_path: Path, kill_mode: str
) -> None:
    """Why ``enable`` writes KillMode=process: SIGKILL the main process of a unit that
    started a child in its own session (as Talon starts a heal script). systemd restarts
    the unit either way; with KillMode=process the child lives on, with systemd's default
    (control-group) systemd kills it before the restart."""
    label = user_scope.label(kill_mode)
    pidfile = tmp_path / "child.pid"
    command = f"setsid /bin/sleep 600 & echo $! > {pidfile}; exec /bin/sleep 601"
    spec = ServiceSpec(label, ("/bin/sh", "-c", command))
    pm = user_scope.pm()
    text = pm.service_file(spec).text
    assert "KillMode=process\n" in text
    (user_scope.unit_dir / f"{label}.service").write_text(
        text.replace("KillMode=process", f"KillMode={kill_mode}")
    )
    assert user_scope.ctl("daemon-reload").returncode == 0
    assert user_scope.ctl("start", f"{label}.service").returncode == 0
    main = user_scope.running_pid(label)
    user_scope.wait(
        label, "wrote the pid", lambda _: bool(pidfile.exists() and pidfile.read_text())
    )
    child = int(pidfile.read_text())
    try:
        os.kill(main, signal.SIGKILL)
        shown = user_scope.wait(label, "restarted", lambda s: s["NRestarts"] == "1")
        again = user_scope.running_pid(label)
        assert again != main
        assert shown["Result"] in ("success", "signal")
        # With control-group the unit was stopped (its cgroup emptied) before the restart.
        assert alive(child) is (kill_mode == "process")
    finally:
        if alive(child):
            os.kill(child, signal.SIGKILL)


# ------------------------------------------------------------------ missing, hanging
def test_a_missing_systemctl_is_tool_missing(user_scope: Scope) -> None:
    pm = SystemdProcessManager(user_scope.env, systemctl="/nonexistent/systemctl")
    with pytest.raises(ToolMissing, match="systemctl is not available") as caught:
        asyncio.run(pm.inspect("worker"))
    assert "fix: install systemctl at /nonexistent/systemctl" in str(caught.value)
    with pytest.raises(AdapterUnavailable, match="systemctl"):
        asyncio.run(pm.restart("worker"))


def test_a_hanging_manager_is_bounded_by_the_timeout(user_scope: Scope) -> None:
    """A SIGSTOPped manager accepts the connection and never answers."""
    label = user_scope.unit("sleeper", SLEEP)
    pm = user_scope.pm(timeout_s=0.5)
    with stopped(user_scope.manager_pid):
        status = asyncio.run(pm.inspect(label))
        assert status.state is ServiceState.UNKNOWN
        assert "no answer within 0.5s" in status.detail
        with pytest.raises(ActionFailed, match=r"no answer within 0\.5s"):
            asyncio.run(pm.restart(label))
        left = [p for p in psutil.Process().children(recursive=True) if p.name() == "systemctl"]
        assert left == []  # every timed-out call was killed, not left waiting
    assert asyncio.run(pm.inspect(label)).state is ServiceState.RUNNING
