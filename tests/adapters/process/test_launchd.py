"""LaunchdProcessManager against a fake ``launchctl`` that copies the real tool's output and exits."""

from __future__ import annotations

import asyncio
import plistlib
import time
from pathlib import Path

import pytest

from talon.adapters.process.base import ServiceSpec, ServiceState
from talon.adapters.process.launchd import (
    LaunchdProcessManager,
    parse_list,
    parse_print,
    status_from_print,
)
from talon.errors import ActionFailed, AdapterUnavailable, ToolMissing
from tests.support.fake_pm import FakePlatformTools, launchd_job
from tests.support.procs import assert_dead

LABEL = "com.example.worker"
SPEC = ServiceSpec(
    LABEL,
    ("/usr/local/bin/worker", "--name", "a b"),
    cwd="/srv/worker",
    env={"MODE": "prod", "QUOTE": 'say "hi"'},
    stdout_path="/var/log/worker.out",
    stderr_path="/var/log/worker.err",
    description="the worker",
)


@pytest.fixture
def tools(tmp_path: Path) -> FakePlatformTools:
    return FakePlatformTools(tmp_path)


def _pm(tools: FakePlatformTools, **kwargs: object) -> LaunchdProcessManager:
    return LaunchdProcessManager(tools.env, uid=501, **kwargs)  # type: ignore[arg-type]


def _jobs(tools: FakePlatformTools, domain: str, **jobs: object) -> None:
    tools.set_state({"launchd": {domain: jobs}})


# ------------------------------------------------------------------ parsing
def test_print_parsing_reads_the_top_level_only() -> None:
    text = (
        "gui/501/x = {\n\tstate = not running\n\tendpoints = {\n\t\tstate = active\n"
        "\t\tpid = 7\n\t}\n\tlast exit code = 78: EX_CONFIG\n}\n"
    )
    fields = parse_print(text)
    assert fields == {"state": "not running", "last exit code": "78: EX_CONFIG"}
    status = status_from_print("x", "gui/501", fields)
    assert (status.state, status.pid) == (ServiceState.FAILED, None)


@pytest.mark.parametrize(
    ("fields", "state"),
    [
        ({"state": "running", "pid": "12"}, ServiceState.RUNNING),
        ({"state": "not running", "last exit code": "(never exited)"}, ServiceState.STOPPED),
        ({"state": "waiting", "last exit code": "0"}, ServiceState.STOPPED),
        (
            {"state": "not running", "last terminating signal": "Terminated: 15"},
            ServiceState.STOPPED,
        ),
        ({"state": "not running", "last terminating signal": "Killed: 9"}, ServiceState.FAILED),
        ({"state": "spawn scheduled", "last exit code": "0"}, ServiceState.FAILED),
        ({"state": "not running", "last exit code": "1"}, ServiceState.FAILED),
    ],
)
def test_print_fields_map_to_states(fields: dict[str, str], state: ServiceState) -> None:
    status = status_from_print("x", "system", fields)
    assert status.state is state
    stopped = state is ServiceState.STOPPED
    assert status.start_command == ("launchctl kickstart system/x" if stopped else "")


def test_list_parsing_skips_the_header_and_reads_dashes() -> None:
    text = "PID\tStatus\tLabel\n123\t0\ta\n-\t-15\tb\n-\t0\tc\n"
    assert parse_list(text) == [(123, 0, "a"), (None, -15, "b"), (None, 0, "c")]


# ------------------------------------------------------------------ inspect
def test_inspect_running_in_the_gui_domain(tools: FakePlatformTools) -> None:
    _jobs(tools, "gui/501", **{LABEL: launchd_job(pid=4242)})
    status = asyncio.run(_pm(tools).inspect(LABEL))
    assert (status.state, status.pid, status.domain) == (ServiceState.RUNNING, 4242, "gui/501")
    assert tools.calls() == [["launchctl", "print", f"gui/501/{LABEL}"]]


@pytest.mark.parametrize(
    ("job", "state"),
    [
        (launchd_job("not running", last_exit=0), ServiceState.STOPPED),
        (launchd_job("not running", last_exit=78), ServiceState.FAILED),
        (launchd_job("spawn scheduled", last_exit=1), ServiceState.FAILED),
    ],
)
def test_inspect_stopped_and_failed(
    tools: FakePlatformTools, job: dict[str, object], state: ServiceState
) -> None:
    _jobs(tools, "gui/501", **{LABEL: job})
    status = asyncio.run(_pm(tools).inspect(LABEL))
    assert (status.state, status.pid) == (state, None)
    assert "last exit code" in status.detail


def test_inspect_not_found_in_any_domain(tools: FakePlatformTools) -> None:
    status = asyncio.run(_pm(tools).inspect(LABEL))
    assert status.state is ServiceState.NOT_FOUND
    assert status.detail == "not in gui/501 or system"
    assert [c[2] for c in tools.calls()] == [f"gui/501/{LABEL}", f"system/{LABEL}"]


def test_a_configured_domain_is_the_only_one_asked(tools: FakePlatformTools) -> None:
    _jobs(tools, "gui/501", **{LABEL: launchd_job()})
    status = asyncio.run(_pm(tools, domain="system").inspect(LABEL))
    assert status.state is ServiceState.NOT_FOUND
    assert tools.calls() == [["launchctl", "print", f"system/{LABEL}"]]


def test_without_a_gui_session_the_system_domain_still_answers(tools: FakePlatformTools) -> None:
    """Over SSH, or as a LaunchDaemon, gui/UID does not exist: a miss there, not an error."""
    tools.set_state({"launchd": {"system": {LABEL: launchd_job()}}, "no_domain": ["gui/501"]})
    pm = _pm(tools)
    assert asyncio.run(pm.inspect(LABEL)).domain == "system"
    assert asyncio.run(pm.inspect("com.example.other")).state is ServiceState.NOT_FOUND
    with pytest.raises(ActionFailed, match="exists only while that user is logged in"):
        asyncio.run(pm.enable(LABEL, SPEC))


# ------------------------------------------------------------------ R24 and changes
def test_r24_a_system_daemon_is_found_and_restarted_in_system(tools: FakePlatformTools) -> None:
    _jobs(tools, "system", **{LABEL: launchd_job(pid=4242)})
    pm = _pm(tools)
    found = asyncio.run(pm.inspect(LABEL))
    assert (found.state, found.domain) == (ServiceState.RUNNING, "system")
    asyncio.run(pm.restart(LABEL))
    kickstarts = [c for c in tools.calls() if c[1] == "kickstart"]
    assert kickstarts == [["launchctl", "kickstart", "-k", f"system/{LABEL}"]]
    assert not [c for c in tools.calls() if c[1] != "print" and "gui/501" in c[-1]]
    after = asyncio.run(pm.inspect(LABEL))
    assert (after.state, after.domain) == (ServiceState.RUNNING, "system")
    assert after.pid not in (None, 4242)


def test_restart_gives_a_new_pid_and_starts_a_stopped_job(tools: FakePlatformTools) -> None:
    _jobs(tools, "gui/501", **{LABEL: launchd_job("not running", last_exit=0)})
    pm = _pm(tools, domain="gui")
    asyncio.run(pm.restart(LABEL))
    first = asyncio.run(pm.inspect(LABEL))
    asyncio.run(pm.restart(LABEL))
    second = asyncio.run(pm.inspect(LABEL))
    assert first.state is second.state is ServiceState.RUNNING
    assert first.pid is not None
    assert second.pid not in (None, first.pid)
    assert tools.calls()[0] == ["launchctl", "kickstart", "-k", f"gui/501/{LABEL}"]


def test_restart_of_an_unknown_label_fails_and_says_where_it_looked(
    tools: FakePlatformTools,
) -> None:
    with pytest.raises(ActionFailed, match="not loaded in gui/501 or system"):
        asyncio.run(_pm(tools).restart(LABEL))
    with pytest.raises(ActionFailed, match="exited 113"):
        asyncio.run(_pm(tools, domain="gui").restart(LABEL))


def test_stop_sends_sigterm_and_leaves_the_job_loaded(tools: FakePlatformTools) -> None:
    _jobs(tools, "system", **{LABEL: launchd_job()})
    pm = _pm(tools)
    asyncio.run(pm.stop(LABEL))
    assert ["launchctl", "kill", "SIGTERM", f"system/{LABEL}"] in tools.calls()
    stopped = asyncio.run(pm.inspect(LABEL))
    assert (stopped.state, stopped.domain) == (ServiceState.STOPPED, "system")
    assert "last terminating signal = Terminated: 15" in stopped.detail  # an operator's stop
    assert stopped.start_command == f"launchctl kickstart system/{LABEL}"
    asyncio.run(pm.stop(LABEL))  # not running: "No such process" is already stopped
    asyncio.run(pm.restart(LABEL))  # still loaded: kickstart finds it
    assert asyncio.run(pm.inspect(LABEL)).state is ServiceState.RUNNING


def test_list_filters_the_callers_domain_by_pattern(tools: FakePlatformTools) -> None:
    _jobs(
        tools,
        "gui/501",
        **{
            "com.example.worker": launchd_job(pid=11),
            "com.example.cron": launchd_job("not running", last_exit=2),
            "com.example.idle": launchd_job("not running", last_exit=0),
            "org.other.thing": launchd_job(),
        },
    )
    listed = asyncio.run(_pm(tools).list("com.example.*"))
    assert [(s.label, s.state, s.pid, s.domain, s.start_command) for s in listed] == [
        ("com.example.worker", ServiceState.RUNNING, 11, "gui/501", ""),
        ("com.example.cron", ServiceState.FAILED, None, "gui/501", ""),
        (
            "com.example.idle",
            ServiceState.STOPPED,
            None,
            "gui/501",
            "launchctl kickstart gui/501/com.example.idle",
        ),
    ]
    assert tools.calls() == [["launchctl", "list"]]


# ------------------------------------------------------------------ files, enable, disable
def test_service_file_is_a_plist_with_every_key(tools: FakePlatformTools) -> None:
    file = _pm(tools).service_file(SPEC)
    assert file.path == tools.home / "Library" / "LaunchAgents" / f"{LABEL}.plist"
    assert file.domain == "gui/501"
    assert plistlib.loads(file.text.encode()) == {
        "Label": LABEL,
        "ProgramArguments": ["/usr/local/bin/worker", "--name", "a b"],
        "WorkingDirectory": "/srv/worker",
        "EnvironmentVariables": {"MODE": "prod", "QUOTE": 'say "hi"'},
        "StandardOutPath": "/var/log/worker.out",
        "StandardErrorPath": "/var/log/worker.err",
        "RunAtLoad": True,
        "KeepAlive": True,
    }
    assert tools.calls() == []


def test_a_system_service_file_is_a_launch_daemon(tools: FakePlatformTools) -> None:
    file = _pm(tools, domain="system").service_file(SPEC)
    assert file.path == Path("/Library/LaunchDaemons") / f"{LABEL}.plist"
    assert file.domain == "system"


def test_enable_then_disable(tools: FakePlatformTools) -> None:
    pm = _pm(tools)
    asyncio.run(pm.enable(LABEL, SPEC))
    plist = tools.home / "Library" / "LaunchAgents" / f"{LABEL}.plist"
    assert plist.read_text() == pm.service_file(SPEC).text
    target = f"gui/501/{LABEL}"
    assert tools.calls() == [
        ["launchctl", "bootout", target],
        ["launchctl", "enable", target],
        ["launchctl", "bootstrap", "gui/501", str(plist)],
        ["launchctl", "kickstart", target],
    ]
    running = asyncio.run(pm.inspect(LABEL))
    assert (running.state, running.domain) == (ServiceState.RUNNING, "gui/501")

    asyncio.run(pm.disable(LABEL))
    assert tools.calls()[-2:] == [
        ["launchctl", "bootout", target],
        ["launchctl", "disable", target],
    ]
    assert asyncio.run(pm.inspect(LABEL)).state is ServiceState.NOT_FOUND
    assert not plist.exists()
    assert tools.state()["launchd_disabled"]["gui/501"] == [LABEL]


def test_enable_again_after_disable_and_over_a_loaded_copy(tools: FakePlatformTools) -> None:
    """A disabled label cannot be bootstrapped (119), a loaded one neither (5): enable copes."""
    pm = _pm(tools)
    asyncio.run(pm.enable(LABEL, SPEC))
    asyncio.run(pm.enable(LABEL, SPEC))  # loaded: booted out, then bootstrapped again
    asyncio.run(pm.disable(LABEL))
    asyncio.run(pm.enable(LABEL, SPEC))
    assert asyncio.run(pm.inspect(LABEL)).state is ServiceState.RUNNING


def test_disable_of_a_job_not_loaded_still_removes_the_plist(tools: FakePlatformTools) -> None:
    pm = _pm(tools)
    plist = pm.service_file(SPEC).path
    plist.parent.mkdir(parents=True)
    plist.write_text("stale")
    asyncio.run(pm.disable(LABEL))
    assert not plist.exists()


# ------------------------------------------------------------------ missing, hanging, denied
def test_a_missing_launchctl_is_tool_missing_at_once(tmp_path: Path) -> None:
    pm = _pm(FakePlatformTools(tmp_path, tools=()))
    started = time.monotonic()
    with pytest.raises(ToolMissing, match="launchctl is not available") as caught:
        asyncio.run(pm.inspect(LABEL))
    assert "(fix: install launchctl, or add its directory to [exec] path)" in str(caught.value)
    with pytest.raises(AdapterUnavailable, match="launchctl"):
        asyncio.run(pm.restart(LABEL))
    assert time.monotonic() - started < 2


def test_a_hanging_launchctl_is_bounded_by_the_timeout(tools: FakePlatformTools) -> None:
    tools.set_state({"launchd": {"gui/501": {LABEL: launchd_job()}}, "hang": ["launchctl *"]})
    pm = _pm(tools, timeout_s=0.5)
    started = time.monotonic()
    status = asyncio.run(pm.inspect(LABEL))
    assert status.state is ServiceState.UNKNOWN
    assert "no answer within 0.5s" in status.detail
    with pytest.raises(ActionFailed, match=r"no answer within 0\.5s"):
        asyncio.run(_pm(tools, domain="gui", timeout_s=0.5).restart(LABEL))
    assert time.monotonic() - started < 5
    for pid in tools.pids():
        assert_dead(pid)


def test_a_denied_kickstart_names_the_command_and_the_fix(tools: FakePlatformTools) -> None:
    tools.set_state(
        {
            "launchd": {"system": {LABEL: launchd_job()}},
            "deny": {"launchctl kickstart": "Operation not permitted"},
        }
    )
    with pytest.raises(AdapterUnavailable) as caught:
        asyncio.run(_pm(tools).restart(LABEL))
    message = str(caught.value)
    assert "Could not kickstart service: 1: Operation not permitted" in message
    assert f"launchctl kickstart -k system/{LABEL}" in message
    assert "run Talon as root" in message


def test_sip_refusal_says_so(tools: FakePlatformTools) -> None:
    sip = "Operation not permitted while System Integrity Protection is engaged"
    tools.set_state(
        {"launchd": {"system": {LABEL: launchd_job()}}, "deny": {"launchctl kickstart": sip}}
    )
    with pytest.raises(AdapterUnavailable, match=r"exited 150.*System Integrity Protection guards"):
        asyncio.run(_pm(tools, domain="system").restart(LABEL))


def test_a_denied_print_is_unknown_with_the_reason(tools: FakePlatformTools) -> None:
    tools.set_state({"deny": {"launchctl print": "Operation not permitted"}})
    status = asyncio.run(_pm(tools).inspect(LABEL))
    assert status.state is ServiceState.UNKNOWN
    assert "gui/501: `launchctl print` exited 1" in status.detail
    assert "run Talon as root" in status.detail


def test_a_denied_bootstrap_is_adapter_unavailable(tools: FakePlatformTools) -> None:
    tools.set_state({"deny": {"launchctl bootstrap": "Input/output error"}})
    with pytest.raises(AdapterUnavailable, match=r"Bootstrap failed: 5.*plutil -lint"):
        asyncio.run(_pm(tools).enable(LABEL, SPEC))


def test_agents_dir_defaults_to_home_and_can_be_given(tools: FakePlatformTools) -> None:
    assert _pm(tools).agents_dir == tools.home / "Library" / "LaunchAgents"
    other = tools.root / "agents"
    assert _pm(tools, agents_dir=other).service_file(SPEC).path == other / f"{LABEL}.plist"
    with pytest.raises(ValueError, match="domain"):
        _pm(tools, domain="user")
