"""SystemdProcessManager against a fake ``systemctl`` that copies the real tool's output and exits."""

from __future__ import annotations

import asyncio
import shlex
import time
from pathlib import Path

import pytest

from talon.adapters.command import exec_env
from talon.adapters.process.base import ServiceSpec, ServiceState
from talon.adapters.process.systemd import (
    PROPERTIES,
    SystemdProcessManager,
    exec_word,
    parse_show,
    status_from_show,
)
from talon.errors import ActionFailed, AdapterUnavailable
from tests.support.fake_pm import FakePlatformTools, systemd_unit
from tests.support.procs import assert_dead

UNIT = "worker.service"
SPEC = ServiceSpec(
    "worker",
    ("/usr/local/bin/worker", "--name", "a b", 'say "hi"', "50%", "$HOME", "back\\slash"),
    cwd="/srv/worker",
    env={"MODE": "prod", "GREETING": 'hello "world" 100%'},
    stdout_path="/var/log/worker.out",
    stderr_path="/var/log/worker.err",
    description="the worker",
)


@pytest.fixture
def tools(tmp_path: Path) -> FakePlatformTools:
    return FakePlatformTools(tmp_path)


def _pm(tools: FakePlatformTools, **kwargs: object) -> SystemdProcessManager:
    return SystemdProcessManager(tools.env, **kwargs)  # type: ignore[arg-type]


def _units(tools: FakePlatformTools, scope: str, **more: object) -> None:
    tools.set_state({"systemd": {scope: {UNIT: systemd_unit()}}, **more})


def _show(scope: str) -> list[str]:
    return ["systemctl", *(["--user"] if scope == "user" else []), "show", "-p", PROPERTIES, UNIT]


# ------------------------------------------------------------------ parsing and quoting
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
        ("inactive dead 0 loaded success", ServiceState.STOPPED, None),
        ("active exited 0 loaded success", ServiceState.STOPPED, None),
        ("failed failed 0 loaded exit-code", ServiceState.FAILED, None),
        ("activating auto-restart 0 loaded exit-code", ServiceState.FAILED, None),
        ("inactive dead 0 bad-setting success", ServiceState.FAILED, None),
        ("inactive dead 0 not-found success", ServiceState.NOT_FOUND, None),
        ("active running 12 not-found success", ServiceState.RUNNING, 12),  # file gone, still up
    ],
)
def test_show_properties_map_to_states(props: str, state: ServiceState, pid: int | None) -> None:
    keys = ("ActiveState", "SubState", "MainPID", "LoadState", "Result")
    status = status_from_show("worker", "user", dict(zip(keys, props.split(), strict=True)))
    assert (status.state, status.pid) == (state, pid)


def test_exec_words_survive_systemds_command_line_rules() -> None:
    line = " ".join(exec_word(w, first=i == 0) for i, w in enumerate(SPEC.argv))
    assert line == (
        '/usr/local/bin/worker --name "a b" "say \\"hi\\"" 50%% "$$HOME" "back\\\\slash"'
    )
    # Undo the specifier and variable doubling, then split as a C-escaping tokenizer would.
    assert shlex.split(line.replace("%%", "%").replace("$$", "$")) == list(SPEC.argv)
    assert exec_word("-x", first=True) == '"-x"'  # never read as the "ignore failure" prefix
    assert exec_word("") == '""'


# ------------------------------------------------------------------ inspect
def test_inspect_running_in_the_user_scope(tools: FakePlatformTools) -> None:
    _units(tools, "user")
    status = asyncio.run(_pm(tools).inspect("worker"))
    assert (status.state, status.pid, status.domain) == (ServiceState.RUNNING, 4242, "user")
    assert tools.calls() == [_show("user")]


@pytest.mark.parametrize(
    ("unit", "state"),
    [
        (systemd_unit("inactive", "dead", 0), ServiceState.STOPPED),
        (systemd_unit("failed", "failed", 0, "exit-code"), ServiceState.FAILED),
        (systemd_unit("activating", "auto-restart", 0, "exit-code"), ServiceState.FAILED),
    ],
)
def test_inspect_stopped_and_failed(
    tools: FakePlatformTools, unit: dict[str, object], state: ServiceState
) -> None:
    tools.set_state({"systemd": {"user": {UNIT: unit}}})
    status = asyncio.run(_pm(tools).inspect(UNIT))  # the suffix may be given
    assert (status.state, status.pid, status.domain) == (state, None, "user")


def test_inspect_not_found_in_either_scope(tools: FakePlatformTools) -> None:
    status = asyncio.run(_pm(tools).inspect("worker"))
    assert status.state is ServiceState.NOT_FOUND
    assert status.detail == "worker.service not found in user or system"
    assert tools.calls() == [_show("user"), _show("system")]


def test_without_a_user_manager_auto_asks_the_system_one(tools: FakePlatformTools) -> None:
    """Talon as root has no user bus: the user scope is skipped, not an error."""
    _units(tools, "system", no_bus=["user"])
    status = asyncio.run(_pm(tools).inspect("worker"))
    assert (status.state, status.domain) == (ServiceState.RUNNING, "system")
    missing = asyncio.run(_pm(tools).inspect("other"))
    assert missing.state is ServiceState.NOT_FOUND
    assert missing.detail == "other.service not found in system"


def test_a_configured_user_scope_without_a_bus_is_unknown_and_says_why(
    tools: FakePlatformTools,
) -> None:
    _units(tools, "user", no_bus=["user"])
    status = asyncio.run(_pm(tools, scope="user").inspect("worker"))
    assert status.state is ServiceState.UNKNOWN
    assert "Failed to connect to bus" in status.detail
    assert "loginctl enable-linger" in status.detail


# ------------------------------------------------------------------ R24 and changes
def test_a_system_unit_is_found_and_restarted_in_the_system_scope(
    tools: FakePlatformTools,
) -> None:
    _units(tools, "system")
    pm = _pm(tools)
    found = asyncio.run(pm.inspect("worker"))
    assert (found.state, found.domain) == (ServiceState.RUNNING, "system")
    asyncio.run(pm.restart("worker"))
    restarts = [c for c in tools.calls() if "restart" in c]
    assert restarts == [["systemctl", "restart", "--no-ask-password", UNIT]]
    after = asyncio.run(pm.inspect("worker"))
    assert (after.state, after.domain) == (ServiceState.RUNNING, "system")
    assert after.pid not in (None, 4242)


def test_restart_gives_a_new_pid_in_the_user_scope(tools: FakePlatformTools) -> None:
    _units(tools, "user")
    pm = _pm(tools, scope="user")
    asyncio.run(pm.restart("worker"))
    first = asyncio.run(pm.inspect("worker"))
    asyncio.run(pm.restart("worker"))
    second = asyncio.run(pm.inspect("worker"))
    assert first.pid not in (None, 4242)
    assert second.pid not in (None, first.pid)
    assert tools.calls()[0] == ["systemctl", "--user", "restart", "--no-ask-password", UNIT]


def test_restart_of_an_unknown_unit_fails_and_names_the_fix(tools: FakePlatformTools) -> None:
    with pytest.raises(ActionFailed, match="not loaded in the user or the system manager"):
        asyncio.run(_pm(tools).restart("worker"))
    with pytest.raises(ActionFailed, match=r"exited 5: Failed to restart worker\.service"):
        asyncio.run(_pm(tools, scope="system").restart("worker"))


def test_stop_then_restart(tools: FakePlatformTools) -> None:
    _units(tools, "system")
    pm = _pm(tools)
    asyncio.run(pm.stop("worker"))
    assert ["systemctl", "stop", "--no-ask-password", UNIT] in tools.calls()
    assert asyncio.run(pm.inspect("worker")).state is ServiceState.STOPPED
    asyncio.run(pm.restart("worker"))
    assert asyncio.run(pm.inspect("worker")).state is ServiceState.RUNNING


def test_list_reads_both_scopes(tools: FakePlatformTools) -> None:
    tools.set_state(
        {
            "systemd": {
                "user": {
                    "worker.service": systemd_unit(description="the worker"),
                    "worker-cron.service": systemd_unit("failed", "failed", 0, "exit-code"),
                    "other.service": systemd_unit(),
                },
                "system": {"worker-db.service": systemd_unit("inactive", "dead", 0)},
            }
        }
    )
    listed = asyncio.run(_pm(tools).list("worker*"))
    assert [(s.label, s.state, s.domain) for s in listed] == [
        ("worker-cron.service", ServiceState.FAILED, "user"),
        ("worker.service", ServiceState.RUNNING, "user"),
        ("worker-db.service", ServiceState.STOPPED, "system"),
    ]
    args = ["list-units", "--type=service", "--all", "--no-legend", "--plain", "worker*"]
    assert tools.calls() == [["systemctl", "--user", *args], ["systemctl", *args]]


def test_list_skips_a_scope_without_a_manager_but_not_both(tools: FakePlatformTools) -> None:
    _units(tools, "system", no_bus=["user"])
    listed = asyncio.run(_pm(tools).list("*"))
    assert [(s.label, s.domain) for s in listed] == [(UNIT, "system")]
    _units(tools, "system", no_bus=["user", "system"])
    with pytest.raises(AdapterUnavailable, match="Failed to connect to bus"):
        asyncio.run(_pm(tools).list("*"))


# ------------------------------------------------------------------ files, enable, disable
def test_service_file_has_every_line(tools: FakePlatformTools) -> None:
    file = _pm(tools).service_file(SPEC)
    assert file.path == tools.home / ".config" / "systemd" / "user" / UNIT
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
        "",
        "[Install]",
        "WantedBy=default.target",
    ]
    assert tools.calls() == []


def test_unit_dirs_follow_xdg_scope_and_override(tools: FakePlatformTools) -> None:
    xdg = SystemdProcessManager({**tools.env, "XDG_CONFIG_HOME": "/cfg"})
    assert xdg.service_file(SPEC).path == Path("/cfg/systemd/user") / UNIT
    system = _pm(tools, scope="system").service_file(SPEC)
    assert (system.path, system.domain) == (Path("/etc/systemd/system") / UNIT, "system")
    assert system.text.splitlines()[-1] == "WantedBy=multi-user.target"
    given = _pm(tools, unit_dir=tools.root / "units").service_file(SPEC)
    assert given.path == tools.root / "units" / UNIT
    with pytest.raises(ValueError, match="newline"):
        _pm(tools).service_file(ServiceSpec("worker", ("/bin/true",), cwd="/a\nb"))


def test_enable_then_disable(tools: FakePlatformTools) -> None:
    pm = _pm(tools)
    asyncio.run(pm.enable("worker", SPEC))
    path = tools.user_units / UNIT
    assert path.read_text() == pm.service_file(SPEC).text
    assert tools.calls() == [
        ["systemctl", "--user", "daemon-reload", "--no-ask-password"],
        ["systemctl", "--user", "enable", "--no-ask-password", "--now", UNIT],
    ]
    running = asyncio.run(pm.inspect("worker"))
    assert (running.state, running.domain) == (ServiceState.RUNNING, "user")
    assert running.pid is not None

    asyncio.run(pm.disable("worker"))
    assert ["systemctl", "--user", "disable", "--no-ask-password", "--now", UNIT] in tools.calls()
    assert tools.calls()[-1] == ["systemctl", "--user", "daemon-reload", "--no-ask-password"]
    assert not path.exists()
    assert asyncio.run(pm.inspect("worker")).state is ServiceState.NOT_FOUND


def test_disable_of_a_unit_never_installed_is_quiet(tools: FakePlatformTools) -> None:
    asyncio.run(_pm(tools).disable("worker"))
    assert tools.calls()[-1] == ["systemctl", "--user", "daemon-reload", "--no-ask-password"]


# ------------------------------------------------------------------ missing, hanging, denied
def test_a_missing_systemctl_is_adapter_unavailable_at_once(tmp_path: Path) -> None:
    tools = FakePlatformTools(tmp_path, tools=("launchctl",))
    started = time.monotonic()
    with pytest.raises(AdapterUnavailable, match="systemctl is not available"):
        asyncio.run(_pm(tools).inspect("worker"))
    with pytest.raises(AdapterUnavailable, match="systemctl"):
        asyncio.run(_pm(tools, scope="system").restart("worker"))
    assert time.monotonic() - started < 2


@pytest.mark.skipif(
    not Path("/usr/bin/systemctl").exists() or Path("/run/systemd/system").exists(),
    reason="needs a real systemctl on a host where systemd is not PID 1",
)
def test_the_real_systemctl_without_systemd_is_unknown_and_refused() -> None:
    """The real tool here says it cannot operate: unknown, with its words and the fix."""
    pm = SystemdProcessManager(exec_env(), systemctl="/usr/bin/systemctl")
    status = asyncio.run(pm.inspect("worker"))
    assert status.state is ServiceState.UNKNOWN
    assert "Failed to connect to bus" in status.detail
    assert "not PID 1" in status.detail
    with pytest.raises(AdapterUnavailable, match="not PID 1"):
        asyncio.run(SystemdProcessManager(exec_env(), scope="system").restart("worker"))


def test_a_hanging_systemctl_is_bounded_by_the_timeout(tools: FakePlatformTools) -> None:
    _units(tools, "user", hang=["systemctl *"])
    started = time.monotonic()
    status = asyncio.run(_pm(tools, timeout_s=0.5).inspect("worker"))
    assert status.state is ServiceState.UNKNOWN
    assert "no answer within 0.5s" in status.detail
    with pytest.raises(ActionFailed, match=r"no answer within 0\.5s"):
        asyncio.run(_pm(tools, scope="user", timeout_s=0.5).restart("worker"))
    assert time.monotonic() - started < 5
    for pid in tools.pids():
        assert_dead(pid)


@pytest.mark.parametrize(
    ("said", "code"), [("Interactive authentication required.", 1), ("Access denied", 4)]
)
def test_a_denied_restart_names_the_command_and_the_fix(
    tools: FakePlatformTools, said: str, code: int
) -> None:
    _units(tools, "system", deny={"systemctl restart": said})
    with pytest.raises(AdapterUnavailable) as caught:
        asyncio.run(_pm(tools).restart("worker"))
    message = str(caught.value)
    assert f"exited {code}: " in message
    assert f"command: systemctl restart --no-ask-password {UNIT}" in message
    assert "run Talon as root for system units, or set systemd_scope = 'user'" in message


def test_a_denied_enable_is_adapter_unavailable(tools: FakePlatformTools) -> None:
    tools.set_state({"deny": {"systemctl daemon-reload": "Access denied"}})
    with pytest.raises(AdapterUnavailable, match="Failed to reload daemon: Access denied"):
        asyncio.run(_pm(tools).enable("worker", SPEC))


def test_a_bad_scope_is_refused() -> None:
    with pytest.raises(ValueError, match="scope"):
        SystemdProcessManager({}, scope="gui")
