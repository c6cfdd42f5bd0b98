"""`talon install` / `talon uninstall`: Talon as a service of the host's process manager.

systemd is real: a ``systemd --user`` manager (tests/support/systemd.py) runs the
installed `talon run`; its ``systemctl`` is the real one, behind a recording shim
so that `--print` can be compared with what was really run. supervisord is real
too, and runs the installed `talon run` until uninstall stops it. launchd cannot
run here: its tool is the fake of tests/support/fake_pm_tools.py. (The system
unit, SIGKILL and KillMode: tests/platform/systemd/test_talon_unit.py.)
"""

from __future__ import annotations

import asyncio
import json
import os
import plistlib
import re
import shlex
import stat
import subprocess
import sys
import time
import xmlrpc.client
from pathlib import Path

import psutil
import pytest

from talon.adapters.process.base import ServiceFile, ServiceSpec, ServiceState, ServiceStatus
from talon.adapters.process.systemd import SystemdProcessManager
from talon.bootstrap.install import (
    default_label,
    install,
    install_plan,
    talon_command,
    uninstall_plan,
    write_private,
)
from talon.bootstrap.starter import StarterFiles
from talon.capabilities import Capability
from talon.node import NodeIdentity
from tests.support import systemd as real
from tests.support.fake_pm import FakePlatformTools
from tests.support.supervisord import RealSupervisord, leftovers
from tests.support.systemd import Scope, alive

user_scope = real.user_scope  # a real systemd user manager (a fixture)
SERVICES = '[script.alive]\ncommand = "echo alive"\n'
LINGER = "loginctl enable-linger"


class Node:
    """A tmp node: its TALON_* directories, its config, and `talon` run against it."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root = root
        self.config = root / "talon-config" / "config.toml"
        self.state = root / "talon-state"
        self.log = root / "talon-state" / "log"
        self.env = {k: v for k, v in env.items() if k != "TALON_CONFIG"} | {
            "TALON_CONFIG_DIR": str(self.config.parent),
            "TALON_STATE_DIR": str(self.state),
            "TALON_LOG_DIR": str(self.log),
            "NODE_ID": "install-test",
        }

    def write(self, process_manager: str, exec_path: Path | None = None) -> None:
        # Talon puts the system directories before its own PATH (R1): a shim or a fake
        # tool must be named in [exec] path, as an operator would name a tool's odd location.
        path = f'[exec]\npath = ["{exec_path}"]\n\n' if exec_path else ""
        text = f"check_interval_secs = 60\n\n[health]\nenabled = false\n\n{path}{process_manager}"
        write_private(self.config, text)
        write_private(self.config.parent / "services.toml", SERVICES)

    def talon(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "talon", *args],
            capture_output=True,
            text=True,
            timeout=60,
            env=self.env,
            cwd=self.root,
        )


def shown(stdout: str, path: Path) -> str:
    """The text `--print` showed for ``path``."""
    found = re.search(rf"--- {re.escape(str(path))} ---\n(.*?)\n--- end of ", stdout, re.S)
    assert found, stdout
    return found.group(1) + "\n"


def changing(calls: list[list[str]]) -> list[str]:
    """The tool calls that change something (not the lookups)."""
    return [shlex.join(c) for c in calls if c[1:2] != ["show"] and c[1:2] != ["print"]]


# ------------------------------------------------------------------ systemd (a real user manager)


class Recorder:
    """``systemctl`` as a shim that logs each argv, then runs the real tool."""

    def __init__(self, root: Path) -> None:
        self.bin = root / "bin"
        self.bin.mkdir(parents=True)
        self.log = root / "systemctl.jsonl"
        shim = self.bin / "systemctl"
        script = (
            "import json, os, sys\n"
            f"with open({str(self.log)!r}, 'a') as f:\n"
            "    f.write(json.dumps(['systemctl', *sys.argv[1:]]) + '\\n')\n"
            "os.execv('/usr/bin/systemctl', ['systemctl', *sys.argv[1:]])\n"
        )
        shim.write_text(f"#!{sys.executable}\n{script}")
        shim.chmod(0o755)

    def calls(self) -> list[list[str]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]


@pytest.fixture
def recorder(tmp_path: Path) -> Recorder:
    return Recorder(tmp_path / "shim")


@pytest.fixture
def systemd_node(tmp_path: Path, user_scope: Scope, recorder: Recorder) -> Node:
    node = Node(tmp_path, {**os.environ, **user_scope.env})
    node.write('[process_manager]\nkind = "systemd"\nsystemd_scope = "user"\n', recorder.bin)
    return node


def _main_pid(scope: Scope, label: str) -> int:
    return scope.running_pid(label)


def test_install_print_shows_the_unit_and_the_commands_and_changes_nothing(
    systemd_node: Node, user_scope: Scope, recorder: Recorder
) -> None:
    label = user_scope.label("talon")
    unit = user_scope.unit_dir / f"{label}.service"
    done = systemd_node.talon("install", "--print", "--label", label)
    assert done.returncode == 0, done.stderr
    text = shown(done.stdout, unit)
    command = talon_command(systemd_node.config)
    assert f"ExecStart={shlex.join(command)}" in text
    assert f"WorkingDirectory={systemd_node.state}" in text
    assert f"StandardOutput=append:{systemd_node.log / 'service.out.log'}" in text
    assert f'Environment="TALON_STATE_DIR={systemd_node.state}"' in text
    assert "KillMode=process" in text
    assert f"systemctl --user enable --no-ask-password --now {label}.service" in done.stdout
    assert "(exists: used as it is)" in done.stdout
    assert LINGER in done.stdout  # a user unit: it says what boot needs
    assert "Nothing was written (--print)." in done.stdout
    assert not unit.exists()
    assert changing(recorder.calls()) == []
    assert user_scope.show(label)["LoadState"] == "not-found"
    assert not systemd_node.state.exists()


def test_install_runs_talon_in_the_user_manager_and_uninstall_reverses_it(
    systemd_node: Node, user_scope: Scope, recorder: Recorder
) -> None:
    label = user_scope.label("talon")
    unit = user_scope.unit_dir / f"{label}.service"
    printed = systemd_node.talon("install", "--print", "--label", label).stdout
    done = systemd_node.talon("install", "--label", label)
    assert done.returncode == 0, done.stderr
    assert unit.read_text() == shown(printed, unit)
    calls = recorder.calls()
    assert ["systemctl", "--user", "daemon-reload", "--no-ask-password"] in calls
    enable = ["systemctl", "--user", "enable", "--no-ask-password", "--now", f"{label}.service"]
    assert enable in calls
    assert all(line in printed for line in changing(calls))  # --print told the truth
    assert "Note: This is a user unit" in done.stdout
    assert f"{LINGER} " in done.stdout
    pid = _main_pid(user_scope, label)
    assert psutil.Process(pid).cmdline() == list(talon_command(systemd_node.config))
    assert user_scope.show(label)["UnitFileState"] == "enabled"
    assert (user_scope.unit_dir / "default.target.wants" / f"{label}.service").is_symlink()
    deadline = time.monotonic() + 30  # the real daemon runs its first cycle
    while not (systemd_node.state / "daemon.json").exists():
        assert time.monotonic() < deadline, (systemd_node.log / "service.err.log").read_text()
        time.sleep(0.1)

    before = len(recorder.calls())
    preview = systemd_node.talon("uninstall", "--print", "--label", label)
    assert preview.returncode == 0, preview.stderr
    assert "Nothing was changed (--print)." in preview.stdout
    assert unit.exists()
    assert changing(recorder.calls()[before:]) == []
    assert alive(pid)

    gone = systemd_node.talon("uninstall", "--label", label)
    assert gone.returncode == 0, gone.stderr
    assert not unit.exists()
    after = recorder.calls()[before:]
    disable = ["systemctl", "--user", "disable", "--no-ask-password", "--now", f"{label}.service"]
    assert disable in after
    assert all(line in preview.stdout for line in changing(after) if "rm" not in line)
    assert user_scope.show(label)["LoadState"] == "not-found"
    assert not alive(pid)  # Talon stopped on SIGTERM (it has no children here)
    # like a package manager: the configuration, state and logs stay
    assert systemd_node.config.is_file()
    assert systemd_node.state.is_dir()
    assert f"leave {systemd_node.config}" in gone.stdout


def test_uninstall_purge_removes_the_config_and_talons_own_directories(
    systemd_node: Node, user_scope: Scope
) -> None:
    label = user_scope.label("talon")
    assert systemd_node.talon("install", "--label", label).returncode == 0
    pid = _main_pid(user_scope, label)
    done = systemd_node.talon("uninstall", "--purge", "--label", label)
    assert done.returncode == 0, done.stderr
    assert not alive(pid)
    assert not (user_scope.unit_dir / f"{label}.service").exists()
    assert not systemd_node.config.exists()
    assert not (systemd_node.config.parent / "services.toml").exists()
    assert not systemd_node.config.parent.exists()  # Talon's config dir, emptied
    assert not systemd_node.state.exists()  # the log dir was inside it
    assert systemd_node.root.is_dir()


def test_a_directory_whose_name_is_not_talons_survives_purge(
    tmp_path: Path, user_scope: Scope
) -> None:
    node = Node(tmp_path, {**os.environ, **user_scope.env})
    shared = tmp_path / "shared"
    (shared / "someone-elses").mkdir(parents=True)
    node.env["TALON_STATE_DIR"] = str(shared)
    node.write('[process_manager]\nkind = "systemd"\nsystemd_scope = "user"\n')
    done = node.talon("uninstall", "--purge", "--label", user_scope.label("talon"))
    assert done.returncode == 0, done.stderr
    assert (shared / "someone-elses").is_dir()
    assert f"leave {shared}: its name does not say it is Talon's" in done.stdout


def test_refusals_are_one_line_and_exit_1(
    systemd_node: Node, user_scope: Scope, tmp_path: Path
) -> None:
    """No user manager to ask (an XDG_RUNTIME_DIR without its socket): the real tool refuses."""
    (tmp_path / "no-manager").mkdir()
    systemd_node.env["XDG_RUNTIME_DIR"] = str(tmp_path / "no-manager")
    done = systemd_node.talon("install", "--label", user_scope.label("talon"))
    assert done.returncode == 1
    assert done.stderr.startswith("error: install failed: ")
    assert "Failed to connect to bus" in done.stderr
    assert LINGER in done.stderr  # the fix
    assert done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr
    bad = systemd_node.talon("install", "--print", "--label", "no spaces please")
    assert bad.returncode == 1
    assert "Traceback" not in bad.stderr


def test_without_a_process_manager_install_names_the_fix_and_exits_2(tmp_path: Path) -> None:
    node = Node(tmp_path, dict(os.environ))
    node.write('[process_manager]\nkind = "null"\n')
    for command in (("install",), ("install", "--print"), ("uninstall",)):
        done = node.talon(*command)
        assert done.returncode == 2, done
        assert "no process manager to install Talon into" in done.stderr
        assert "set [process_manager] kind" in done.stderr
        assert "supervisord_url" in done.stderr
        assert "Traceback" not in done.stderr
    assert not node.state.exists()


def test_an_invalid_config_is_reported_not_installed(systemd_node: Node) -> None:
    write_private(systemd_node.config, "[process_manager]\nkind = 'systemdd'\n")
    done = systemd_node.talon("install")
    assert done.returncode == 2
    assert "process_manager.kind" in done.stderr
    assert "Traceback" not in done.stderr


# ------------------------------------------------------------------ launchd (fake launchctl)


def test_install_and_uninstall_with_launchd(tmp_path: Path) -> None:
    fake = FakePlatformTools(tmp_path / "pm")
    node = Node(tmp_path, fake.env)
    node.write('[process_manager]\nkind = "launchd"\n', fake.bin)
    label = default_label("launchd")
    plist = fake.home / "Library" / "LaunchAgents" / f"{label}.plist"
    printed = node.talon("install", "--print")
    assert printed.returncode == 0, printed.stderr
    assert not plist.exists()
    done = node.talon("install")
    assert done.returncode == 0, done.stderr
    doc = plistlib.loads(plist.read_bytes())
    assert doc["Label"] == "dev.talon.node"
    assert doc["ProgramArguments"] == list(talon_command(node.config))
    assert doc["WorkingDirectory"] == str(node.state)
    assert doc["KeepAlive"] is True
    domain = f"gui/{os.getuid()}"
    calls = fake.calls()
    assert ["launchctl", "bootstrap", domain, str(plist)] in calls
    assert all(line in printed.stdout for line in changing(calls) if "bootout" not in line)
    assert fake.state()["launchd"][domain][label]["state"] == "running"

    gone = node.talon("uninstall")
    assert gone.returncode == 0, gone.stderr
    assert not plist.exists()
    assert ["launchctl", "bootout", f"{domain}/{label}"] in fake.calls()
    assert label not in fake.state()["launchd"][domain]


# ------------------------------------------------------------------ supervisord (real)


def test_supervisord_really_runs_the_installed_talon_until_uninstall(tmp_path: Path) -> None:
    sv_root = tmp_path / "sv"
    sv_root.mkdir()
    pids: list[int] = []
    with RealSupervisord(sv_root) as sv:
        node = Node(tmp_path, dict(os.environ))
        node.write(
            "[process_manager]\n"
            'kind = "supervisord"\n'
            f'supervisord_url = "{sv.url}"\n'
            f'supervisord_conf_dir = "{sv.conf_dir}"\n'
        )
        try:
            done = node.talon("install")
            assert done.returncode == 0, done.stdout + done.stderr
            info = sv.wait_state("talon", "RUNNING")
            pids.append(int(info["pid"]))
            cmdline = psutil.Process(pids[0]).cmdline()
            assert cmdline[1:] == list(talon_command(node.config))[1:]
            deadline = time.monotonic() + 30  # the real daemon runs its first cycle
            while not (node.state / "daemon.json").exists():
                assert time.monotonic() < deadline, (node.log / "service.err.log").read_text()
                time.sleep(0.1)
            assert (sv.conf_dir / "talon.conf").is_file()

            gone = node.talon("uninstall")
            assert gone.returncode == 0, gone.stdout + gone.stderr
            with pytest.raises(xmlrpc.client.Fault, match="BAD_NAME"):
                sv.info("talon")
            assert not (sv.conf_dir / "talon.conf").exists()
            psutil.wait_procs([psutil.Process(p) for p in leftovers(pids)], timeout=10)
            assert leftovers(pids) == []
        finally:
            for pid in leftovers(pids):  # whatever happened, nothing outlives the test
                psutil.Process(pid).kill()


# ------------------------------------------------------------------ the plan, in-process


class RecordingManager:
    """A ProcessManager that only records: enough to test the plan and its execution."""

    name = "recording"
    capabilities: frozenset[Capability] = frozenset()

    def __init__(self, root: Path) -> None:
        self.root = root
        self.enabled: list[tuple[str, ServiceSpec]] = []
        self.disabled: list[str] = []

    async def list(self, pattern: str) -> list[ServiceStatus]:
        return []

    async def inspect(self, label: str) -> ServiceStatus:
        return ServiceStatus(label, ServiceState.NOT_FOUND)

    async def restart(self, label: str) -> None:
        raise NotImplementedError

    async def stop(self, label: str) -> None:
        raise NotImplementedError

    def service_file(self, spec: ServiceSpec) -> ServiceFile:
        return ServiceFile(self.root / f"{spec.label}.svc", " ".join(spec.argv), "here")

    async def enable(self, label: str, spec: ServiceSpec) -> None:
        self.enabled.append((label, spec))

    async def disable(self, label: str) -> None:
        self.disabled.append(label)


def test_the_plan_creates_only_missing_config_files_and_never_overwrites(
    tmp_path: Path, identity: NodeIdentity
) -> None:
    pm = RecordingManager(tmp_path)
    config = tmp_path / "config" / "config.toml"
    starter = StarterFiles("# new config\n", "# new services\n")
    env = {"TALON_STATE_DIR": str(identity.state_dir), "SECRET_TOKEN": "x"}
    plan = install_plan(config, identity, pm, starter=starter, label="talon", env=env)
    assert [p for p, _ in plan.writes] == [config, config.parent / "services.toml"]
    assert plan.spec.env == {"TALON_STATE_DIR": str(identity.state_dir)}  # nothing else leaks
    assert plan.spec.argv == talon_command(config)
    assert plan.spec.cwd == str(identity.state_dir)

    (config.parent).mkdir(parents=True)
    (config.parent / "services.toml").write_text("# the operator's\n")
    plan = install_plan(config, identity, pm, starter=starter, label="talon", env={})
    assert [p for p, _ in plan.writes] == [config]
    assert plan.keeps == (config.parent / "services.toml",)
    asyncio.run(install(plan, pm))
    assert config.read_text() == "# new config\n"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert (config.parent / "services.toml").read_text() == "# the operator's\n"
    assert pm.enabled == [("talon", plan.spec)]
    assert identity.state_dir.is_dir()

    existing = install_plan(config, identity, pm, starter=None, label="talon", env={})
    assert existing.writes == ()
    assert existing.keeps == ()


def test_the_uninstall_plan_leaves_everything_unless_purged(
    tmp_path: Path, identity: NodeIdentity
) -> None:
    pm = RecordingManager(tmp_path)
    config = tmp_path / "config" / "config.toml"
    write_private(config, "")
    identity.state_dir.mkdir()
    kept = uninstall_plan(config, None, identity, pm, label="x", env={}, purge=False)
    assert kept.removes == ()
    assert [p for p, _ in kept.leaves] == [config, identity.state_dir]
    purged = uninstall_plan(config, None, identity, pm, label="x", env={}, purge=True)
    assert purged.removes == (config,)  # "state" does not say it is Talon's
    assert [p for p, _ in purged.leaves] == [identity.state_dir]


def test_as_root_a_system_unit_as_a_user_a_user_unit_that_says_it_needs_linger(
    tmp_path: Path, identity: NodeIdentity
) -> None:
    """Who runs `talon install` is injected (root=...): this box only has root."""
    env = {"HOME": str(tmp_path / "home")}
    config = tmp_path / "config.toml"

    def plan(root: bool, user: str) -> tuple[ServiceFile, tuple[str, ...], list[str]]:
        pm = SystemdProcessManager(env, root=root)  # systemd_scope = "auto"
        made = install_plan(config, identity, pm, starter=None, label="talon", env={}, user=user)
        return made.service_file, made.notes, made.steps()

    unit, notes, steps = plan(root=False, user="operator")
    assert (unit.path, unit.domain) == (
        tmp_path / "home/.config/systemd/user/talon.service",
        "user",
    )
    assert "WantedBy=default.target" in unit.text
    [note] = notes
    assert "`loginctl enable-linger operator`" in note
    assert "starts only when operator logs in" in note
    assert "systemctl --user enable --no-ask-password --now talon.service" in steps

    unit, notes, steps = plan(root=True, user="root")
    assert (unit.path, unit.domain) == (Path("/etc/systemd/system/talon.service"), "system")
    assert "WantedBy=multi-user.target" in unit.text
    assert notes == ()
    assert "systemctl enable --no-ask-password --now talon.service" in steps
