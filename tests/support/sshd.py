"""A real OpenSSH server on a loopback address, for the ssh probe's tests.

``/usr/sbin/sshd -D -e`` (foreground, log to stderr) with a config, host key
and authorized_keys generated in a temp dir; no PAM, no pid file, StrictModes
off (temp dirs are not a home). As root, sshd needs its privilege-separation
directory (``/run/sshd``, made by the init system on a real host): it is
created if missing. Unprivileged, sshd runs without privilege separation's
chroot and can only log in as the user running it, which is the user the
tests connect as. Stopped by its pid.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import procs

SSHD = "/usr/sbin/sshd"
PRIVSEP_DIR = Path("/run/sshd")


def missing() -> str | None:
    """Why a real sshd cannot run here, or None."""
    for tool in (SSHD, "ssh", "ssh-keygen"):
        if not shutil.which(tool):
            return f"{tool} is not installed (scripts/setup.sh installs openssh-server/-client)"
    if os.geteuid() == 0 and not PRIVSEP_DIR.is_dir():
        try:
            PRIVSEP_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
        except OSError as exc:
            return f"sshd as root needs {PRIVSEP_DIR} and it cannot be created: {exc}"
    return None


def keygen(path: Path) -> Path:
    """A fresh ed25519 key pair without a passphrase; returns the private key."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "talon-test", "-f", str(path)],
        check=True,
        timeout=30,
    )
    return path


@dataclass(frozen=True)
class Sshd:
    host: str
    port: int
    user: str
    client_key: Path  # authorized
    wrong_key: Path  # not authorized
    host_key: Path
    log: Path

    def host_public_key(self) -> str:
        """``TYPE BASE64`` of the server's host key, as a known_hosts line needs it."""
        return " ".join(self.host_key.with_suffix(".pub").read_text().split()[:2])

    def pin(self, known_hosts: Path) -> Path:
        """A known_hosts file that pins this server's key, as an operator pins a machine's."""
        known_hosts.write_text(f"[{self.host}]:{self.port} {self.host_public_key()}\n")
        return known_hosts

    def ssh_options(self, known_hosts: Path, port: int | None = None) -> tuple[str, ...]:
        """``[runtime] ssh_options`` for this server (or another port on its address): its
        port, the authorized key only, its pinned key, and never the user's ssh config."""
        return (
            "-F", "none", "-p", str(self.port if port is None else port),
            "-i", str(self.client_key), "-o", "IdentitiesOnly=yes",
            "-o", f"UserKnownHostsFile={known_hosts}", "-o", "StrictHostKeyChecking=yes",
        )  # fmt: skip


def _banner(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), 0.5) as s:
            s.settimeout(0.5)
            return s.recv(64).startswith(b"SSH-2.0-")
    except OSError:
        return False


@contextmanager
def sshd(root: Path, host: str = "127.0.0.5") -> Iterator[Sshd]:
    root.mkdir(parents=True, exist_ok=True)
    host_key = keygen(root / "host_key")
    client_key = keygen(root / "client_key")
    wrong_key = keygen(root / "wrong_key")
    authorized = root / "authorized_keys"
    authorized.write_text(client_key.with_suffix(".pub").read_text())
    port = procs.free_port(host)
    config = root / "sshd_config"
    config.write_text(
        f"ListenAddress {host}:{port}\n"
        f"HostKey {host_key}\n"
        f"AuthorizedKeysFile {authorized}\n"
        "PidFile none\n"
        "UsePAM no\n"
        "StrictModes no\n"
        "PubkeyAuthentication yes\n"
        "PasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\n"
        "PermitRootLogin prohibit-password\n"
        "PrintMotd no\n"
        "LogLevel VERBOSE\n"
    )
    log = root / "sshd.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(config)], stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 10
        while not _banner(host, port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"sshd did not start: {log.read_text()[-2000:]}")
            time.sleep(0.05)
        yield Sshd(host, port, getpass.getuser(), client_key, wrong_key, host_key, log)
    finally:
        procs.stop(proc)
        procs.assert_dead(proc.pid)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    """One real sshd on 127.0.0.5 for the test module that asks for it (skips if none)."""
    if reason := missing():
        pytest.skip(reason)
    with sshd(tmp_path_factory.mktemp("sshd"), "127.0.0.5") as running:
        yield running
