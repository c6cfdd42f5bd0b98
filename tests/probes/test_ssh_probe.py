"""The ``ssh`` probe against a REAL sshd on 127.0.0.5, and remote services in one report.

127.0.0.5 stands in for a NAS and 127.0.0.6 for another machine's HTTP
service; both are loopback, so only ``remote = true`` makes them count as
remote (``network_down``). One sshd serves the whole module.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from talon.adapters.process import NullProcessManager
from talon.adapters.runtime import NullRuntime
from talon.adapters.ssh import classify, ssh_argv
from talon.config import load
from talon.config.probes import HttpProbe, ProbeBase, SshProbe
from talon.core import Report, diagnose
from talon.core_config import core_config
from talon.errors import ConfigError, ErrorKind
from talon.node import NodeIdentity
from talon.probes import ProbeContext, Status, run_cycle
from talon.probes import ssh as ssh_probe
from talon.probes.endpoints import plan
from talon.report import Observation
from tests.support import procs
from tests.support import sshd as real_sshd
from tests.support.sshd import Sshd

HOST = "127.0.0.5"
OTHER_MACHINE = "127.0.0.6"


server = real_sshd.server  # one real sshd on HOST for this module (a fixture)


def _spec(server: Sshd, **keys: Any) -> SshProbe:
    fields: dict[str, Any] = {
        "name": "nas",
        "host": server.host,
        "port": server.port,
        "user": server.user,
        "identity_file": str(server.client_key),
        "ssh_config": "none",  # the tests must not read the user's ssh config
        "timeout_secs": 5,
        **keys,
    }
    return SshProbe.model_validate(fields)


def _run(spec: SshProbe, ctx: ProbeContext) -> Observation:
    return asyncio.run(ssh_probe.probe(spec, ctx))


def test_reachable_host_is_ok_and_names_the_path(server: Sshd, ctx: ProbeContext) -> None:
    obs = _run(_spec(server), ctx)
    assert obs.status is Status.OK, obs.message
    target = f"{server.user}@{HOST}:{server.port}"
    assert [(p.path_class, p.target, p.ok) for p in obs.paths] == [("localhost", target, True)]
    assert obs.endpoint_class == "localhost"
    assert obs.detail["exit_code"] == 0
    # accept-new pinned the key in Talon's own file, under the state directory
    pinned = (ctx.identity.state_dir / ssh_probe.KNOWN_HOSTS).read_text()
    assert server.host_public_key() in pinned


def test_remote_marks_the_path_remote(server: Sshd, ctx: ProbeContext) -> None:
    obs = _run(_spec(server, remote=True, command="echo nas up"), ctx)
    assert (obs.status, obs.message, obs.endpoint_class) == (Status.OK, "nas up", "remote")


@pytest.mark.parametrize(("code", "status"), [(1, Status.WARNING), (2, Status.CRITICAL)])
def test_remote_command_follows_the_nagios_convention(
    server: Sshd, ctx: ProbeContext, code: int, status: Status
) -> None:
    # quotes, $ and ; survive: the script reaches the remote sh as one word (R6)
    command = f"""echo "disk at $((90 + {code}))% on '/srv/nas'"; exit {code}"""
    obs = _run(_spec(server, command=command), ctx)
    assert obs.status is status
    assert obs.error_kind is ErrorKind.EXIT_CODE
    assert obs.message == f"disk at {90 + code}% on '/srv/nas'"
    assert obs.detail["exit_code"] == code
    assert obs.endpoint_class is None
    assert obs.paths[0].target.endswith(f"{HOST}:{server.port}")


def test_missing_remote_command_is_unknown(server: Sshd, ctx: ProbeContext) -> None:
    obs = _run(_spec(server, command="no-such-tool-on-the-nas"), ctx)
    assert (obs.status, obs.error_kind) == (Status.UNKNOWN, ErrorKind.NOT_FOUND)
    assert "no-such-tool-on-the-nas" in obs.message


def test_wrong_key_is_an_authentication_failure(server: Sshd, ctx: ProbeContext) -> None:
    obs = _run(_spec(server, identity_file=str(server.wrong_key)), ctx)
    assert (obs.status, obs.error_kind) == (Status.CRITICAL, ErrorKind.DENIED)
    assert obs.detail["ssh_error"] == "auth"
    assert "authentication refused" in obs.message
    assert "Permission denied" in obs.message


def test_nothing_listening_is_refused(ctx: ProbeContext) -> None:
    port = procs.free_port(HOST)
    spec = SshProbe(name="nas", host=HOST, port=port, ssh_config="none", timeout_secs=5)
    obs = _run(spec, ctx)
    assert (obs.status, obs.error_kind) == (Status.CRITICAL, ErrorKind.REFUSED)
    assert obs.paths[0].target == f"{HOST}:{port}"  # no user set: ssh's own


def test_a_port_that_never_speaks_times_out_within_the_bound(ctx: ProbeContext) -> None:
    with procs.silent_listener(HOST) as port:
        spec = SshProbe(name="nas", host=HOST, port=port, ssh_config="none", timeout_secs=1.5)
        obs = _run(spec, ctx)
    assert (obs.status, obs.error_kind) == (Status.CRITICAL, ErrorKind.TIMEOUT)
    # ssh's ConnectTimeout (1 s) or Talon's own kill (1.5 s): never ssh's default of minutes
    assert obs.detail["duration_ms"] < 1500 + 1000


def test_changed_host_key_is_refused_with_the_fix(
    server: Sshd, ctx: ProbeContext, tmp_path: Path
) -> None:
    from tests.support.sshd import keygen

    impostor = keygen(tmp_path / "impostor").with_suffix(".pub").read_text().split()[:2]
    known = tmp_path / "known_hosts"
    known.write_text(f"[{HOST}]:{server.port} {' '.join(impostor)}\n")
    obs = _run(_spec(server, known_hosts_file=str(known)), ctx)
    assert (obs.status, obs.error_kind) == (Status.CRITICAL, ErrorKind.DENIED)
    assert obs.detail["ssh_error"] == "host_key_changed"
    assert "has CHANGED" in obs.message
    assert f'ssh-keygen -f "{known}" -R "[{HOST}]:{server.port}"' in obs.message


def test_strict_yes_refuses_an_unknown_host(
    server: Sshd, ctx: ProbeContext, tmp_path: Path
) -> None:
    known = tmp_path / "empty_known_hosts"
    known.write_text("")
    spec = _spec(server, known_hosts_file=str(known), strict_host_key_checking="yes")
    obs = _run(spec, ctx)
    assert (obs.error_kind, obs.detail["ssh_error"]) == (ErrorKind.DENIED, "host_key_unknown")
    assert str(known) in obs.message
    known.write_text(f"[{HOST}]:{server.port} {server.host_public_key()}\n")
    assert _run(spec, ctx).status is Status.OK


def test_missing_ssh_binary_is_unknown_with_the_reason(
    server: Sshd, identity: NodeIdentity, tmp_path: Path
) -> None:
    """F26: no ssh client is this node's tooling (``tool_missing``), never the host down."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    bare = ProbeContext(identity, NullRuntime(), NullProcessManager(), {"PATH": str(empty)})
    obs = _run(_spec(server), bare)
    assert (obs.status, obs.error_kind) == (Status.UNKNOWN, ErrorKind.TOOL_MISSING)
    assert "ssh is not available" in obs.message
    assert f"(PATH={empty})" in obs.message
    assert "fix: install the OpenSSH client" in obs.message


def test_argv_is_batch_mode_and_one_word(server: Sshd, ctx: ProbeContext) -> None:
    spec = _spec(server, command="df -h /srv/nas | tail -1", ssh_options=["ServerAliveInterval=5"])
    argv = ssh_probe.command(spec, ctx, Path("/state/ssh known hosts"))
    assert argv[:5] == ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=4"]
    assert argv[-3:] == ["--", f"{server.user}@{HOST}", "sh -c 'df -h /srv/nas | tail -1'"]
    assert 'UserKnownHostsFile="/state/ssh known hosts"' in argv
    assert argv.index("ServerAliveInterval=5") > argv.index("StrictHostKeyChecking=accept-new")
    # the remote runtime builds its ssh the same way
    assert ssh_argv("ops@node1", "true", timeout_s=5, options=["-p", "2222"])[-4:] == [
        "2222",
        "--",
        "ops@node1",
        "sh -c true",
    ]


def test_classify_reads_what_ssh_says() -> None:
    cases = {
        "ssh: Could not resolve hostname nas.invalid: Name or service not known": ErrorKind.DNS,
        "ssh: connect to host 10.9.9.9 port 22: No route to host": ErrorKind.UNREACHABLE,
        "Connection closed by 127.0.0.5 port 22": ErrorKind.RESET,
        "ssh: connect to host 127.0.0.5 port 22: Connection timed out": ErrorKind.TIMEOUT,
    }
    for said, kind in cases.items():
        assert classify(said + "\r\n", "nas:22").kind is kind, said
    bad = classify("command-line line 0: Bad configuration option: nope\r\n", "nas:22")
    assert bad.reason == "config"


# --- the services file ------------------------------------------------------------------


def _write(dir: Path, services: str) -> Path:
    dir.mkdir(parents=True, exist_ok=True)
    (dir / "config.toml").write_text("")
    (dir / "services.toml").write_text(services)
    return dir / "config.toml"


def test_services_file_ssh_section_and_its_defaults(tmp_path: Path, identity: NodeIdentity) -> None:
    path = _write(tmp_path, '[ssh.nas]\nhost = "nas.lan"\nuser = "backup"\n')
    (probe,) = load(path, identity=identity).probes
    assert isinstance(probe, SshProbe)
    assert (probe.key, probe.port, probe.command, probe.layer, probe.probe_class) == (
        "ssh.nas",
        22,
        "true",
        "host",
        "infra",
    )
    assert probe.strict_host_key_checking == "accept-new"
    assert probe.timeout_secs == 5  # [probes] service_timeout_secs
    assert probe.target == "backup@nas.lan:22"


@pytest.mark.parametrize(
    ("line", "key", "says"),
    [
        ("port = 70000", "ssh.nas.port", "65535"),
        ("hots = 'nas'", "ssh.nas.hots", "host"),  # did you mean
        ("strict_host_key_checking = 'no'", "ssh.nas.strict_host_key_checking", "accept-new"),
        ("ssh_options = ['BatchMode=no']", "ssh.nas.ssh_options", "never lets ssh prompt"),
        ("ssh_options = ['-v']", "ssh.nas.ssh_options", "KEY=VALUE"),
        ("identity_file = 'keys/nas'", "ssh.nas.identity_file", "absolute path"),
        ("user = '-oProxyCommand=x'", "ssh.nas.user", "not a user name"),
    ],
)
def test_bad_ssh_keys_give_a_clear_error(
    tmp_path: Path, identity: NodeIdentity, line: str, key: str, says: str
) -> None:
    path = _write(tmp_path, f'[ssh.nas]\nhost = "nas.lan"\n{line}\n')
    with pytest.raises(ConfigError) as info:
        load(path, identity=identity)
    problems = [p for p in info.value.problems if p.key == key]
    assert problems, info.value
    rendered = problems[0].render()
    assert rendered.startswith(f"{tmp_path / 'services.toml'}:3 [{key}]")
    assert says in rendered
    assert "fix:" in rendered


def test_a_missing_identity_file_is_a_warning(tmp_path: Path, identity: NodeIdentity) -> None:
    missing_key = tmp_path / "no-such-key"
    path = _write(tmp_path, f'[ssh.nas]\nhost = "nas.lan"\nidentity_file = "{missing_key}"\n')
    warnings = load(path, identity=identity).warnings
    assert any("ssh.nas" in w and str(missing_key) in w for w in warnings), warnings


def test_a_host_is_required(tmp_path: Path, identity: NodeIdentity) -> None:
    with pytest.raises(ConfigError) as info:
        load(_write(tmp_path, "[ssh.nas]\nport = 2222\n"), identity=identity)
    assert [p.key for p in info.value.problems] == ["ssh.nas.host"]


# --- remote targets and network_down ----------------------------------------------------


def test_remote_false_is_lan_for_a_non_loopback_address() -> None:
    """Path classes (pure): what an http/tcp/ssh target on another machine is called."""
    assert plan("10.0.0.9", 22, None, None, None)[0].path_class == "remote"
    assert plan("10.0.0.9", 22, None, None, False)[0].path_class == "lan"
    assert plan(OTHER_MACHINE, 80, None, None, False)[0].path_class == "localhost"
    assert plan(OTHER_MACHINE, 80, None, None, True)[0].path_class == "remote"


def test_unreachable_ssh_and_http_remotes_are_network_down(
    ctx: ProbeContext, identity: NodeIdentity, farm: tuple[str, int]
) -> None:
    """Every remote target (a NAS over ssh, a service over http) unreachable while the
    local ones answer: the network, not each service (F17)."""
    from talon.config.models import TalonConfig

    with procs.refusing_port(HOST) as dead:
        probes: list[ProbeBase] = [
            HttpProbe(name="hub", url=f"http://127.0.0.1:{farm[1]}/ok", critical=True),
            SshProbe(name="nas", host=HOST, port=dead, remote=True, ssh_config="none"),
            HttpProbe(name="wiki", url=f"http://{OTHER_MACHINE}:{dead}/", remote=True),
        ]
        report = asyncio.run(run_cycle(probes, ctx))  # type: ignore[arg-type]
    by_key = {r.key: r for r in report.results}
    assert by_key["ssh.nas"].paths[0].path_class == "remote"
    assert by_key["ssh.nas"].error_kind is ErrorKind.REFUSED
    config = TalonConfig().model_copy(update={"service_probes": tuple(probes)})
    found = diagnose(Report(report.results), report.finished_at, _core(config, ctx))
    assert [f.fault.value for f in found.roots] == ["network_down"]


def test_a_refused_ssh_key_is_never_rbac_drift(
    server: Sshd, ctx: ProbeContext, farm: tuple[str, int]
) -> None:
    """DENIED in the service layer means Kubernetes RBAC drift for other kinds; an ssh key
    refused by a NAS must never make Talon apply an RBAC manifest."""
    from talon.config.models import TalonConfig

    probes: list[ProbeBase] = [
        HttpProbe(name="hub", url=f"http://127.0.0.1:{farm[1]}/ok"),
        _spec(server, identity_file=str(server.wrong_key), layer="service", critical=True),
    ]
    report = asyncio.run(run_cycle(probes, ctx))  # type: ignore[arg-type]
    assert report.results[1].error_kind is ErrorKind.DENIED
    config = TalonConfig().model_copy(update={"service_probes": tuple(probes)})
    found = diagnose(Report(report.results), report.finished_at, _core(config, ctx))
    assert [f.fault.value for f in found.roots] == ["service_down"]


# --- one report: the hub, another machine, and storage, through `talon check` ----------


def test_one_check_covers_hub_remote_machine_and_storage(
    server: Sshd, farm: tuple[str, int], tmp_path: Path
) -> None:
    with procs.farm(f"{OTHER_MACHINE}:0") as [(other, other_port)]:
        path = _write(
            tmp_path,
            f"""
[http.hub_api]                        # a service on this machine (the hub)
url = "http://127.0.0.1:{farm[1]}/health"
body_contains = '"ok":true'
critical = true

[http.wiki]                           # a service on another machine on the LAN
url = "http://{other}:{other_port}/ok"
remote = false
critical = true

[ssh.nas]                             # storage: reachable, and its share mounted
host = "{HOST}"
port = {server.port}
user = "{server.user}"
identity_file = "{server.client_key}"
ssh_config = "none"
command = "test -d / && echo share mounted"
remote = true
""",
        )
        env = {k: v for k, v in os.environ.items() if k != "TALON_CONFIG"}
        env |= {"TALON_STATE_DIR": str(tmp_path / "state"), "NODE_ID": "hub"}
        done = subprocess.run(
            [sys.executable, "-m", "talon", "-c", str(path), "check", "--json"],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
    report = json.loads(done.stdout)
    schema = json.loads(resources.files("talon.schemas").joinpath("check.schema.json").read_text())
    jsonschema.validate(report, schema)
    assert done.returncode == report["exit_code"] == 0, done.stdout + done.stderr
    probes = {p["key"]: p for p in report["probes"]}
    assert {k: p["status"] for k, p in probes.items()} == {
        "http.hub_api": "ok",
        "http.wiki": "ok",
        "ssh.nas": "ok",
    }
    wiki = probes["http.wiki"]
    assert wiki["paths"][0]["target"] == f"{other}:{other_port}"
    # a loopback address stays "localhost" even with remote = false; a LAN address is "lan"
    assert wiki["endpoint_class"] == wiki["paths"][0]["path_class"] == "localhost"
    nas = probes["ssh.nas"]
    assert (nas["kind"], nas["layer"], nas["class"], nas["message"]) == (
        "ssh",
        "host",
        "infra",
        "share mounted",
    )
    assert nas["endpoint_class"] == "remote"
    assert nas["paths"][0]["target"] == f"{server.user}@{HOST}:{server.port}"
    assert report["diagnosis"]["healthy"] is True
    assert (tmp_path / "state" / ssh_probe.KNOWN_HOSTS).is_file()


def test_check_table_shows_the_ssh_probe(server: Sshd, tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        f'[ssh.nas]\nhost = "{HOST}"\nport = {server.port}\nuser = "{server.user}"\n'
        f'identity_file = "{server.client_key}"\nssh_config = "none"\ncommand = "exit 1"\n',
    )
    env = {k: v for k, v in os.environ.items() if k != "TALON_CONFIG"}
    env |= {"TALON_STATE_DIR": str(tmp_path / "state"), "COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, "-m", "talon", "-c", str(path), "check"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 1, done.stdout + done.stderr  # a warning is never critical
    assert "ssh.nas" in done.stdout
    assert "warning" in done.stdout
    assert f"exit 1 on {server.user}@{HOST}:{server.port}" in done.stdout


def _core(config: Any, ctx: ProbeContext) -> Any:
    """The core's config for this node, with what its adapters declare."""
    return core_config(config, "n", ctx.runtime, ctx.process_manager)
