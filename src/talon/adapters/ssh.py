"""The OpenSSH client: one argv builder for every ssh Talon runs, and what its failures mean.

Shared by the remote runtime (a machine whose VM Talon watches over ssh) and
the ``ssh`` probe (is a host, e.g. a NAS, reachable and sane?).

- BatchMode always: ssh must never prompt (a password, a passphrase, a new
  host key): a prompt would hang the cycle, and a probe has nobody to ask.
- ConnectTimeout a little under Talon's own bound, so ssh gives up first and
  can say why (refused, timed out during the banner exchange ...); Talon's own
  timeout with a process-group kill stays the backstop (R21).
- The remote command is ONE word, ``sh -c 'SCRIPT'`` quoted with
  ``shlex.quote``: ssh joins its command words with spaces and the remote login
  shell splits them again, whatever that shell is (R6).

ssh reports its own failures as exit 255 with a line on stderr; ``classify``
turns that line into an ``ErrorKind`` and a message that says what to do.
"""

from __future__ import annotations

import math
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from talon.errors import ErrorKind

SSH_FAILED = 255  # ssh's own failure, not the remote command's verdict


def connect_timeout(timeout_s: float) -> int:
    """ssh's ConnectTimeout: a second under Talon's bound, at least 1 s."""
    return max(1, math.floor(timeout_s) - 1)


def remote_command(script: str) -> str:
    """The script as ONE word for the remote login shell to run with sh (R6)."""
    return f"sh -c {shlex.quote(script)}"


def ssh_argv(
    destination: str,
    script: str,
    *,
    timeout_s: float,
    options: Sequence[str] = (),
    ssh: str = "ssh",
) -> list[str]:
    """``ssh -o BatchMode=yes -o ConnectTimeout=N OPTIONS -- DEST 'sh -c SCRIPT'``.

    ssh takes the FIRST value it sees for an option, so the enforced ones come
    before ``options``, which cannot turn them off.
    """
    return [
        ssh,
        "-o",
        "BatchMode=yes",
        "-o",
        f"ConnectTimeout={connect_timeout(timeout_s)}",
        *options,
        "--",
        destination,
        remote_command(script),
    ]


@dataclass(frozen=True, slots=True)
class SshFailure:
    """What an exit 255 meant: a kind for the core, a reason and fix for a human."""

    kind: ErrorKind
    reason: str  # auth, host_key_changed, host_key_unknown, refused, timeout, dns, ...
    message: str


_REMOVE_WITH = re.compile(r'ssh-keygen -f "?([^"\s]+)"? -R "?([^"\s]+)"?')
_UNREACHABLE = ("no route to host", "network is unreachable", "cannot assign requested")


def classify(stderr: str, target: str, known_hosts: str | None = None) -> SshFailure:
    """ssh's own failure (exit 255), from its stderr."""
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    said = lines[-1] if lines else "ssh exited 255 without a message"
    text = stderr.lower()
    if "remote host identification has changed" in text or "has changed and you have" in text:
        found = _REMOVE_WITH.search(stderr)
        fix = (
            f'ssh-keygen -f "{found.group(1)}" -R "{found.group(2)}"'
            if found
            else f"remove the old key of {target} from "
            + (known_hosts or "the known_hosts file ssh used")
        )
        return SshFailure(
            ErrorKind.DENIED,
            "host_key_changed",
            f"the host key of {target} has CHANGED: a reinstalled host, or a "
            f"man-in-the-middle. Talon will not connect. If the change is expected, "
            f"remove the old key: {fix}",
        )
    if "host key verification failed" in text or ("no " in text and "host key is known" in text):
        where = known_hosts or "the known_hosts file"
        return SshFailure(
            ErrorKind.DENIED,
            "host_key_unknown",
            f"the host key of {target} is not known and strict_host_key_checking = 'yes': "
            f"add it to {where} (check its fingerprint first: ssh-keyscan), or use "
            "'accept-new' to trust it on first contact",
        )
    if "permission denied" in text or "too many authentication failures" in text:
        return SshFailure(
            ErrorKind.DENIED,
            "auth",
            f"authentication refused by {target}: {said} (fix: install this key in the remote "
            "user's authorized_keys, or set identity_file/user)",
        )
    if "connection refused" in text:
        return SshFailure(ErrorKind.REFUSED, "refused", f"connection refused by {target}")
    if "timed out" in text:
        return SshFailure(ErrorKind.TIMEOUT, "timeout", f"{target}: {said}")
    if "could not resolve hostname" in text or "name or service not known" in text:
        return SshFailure(ErrorKind.DNS, "dns", said)
    if any(marker in text for marker in _UNREACHABLE):
        return SshFailure(ErrorKind.UNREACHABLE, "unreachable", said)
    if "connection closed" in text or "connection reset" in text or "kex_exchange" in text:
        return SshFailure(ErrorKind.RESET, "reset", f"{target}: {said}")
    if "bad configuration option" in text or "no such file" in text or "terminating" in text:
        return SshFailure(ErrorKind.NOT_FOUND, "config", f"ssh refused its options: {said}")
    return SshFailure(ErrorKind.PROTOCOL, "ssh", f"ssh failed: {said}")
