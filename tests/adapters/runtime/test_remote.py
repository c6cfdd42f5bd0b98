"""RemoteRuntime against a REAL sshd on 127.0.0.5 and the real OpenSSH client.

The "remote machine" is this one: ``tests/support/sshd.py`` lets the test's own
user in with a key made for the module, and the remote login shell is that
user's real shell, so R6 is tested where it bites: OpenSSH joins the command
words with spaces and a real shell splits them again. The options go through
``ssh_options`` as an operator writes ``[runtime] ssh_options``: the port, the
key, a known_hosts file that pins the server's key, strict checking, and
``-F none`` so the user's own ssh config is never read. One sshd serves the module.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from talon.adapters.command import exec_env, run_command
from talon.adapters.runtime.remote import RemoteRuntime
from talon.errors import AdapterUnavailable
from tests.adapters.runtime.fakes import TRICKY_OUTPUT, TRICKY_SCRIPT
from tests.support import procs
from tests.support import sshd as real_sshd
from tests.support.sshd import Sshd

HOST = "127.0.0.5"


server = real_sshd.server  # one real sshd on HOST for this module (a fixture)


@pytest.fixture(scope="module")
def known_hosts(server: Sshd, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The server's key pinned, as an operator pins a machine's key before trusting it."""
    return server.pin(tmp_path_factory.mktemp("known") / "known_hosts")


def _env() -> dict[str, str]:
    """This machine's PATH (the real ssh); no agent, so only the configured key is offered."""
    env = exec_env()
    env.pop("SSH_AUTH_SOCK", None)
    return env


def _remote(
    server: Sshd, known_hosts: Path, *, port: int | None = None, timeout_s: float = 5.0
) -> RemoteRuntime:
    return RemoteRuntime(
        _env(),
        host=f"{server.user}@{HOST}",
        ssh_options=server.ssh_options(known_hosts, port),
        timeout_s=timeout_s,
    )


def _local_uptime() -> float:
    return float(Path("/proc/uptime").read_text().split()[0])


def _ssh_children(port: int) -> list[int]:
    """Live ``ssh`` processes this test process started for ``port`` (by /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        state, ppid = stat.rsplit(") ", 1)[1].split()[:2]
        if (
            int(ppid) == os.getpid()
            and state != "Z"
            and argv[0].endswith(b"ssh")
            and str(port).encode() in argv
        ):
            found.append(int(entry.name))
    return found


async def _healthy_watching_ssh(runtime: RemoteRuntime, port: int) -> tuple[bool, list[int]]:
    """``is_healthy()``, noting the pid of every ssh it starts while it runs."""
    seen: list[int] = []

    async def watch() -> None:
        while True:
            seen.extend(pid for pid in _ssh_children(port) if pid not in seen)
            await asyncio.sleep(0.01)

    watcher = asyncio.create_task(watch())
    try:
        return await runtime.is_healthy(), seen
    finally:
        watcher.cancel()


def test_argv_is_batch_mode_bounded_and_the_script_is_the_last_word() -> None:
    runtime = RemoteRuntime(
        {}, host="node1", ssh_options=("-p", "2222", "-i", "/k/id"), timeout_s=3.5
    )
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


def test_the_script_survives_the_remote_shell(server: Sshd, known_hosts: Path) -> None:
    """R6 for real: ssh joins words with spaces and the remote login shell splits them again."""
    argv = _remote(server, known_hosts).ssh_command(TRICKY_SCRIPT)
    result = asyncio.run(run_command(argv, timeout=10, env=_env()))
    assert result.stdout.strip() == TRICKY_OUTPUT, result.stderr
    assert result.exit_code == 3  # the script's own exit, not ssh's 255


def test_naive_words_lose_the_script_over_real_ssh(server: Sshd, known_hosts: Path) -> None:
    """The control: ``ssh HOST sh -c SCRIPT`` as separate words loses the script (the R6 bug)."""
    dest = f"{server.user}@{HOST}"
    naive = ["ssh", *server.ssh_options(known_hosts), "--", dest, "sh", "-c", TRICKY_SCRIPT]
    result = asyncio.run(run_command(naive, timeout=10, env=_env()))
    # connected (not ssh's 255): the login shell split the joined line at its ";", so
    # ``sh -c printf`` ran without its format and words, then ``echo`` and ``exit 3`` alone
    assert result.exit_code == 3, result.stderr
    assert result.stdout.strip() == ""
    assert "printf" in result.stderr


def test_health_and_uptime_over_ssh(server: Sshd, known_hosts: Path) -> None:
    runtime = _remote(server, known_hosts)
    assert asyncio.run(runtime.is_healthy()) is True, runtime.health_detail
    assert runtime.health_detail == "the VM's shell runs commands"
    before = _local_uptime()
    uptime = asyncio.run(runtime.uptime_s())
    after = _local_uptime()
    # the remote is this machine: its /proc/uptime, read between two local readings
    assert isinstance(uptime, float)
    assert 0 < before <= uptime <= after


def test_an_unreachable_host_is_unhealthy_with_ssh_s_words(server: Sshd, known_hosts: Path) -> None:
    with procs.refusing_port(HOST) as closed:
        runtime = _remote(server, known_hosts, port=closed)
        assert asyncio.run(runtime.is_healthy()) is False
        assert "exited 255" in runtime.health_detail
        assert f"connect to host {HOST} port {closed}: Connection refused" in runtime.health_detail
        assert asyncio.run(runtime.uptime_s()) is None


def test_no_force_cycle_and_the_configured_address(tmp_path: Path) -> None:
    # no ssh on PATH: whatever these answer, they answer without running it
    bare = {"PATH": str(tmp_path)}
    with pytest.raises(AdapterUnavailable, match="does not power-cycle node1"):
        asyncio.run(RemoteRuntime(bare, host="node1").force_cycle())
    with pytest.raises(AdapterUnavailable, match="no forwarder"):
        asyncio.run(RemoteRuntime(bare, host="node1").restart_forwarding())
    assert asyncio.run(RemoteRuntime(bare, host="node1").vm_address()) is None
    configured = RemoteRuntime(bare, host="node1", address="10.0.0.5")
    assert asyncio.run(configured.vm_address()) == "10.0.0.5"


def test_a_missing_ssh_is_adapter_unavailable(tmp_path: Path) -> None:
    with pytest.raises(AdapterUnavailable, match="ssh"):
        asyncio.run(RemoteRuntime({"PATH": str(tmp_path)}, host="node1").is_healthy())


def test_a_host_that_never_speaks_is_killed_at_talon_s_bound(
    server: Sshd, known_hosts: Path
) -> None:
    """A port that accepts and never sends the SSH banner: Talon's own bound (0.8 s, under
    ssh's 1 s ConnectTimeout) kills ssh, and the ssh process is gone afterwards."""
    with procs.silent_listener(HOST) as port:
        runtime = _remote(server, known_hosts, port=port, timeout_s=0.8)
        started = time.monotonic()
        healthy, pids = asyncio.run(_healthy_watching_ssh(runtime, port))
        elapsed = time.monotonic() - started
    assert healthy is False
    assert runtime.health_detail == "`ssh` gave no answer within 0.8s"
    assert elapsed < 0.8 + 2
    assert len(pids) == 1, pids  # the real ssh was seen running, then:
    procs.assert_dead(pids[0])
    assert _ssh_children(port) == []


def test_a_host_that_never_speaks_is_given_up_by_ssh_itself(
    server: Sshd, known_hosts: Path
) -> None:
    """With room (2.5 s), ssh's ConnectTimeout (1 s) covers the banner exchange: ssh gives
    up first and says why, never after TCP's default of minutes."""
    with procs.silent_listener(HOST) as port:
        runtime = _remote(server, known_hosts, port=port, timeout_s=2.5)
        started = time.monotonic()
        healthy, pids = asyncio.run(_healthy_watching_ssh(runtime, port))
        elapsed = time.monotonic() - started
    assert healthy is False
    assert "exited 255" in runtime.health_detail
    # ssh's last words ("Connection timed out during banner exchange" comes the line before)
    assert f"Connection to {HOST} port {port} timed out" in runtime.health_detail
    assert elapsed < 2.5
    assert len(pids) == 1, pids
    procs.assert_dead(pids[0])
