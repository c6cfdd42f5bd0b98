"""SupervisordProcessManager against a real supervisord, over its unix socket and HTTP."""

from __future__ import annotations

import asyncio
import configparser
import json
import re
import shlex
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from supervisor.datatypes import dict_of_key_value_pairs  # type: ignore[import-untyped]

from talon.adapters.process.base import ServiceSpec, ServiceState
from talon.adapters.process.supervisord import (
    SupervisordProcessManager,
    command_value,
    environment_value,
    status_from_info,
)
from talon.errors import ActionFailed, AdapterUnavailable
from tests.support.procs import free_port, refusing_port
from tests.support.supervisord import RealSupervisord, leftovers

SLEEP = shlex.join([sys.executable, "-c", "import time; time.sleep(600)"])
CRASH = shlex.join([sys.executable, "-c", "import sys; sys.exit(1)"])
CRASH_ONCE = """\
import os, sys, time
if not os.path.exists(sys.argv[1]):
    open(sys.argv[1], "w").close()
    sys.exit(1)
time.sleep(600)
"""
DUMP = """\
import json, os, sys, time
with open(sys.argv[1], "w") as out:
    json.dump({"env": dict(os.environ), "argv": sys.argv, "cwd": os.getcwd()}, out)
time.sleep(600)
"""


class Programs:
    """The programs one test adds to the shared supervisord; removed after the test."""

    def __init__(self, sv: RealSupervisord) -> None:
        self.sv = sv
        self.names: list[str] = []

    def add(self, name: str, command: str = SLEEP, wait: str = "", **options: str) -> str:
        self.sv.add_program(name, command, **options)
        self.names.append(name)
        if wait:
            self.sv.wait_state(name, wait)
        return name

    def track(self, name: str) -> str:
        """A program the adapter adds (enable): removed after the test even if it fails."""
        self.names.append(name)
        return name


@pytest.fixture(scope="module")
def sv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealSupervisord]:
    """One supervisord for the module (on the socket and 127.0.0.1); each test adds its own."""
    tmp = tmp_path_factory.mktemp("supervisord")
    with RealSupervisord(tmp, http_port=free_port()) as running:
        yield running


@pytest.fixture
def programs(sv: RealSupervisord) -> Iterator[Programs]:
    added = Programs(sv)
    yield added
    for name in added.names:
        sv.remove_program(name)


@pytest.fixture
def sleeper(programs: Programs, request: pytest.FixtureRequest) -> str:
    """A running program named after the test."""
    name = "s-" + request.node.name.removeprefix("test_")[:40]
    return programs.add(name, wait="RUNNING")


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="tsv-", dir="/tmp"))  # unix socket paths are short
    yield path
    for child in path.iterdir():
        child.unlink()
    path.rmdir()


def manager(sv: RealSupervisord, **kwargs: float) -> SupervisordProcessManager:
    return SupervisordProcessManager({}, url=sv.url, conf_dir=str(sv.conf_dir), **kwargs)


def test_inspect_a_running_program_reports_supervisord_s_child(
    sv: RealSupervisord, sleeper: str
) -> None:
    status = asyncio.run(manager(sv).inspect(sleeper))
    assert status.state is ServiceState.RUNNING
    assert status.pid is not None
    process = psutil.Process(status.pid)
    assert process.ppid() == sv.pid
    assert process.cmdline()[1:] == ["-c", "import time; time.sleep(600)"]
    assert status.domain == sv.url
    assert status.detail.startswith(f"pid {status.pid}, uptime")


def test_inspect_a_stopped_program_and_an_unknown_one(
    sv: RealSupervisord, programs: Programs
) -> None:
    programs.add("idle", autostart="false")
    pm = manager(sv)
    idle = asyncio.run(pm.inspect("idle"))
    assert (idle.state, idle.pid, idle.detail) == (
        ServiceState.STOPPED,
        None,
        "STOPPED: Not started",
    )
    unknown = asyncio.run(pm.inspect("nope"))
    assert unknown.state is ServiceState.NOT_FOUND
    assert unknown.detail == f"supervisord at {sv.url} has no program 'nope'"


def test_stop_stops_it_and_tolerates_a_stopped_one(sv: RealSupervisord, sleeper: str) -> None:
    pm = manager(sv)
    pid = asyncio.run(pm.inspect(sleeper)).pid
    asyncio.run(pm.stop(sleeper))
    assert asyncio.run(pm.inspect(sleeper)).state is ServiceState.STOPPED
    assert leftovers([pid or 0]) == []
    asyncio.run(pm.stop(sleeper))  # NOT_RUNNING is what was asked for
    with pytest.raises(ActionFailed, match=r"supervisord at unix://.* has no program 'ghost'$"):
        asyncio.run(pm.stop("ghost"))


SUPERVISORCTL = Path(sys.executable).with_name("supervisorctl")


def test_supervisorctl_stop_is_an_operators_stop_with_the_command_that_undoes_it(
    sv: RealSupervisord, sleeper: str
) -> None:
    """F28: a human stops it with the real supervisorctl: STOPPED (not FAILED), and the
    status carries the supervisorctl command that starts it again, which works."""
    stop = subprocess.run(
        [str(SUPERVISORCTL), "-s", sv.url, "stop", sleeper],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert stop.returncode == 0, stop.stdout + stop.stderr
    status = asyncio.run(manager(sv).inspect(sleeper))
    assert (status.state, status.pid) == (ServiceState.STOPPED, None)
    assert status.detail.startswith("STOPPED: ")  # supervisord's description: when it stopped
    assert status.start_command == f"supervisorctl -s {sv.url} start {sleeper}"
    argv = [str(SUPERVISORCTL), *shlex.split(status.start_command)[1:]]
    start = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert start.returncode == 0, start.stdout + start.stderr
    assert asyncio.run(manager(sv).inspect(sleeper)).state is ServiceState.RUNNING


def test_a_clean_exit_supervisord_leaves_down_is_stopped_a_bad_one_failed(
    sv: RealSupervisord, programs: Programs
) -> None:
    """EXITED with status 0 (``autorestart = unexpected``: expected, not restarted) is
    stopped; EXITED with another status (left down by ``autorestart = false``) is failed."""
    for name, code, restart in (("done", 0, "unexpected"), ("broke", 3, "false")):
        command = shlex.join([sys.executable, "-c", f"import sys; sys.exit({code})"])
        options = {"autorestart": restart, "exitcodes": "0", "startsecs": "0"}
        programs.add(name, command, wait="EXITED", **options)
    done = asyncio.run(manager(sv).inspect("done"))
    assert (done.state, done.start_command) == (
        ServiceState.STOPPED,
        f"supervisorctl -s {sv.url} start done",
    )
    assert done.detail.startswith("EXITED with status 0 at ")
    broke = asyncio.run(manager(sv).inspect("broke"))
    assert (broke.state, broke.detail, broke.start_command) == (
        ServiceState.FAILED,
        "EXITED with status 3",
        "",
    )


def test_restart_gives_a_new_pid(sv: RealSupervisord, sleeper: str) -> None:
    pm = manager(sv)
    before = asyncio.run(pm.inspect(sleeper)).pid
    asyncio.run(pm.restart(sleeper))
    after = asyncio.run(pm.inspect(sleeper))
    assert after.state is ServiceState.RUNNING
    assert after.pid not in (None, before)
    assert psutil.Process(after.pid or 0).ppid() == sv.pid
    assert leftovers([before or 0]) == []


def test_a_crashing_program_is_failed_and_restart_says_so(
    sv: RealSupervisord, programs: Programs
) -> None:
    programs.add("crasher", CRASH, autostart="false", startretries="1")
    pm = manager(sv)
    with pytest.raises(ActionFailed) as info:
        asyncio.run(pm.restart("crasher"))
    message = str(info.value)
    assert message.startswith("supervisord could not start 'crasher': FATAL: Exited too quickly")
    assert str(sv.tmp / "childlogs" / "crasher.err") in message  # where to look next
    status = asyncio.run(pm.inspect("crasher"))
    assert status.state is ServiceState.FAILED
    assert status.detail.startswith("FATAL: Exited too quickly")


def test_a_crash_looping_program_is_failed_while_supervisord_backs_off(
    sv: RealSupervisord, programs: Programs
) -> None:
    programs.add("looper", CRASH, wait="BACKOFF", startretries="100")
    status = asyncio.run(manager(sv).inspect("looper"))
    # BACKOFF, or STARTING for the instant it retries: RUNNING then, proven by durability checks
    assert status.state in (ServiceState.FAILED, ServiceState.RUNNING)
    with pytest.raises(ActionFailed, match=re.escape("'looper' did not stay up within 3s: still")):
        asyncio.run(manager(sv, timeout_s=3).restart("looper"))


def test_a_program_that_crashes_once_is_restarted(
    sv: RealSupervisord, programs: Programs, tmp_path: Path
) -> None:
    script, marker = tmp_path / "crash_once.py", tmp_path / "crashed-once"
    script.write_text(CRASH_ONCE)
    command = shlex.join([sys.executable, str(script), str(marker)])
    programs.add("flaky", command, autostart="false")
    pm = manager(sv)
    asyncio.run(pm.restart("flaky"))  # the first start fails; supervisord's retry holds
    assert marker.exists()
    status = asyncio.run(pm.inspect("flaky"))
    assert status.state is ServiceState.RUNNING
    assert psutil.Process(status.pid or 0).ppid() == sv.pid


def test_list_filters_with_a_pattern(sv: RealSupervisord, programs: Programs) -> None:
    for name in ("web-a", "web-b", "db"):
        programs.add(name, autostart="false")
    pm = manager(sv)
    webs = asyncio.run(pm.list("web-*"))
    assert sorted(s.label for s in webs) == ["web-a", "web-b"]
    assert {(s.state, s.domain) for s in webs} == {(ServiceState.STOPPED, sv.url)}
    assert {"db", "web-a", "web-b"} <= {s.label for s in asyncio.run(pm.list("*"))}
    assert asyncio.run(pm.list("cache*")) == []


def test_group_labels(sv: RealSupervisord, programs: Programs) -> None:
    sv.add_group("pool", {"w1": SLEEP, "w2": SLEEP})
    programs.track("pool")
    sv.wait_state("pool:w1", "RUNNING")
    sv.wait_state("pool:w2", "RUNNING")
    pm = manager(sv)
    assert [s.label for s in asyncio.run(pm.list("pool:*"))] == ["pool:w1", "pool:w2"]
    assert [s.label for s in asyncio.run(pm.list("w1"))] == ["pool:w1"]
    assert asyncio.run(pm.inspect("pool:w1")).state is ServiceState.RUNNING
    assert asyncio.run(pm.inspect("w1")).state is ServiceState.NOT_FOUND  # its group is pool
    before = {s.label: s.pid for s in asyncio.run(pm.list("pool:*"))}
    asyncio.run(pm.restart("pool:*"))  # the whole group, as supervisorctl spells it
    after = {s.label: s.pid for s in asyncio.run(pm.list("pool:*"))}
    assert all(after[label] not in (None, before[label]) for label in before)


def test_service_file_renders_every_key(tmp_path: Path) -> None:
    spec = ServiceSpec(
        "talon-worker",
        ("/opt/talon/bin/worker", "--name", "a b", "50%"),
        cwd="/srv/work",
        env={"PLAIN": "x", "COMMA": "a,b", "QUOTED": 'say "hi" now', "PCT": "100%", "EMPTY": ""},
        stdout_path="/var/log/w.out",
        stderr_path="/var/log/w.err",
        description="the worker",
    )
    pm = SupervisordProcessManager({}, url="unix:///run/s.sock", conf_dir=str(tmp_path))
    file = pm.service_file(spec)
    assert file.path == tmp_path / "talon-worker.conf"
    assert file.domain == "unix:///run/s.sock"
    assert file.text.startswith("; written by Talon: the worker\n")
    parser = configparser.RawConfigParser()
    parser.read_string(file.text)
    section = dict(parser["program:talon-worker"])
    assert section == {
        "command": "/opt/talon/bin/worker --name 'a b' 50%%",
        "directory": "/srv/work",
        "environment": 'PLAIN="x",COMMA="a,b",QUOTED=\'say "hi" now\',PCT="100%%",EMPTY=""',
        "stdout_logfile": "/var/log/w.out",
        "stderr_logfile": "/var/log/w.err",
        "autostart": "true",
        "autorestart": "true",
        "startsecs": "1",
        "stopasgroup": "true",
        "killasgroup": "true",
    }
    # supervisord's own parser reads the environment back unchanged (after its %% expansion)
    assert dict_of_key_value_pairs(section["environment"].replace("%%", "%")) == spec.env


def test_environment_values_supervisord_cannot_hold_are_refused() -> None:
    assert environment_value({"A": "it's"}) == 'A="it\'s"'
    for value in ("both ' and \" here", '"wrapped"', "'edge", 'say "hi"'):
        with pytest.raises(AdapterUnavailable, match="cannot express the value of V"):
            environment_value({"V": value})
    with pytest.raises(AdapterUnavailable, match="not a valid variable name"):
        environment_value({"NO-DASH": "x"})


def test_service_file_needs_a_conf_dir_and_a_plain_label(tmp_path: Path) -> None:
    spec = ServiceSpec("w", ("/bin/true",))
    bare = SupervisordProcessManager({}, url="unix:///run/s.sock")
    with pytest.raises(
        AdapterUnavailable, match=re.escape("set [process_manager] supervisord_conf_dir")
    ):
        bare.service_file(spec)
    pm = SupervisordProcessManager({}, url="unix:///run/s.sock", conf_dir=str(tmp_path))
    for label in ("grp:w", "../w", "a b"):
        with pytest.raises(AdapterUnavailable, match="cannot name a supervisord program file"):
            pm.service_file(ServiceSpec(label, ("/bin/true",)))
    with pytest.raises(AdapterUnavailable, match="line break"):
        pm.service_file(ServiceSpec("w", ("/bin/echo", "two\nlines")))
    for cut in ({"V": "a #b"}, {"V": "a ;b"}):  # supervisord's INI reader: an inline comment
        with pytest.raises(AdapterUnavailable, match="part of environment as a comment"):
            pm.service_file(ServiceSpec("w", ("/bin/true",), env=cut))


def test_the_command_survives_supervisord_s_comment_rules() -> None:
    argv = ("sh", "-c", "echo a ; echo b # c", "#x", "50%", "it's", "")
    assert command_value(argv) == "sh -c 'echo a '\\;' echo b '\\#' c' \\#x 50% 'it'\"'\"'s' ''"
    assert shlex.split(command_value(argv)) == list(argv)


def test_enable_and_disable_on_the_live_supervisord(
    sv: RealSupervisord, programs: Programs, tmp_path: Path
) -> None:
    script, out = tmp_path / "dump.py", tmp_path / "dump.json"
    script.write_text(DUMP)
    (tmp_path / "work").mkdir()
    env = {"COMMA": "a,b", "QUOTED": 'say "hi" now', "APOS": "it's", "PCT": "100%", "HASH": "a#b"}
    spec = ServiceSpec(
        "dumper",
        (sys.executable, str(script), str(out), "50% done", "a ; b", "#tag"),
        cwd=str(tmp_path / "work"),
        env=env,
        stdout_path=str(tmp_path / "dumper.out"),
        stderr_path=str(tmp_path / "dumper.err"),
    )
    pm = manager(sv)
    asyncio.run(pm.enable(programs.track("dumper"), spec))
    status = asyncio.run(pm.inspect("dumper"))
    assert status.state is ServiceState.RUNNING
    assert psutil.Process(status.pid or 0).ppid() == sv.pid
    assert (sv.conf_dir / "dumper.conf").read_text() == pm.service_file(spec).text
    seen = json.loads(out.read_text())
    assert {k: seen["env"].get(k) for k in env} == env
    assert seen["argv"][1:] == [str(out), "50% done", "a ; b", "#tag"]
    assert seen["cwd"] == str(tmp_path / "work")

    asyncio.run(pm.disable("dumper"))
    assert asyncio.run(pm.inspect("dumper")).state is ServiceState.NOT_FOUND
    assert not (sv.conf_dir / "dumper.conf").exists()
    assert leftovers([status.pid or 0]) == []
    asyncio.run(pm.disable("dumper"))  # already gone: nothing to do


def test_enable_again_with_a_changed_spec_applies_it(
    sv: RealSupervisord, programs: Programs, tmp_path: Path
) -> None:
    script, out = tmp_path / "dump.py", tmp_path / "dump.json"
    script.write_text(DUMP)
    pm = manager(sv)
    spec = ServiceSpec("redumper", (sys.executable, str(script), str(out)), env={"V": "1"})
    asyncio.run(pm.enable(programs.track("redumper"), spec))
    first = asyncio.run(pm.inspect("redumper")).pid
    asyncio.run(pm.enable("redumper", ServiceSpec(spec.label, spec.argv, env={"V": "2"})))
    second = asyncio.run(pm.inspect("redumper"))
    assert second.state is ServiceState.RUNNING
    assert second.pid not in (None, first)
    assert json.loads(out.read_text())["env"]["V"] == "2"
    asyncio.run(pm.enable("redumper", ServiceSpec(spec.label, spec.argv, env={"V": "2"})))
    assert asyncio.run(pm.inspect("redumper")).pid == second.pid  # unchanged: left running


def test_enable_a_program_that_cannot_start_fails_naming_it(
    sv: RealSupervisord, programs: Programs
) -> None:
    pm = manager(sv)
    spec = ServiceSpec("broken", tuple(shlex.split(CRASH)))
    with pytest.raises(ActionFailed, match=r"could not start 'broken': (FATAL|BACKOFF)"):
        asyncio.run(pm.enable(programs.track("broken"), spec))
    asyncio.run(pm.disable("broken"))
    assert asyncio.run(pm.inspect("broken")).state is ServiceState.NOT_FOUND


def test_enable_into_a_dir_supervisord_does_not_include_says_so(
    sv: RealSupervisord, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "not-included"
    pm = SupervisordProcessManager({}, url=sv.url, conf_dir=str(elsewhere))
    with pytest.raises(
        ActionFailed, match=re.escape(f"needs [include] files = {elsewhere}/*.conf")
    ):
        asyncio.run(pm.enable("w", ServiceSpec("w", tuple(shlex.split(SLEEP)))))
    assert not (elsewhere / "w.conf").exists()  # nothing left half-done


def test_enable_takes_its_file_back_when_supervisord_cannot_reread(
    sv: RealSupervisord, programs: Programs
) -> None:
    bad = sv.conf_dir / "zz-bad.conf"
    bad.write_text("[program:zz-bad]\nautostart = true\n")  # no command: supervisord refuses
    try:
        pm = manager(sv)
        with pytest.raises(
            ActionFailed, match=r"could not reloadConfig\(\): CANT_REREAD: .*zz-bad"
        ):
            asyncio.run(pm.enable(programs.track("victim"), ServiceSpec("victim", ("/bin/true",))))
        assert not (sv.conf_dir / "victim.conf").exists()
        asyncio.run(pm.disable("victim"))  # tolerates the unreadable neighbour
    finally:
        bad.unlink()


def test_over_http_as_over_the_unix_socket(sv: RealSupervisord, sleeper: str) -> None:
    pm = SupervisordProcessManager({}, url=sv.http_url, conf_dir=str(sv.conf_dir))
    status = asyncio.run(pm.inspect(sleeper))
    assert status.state is ServiceState.RUNNING
    assert status.pid == sv.info(sleeper)["pid"]
    assert status.domain == sv.http_url
    asyncio.run(pm.restart(sleeper))
    assert asyncio.run(pm.inspect(sleeper)).pid not in (None, status.pid)
    assert sleeper in {s.label for s in asyncio.run(pm.list("s-*"))}


def test_credentials_from_the_url_or_the_environment_and_never_shown(tmp_path: Path) -> None:
    port = free_port()
    with RealSupervisord(tmp_path, {"sleeper": SLEEP}, port, http_auth=("talon", "s3cr#t")) as sv:
        in_url = SupervisordProcessManager({}, url=f"http://talon:s3cr%23t@127.0.0.1:{port}")
        status = asyncio.run(in_url.inspect("sleeper"))
        assert status.state is ServiceState.RUNNING
        assert status.domain == f"http://127.0.0.1:{port}"
        assert "s3cr" not in repr(in_url)
        env = {"SUPERVISOR_USERNAME": "talon", "SUPERVISOR_PASSWORD": "s3cr#t"}
        from_env = SupervisordProcessManager(env, url=sv.http_url)
        assert asyncio.run(from_env.inspect("sleeper")).state is ServiceState.RUNNING
        for pm in (
            SupervisordProcessManager({}, url=sv.http_url),
            SupervisordProcessManager({}, url=f"http://talon:wrong-pw@127.0.0.1:{port}"),
        ):
            with pytest.raises(AdapterUnavailable, match="refused Talon's credentials") as info:
                asyncio.run(pm.inspect("sleeper"))
            assert "SUPERVISOR_PASSWORD" in str(info.value)
            assert "wrong-pw" not in str(info.value)


def test_supervisord_not_running_is_unavailable_fast(sock_dir: Path) -> None:
    url = f"unix://{sock_dir}/absent.sock"
    started = time.monotonic()
    with pytest.raises(AdapterUnavailable) as info:
        asyncio.run(SupervisordProcessManager({}, url=url).inspect("sleeper"))
    assert str(info.value) == f"no supervisord socket at {url}: is supervisord running? " + (
        "is [process_manager] supervisord_url right?"
    )
    assert time.monotonic() - started < 5
    with refusing_port() as closed:
        refused = f"http://127.0.0.1:{closed}"
        with pytest.raises(
            AdapterUnavailable, match=re.escape(f"cannot connect to supervisord at {refused}")
        ):
            asyncio.run(SupervisordProcessManager({}, url=refused).list("*"))


def test_a_url_that_names_no_supervisord_is_refused_with_the_fix() -> None:
    for url, said in (
        ("tcp://127.0.0.1:9001", "is neither unix:///PATH/supervisor.sock nor http://HOST:PORT"),
        ("127.0.0.1:9001", "is neither unix:///PATH/supervisor.sock nor http://HOST:PORT"),
        ("http://127.0.0.1:99999", "has an invalid port"),
    ):
        with pytest.raises(AdapterUnavailable, match=re.escape(said)) as info:
            asyncio.run(SupervisordProcessManager({}, url=url).inspect("x"))
        assert str(info.value).endswith("(fix: [process_manager] supervisord_url)")


def test_a_supervisord_that_never_answers_is_bounded(sock_dir: Path) -> None:
    path = sock_dir / "silent.sock"
    with socket.socket(socket.AF_UNIX) as silent:
        silent.bind(str(path))
        silent.listen(8)  # the kernel accepts; nobody ever reads or replies
        pm = SupervisordProcessManager({}, url=f"unix://{path}", timeout_s=0.5)
        started = time.monotonic()
        with pytest.raises(
            AdapterUnavailable, match=re.escape(f"at unix://{path} gave no answer in 0.5s")
        ):
            asyncio.run(pm.inspect("sleeper"))
        assert time.monotonic() - started < 10


def test_status_mapping_of_every_supervisord_state() -> None:
    def state(statename: str, **info: object) -> tuple[ServiceState, int | None, str]:
        status = status_from_info("p", {"statename": statename, **info}, "unix:///s")
        return status.state, status.pid, status.detail

    assert state("STARTING", pid=7) == (ServiceState.RUNNING, 7, "STARTING")
    assert state("STOPPING", pid=7) == (ServiceState.STOPPED, 7, "STOPPING")
    assert state("EXITED", exitstatus=0, description="May 01 11:00 AM") == (
        ServiceState.STOPPED,
        None,
        "EXITED with status 0 at May 01 11:00 AM",
    )
    assert state("EXITED", exitstatus=3) == (ServiceState.FAILED, None, "EXITED with status 3")
    assert state("BACKOFF", spawnerr="Exited too quickly") == (
        ServiceState.FAILED,
        None,
        "BACKOFF: Exited too quickly",
    )
    assert state("FATAL", spawnerr="can't find command 'x'")[0] is ServiceState.FAILED
    assert state("UNKNOWN") == (ServiceState.UNKNOWN, None, "supervisord says UNKNOWN")


def test_the_helper_leaves_no_process_behind(tmp_path: Path) -> None:
    with RealSupervisord(tmp_path, {"a": SLEEP, "b": SLEEP}) as sv:
        sv.wait_state("a", "RUNNING")
        sv.wait_state("b", "RUNNING")
        pids = [sv.pid, sv.info("a")["pid"], sv.info("b")["pid"]]
    assert leftovers(pids) == []
    assert not sv.socket.exists()
