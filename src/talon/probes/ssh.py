"""The ``ssh`` probe: is a machine (a NAS, a peer) reachable over ssh, and sane?

One ssh call runs ``command`` (default ``true``) on the host, in BatchMode
(never a prompt) with ConnectTimeout under Talon's own bound, which kills the
process group (R21). Its exit code follows the Nagios convention, as a script
probe's: 0 ok, 1 warning, 2 critical, 3 unknown. Exit 255 is ssh's own failure
and is classified from what ssh said: refused, timeout, dns, unreachable,
authentication refused, a changed or unknown host key. No ssh client on this
node is ``unknown``/``tool_missing``: nothing was checked (F26).

Host keys are pinned in Talon's own known_hosts file (in the state directory)
unless ``known_hosts_file`` says otherwise, so Talon never writes to the
user's. ``accept-new`` trusts a key on first contact; a changed key is always
refused, with the command that removes the old one if the change is expected.

The result has one path, ``user@host:port``, classed like an http or tcp
target (loopback ``localhost``, else ``remote``, or ``lan`` with
``remote = false``), so ``network_down`` counts an unreachable NAS with the
other remote targets.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from talon.adapters.command import run_command
from talon.adapters.ssh import SSH_FAILED, classify, ssh_argv
from talon.config.probes import SshProbe
from talon.node import expand_path
from talon.probes.context import ProbeContext
from talon.probes.endpoints import plan
from talon.report import ErrorKind, Observation, PathOutcome, Status

_EXIT_STATUS = {0: Status.OK, 1: Status.WARNING, 2: Status.CRITICAL, 3: Status.UNKNOWN}
KNOWN_HOSTS = "ssh_known_hosts"


def _ssh_word(path: Path) -> str:
    """A path as one value of an ssh option: % escaped, quoted if it has spaces."""
    text = str(path).replace("%", "%%")
    return f'"{text}"' if any(c.isspace() for c in text) else text


def known_hosts_path(spec: SshProbe, ctx: ProbeContext) -> Path:
    if spec.known_hosts_file:
        return expand_path(spec.known_hosts_file, ctx.env)
    return ctx.identity.state_dir / KNOWN_HOSTS


def command(spec: SshProbe, ctx: ProbeContext, known_hosts: Path) -> list[str]:
    """The ssh argv: enforced options first (ssh keeps the first value it sees)."""
    options = [
        "-p",
        str(spec.port),
        # A fresh connection every check (never a multiplexed one that outlives a dead
        # sshd), no tty, no forwardings and no RemoteCommand from the user's ssh config.
        "-T",
        "-o",
        "ControlMaster=no",
        "-o",
        "ControlPath=none",
        "-o",
        "ClearAllForwardings=yes",
        "-o",
        "RemoteCommand=none",
        "-o",
        f"StrictHostKeyChecking={spec.strict_host_key_checking}",
        "-o",
        f"UserKnownHostsFile={_ssh_word(known_hosts)}",
    ]
    if spec.ssh_config:
        config = spec.ssh_config
        options += ["-F", config if config == "none" else str(expand_path(config, ctx.env))]
    if spec.identity_file:
        identity = expand_path(spec.identity_file, ctx.env)
        options += ["-i", str(identity), "-o", "IdentitiesOnly=yes"]
    for option in spec.ssh_options:
        options += ["-o", option]
    options += ["-o", "LogLevel=ERROR"]  # no "Permanently added" chatter; the user may override
    destination = f"{spec.user}@{spec.host}" if spec.user else spec.host
    return ssh_argv(destination, spec.command, timeout_s=spec.timeout_secs, options=options)


def _path_class(spec: SshProbe, ctx: ProbeContext) -> str:
    (path,) = plan(spec.host, spec.port, None, ctx.vm_address, spec.remote)
    return path.path_class


def _ensure_dir(path: Path) -> None:
    # accept-new cannot pin a key in a directory that does not exist (ssh warns and goes on).
    if not path.parent.is_dir():
        with contextlib.suppress(OSError):
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)


async def probe(spec: SshProbe, ctx: ProbeContext) -> Observation:
    known_hosts = known_hosts_path(spec, ctx)
    _ensure_dir(known_hosts)
    result = await run_command(
        command(spec, ctx, known_hosts), timeout=spec.timeout_secs, env=ctx.env
    )
    target = spec.target
    detail: dict[str, object] = {
        "target": target,
        "exit_code": result.exit_code,
        "duration_ms": round(result.duration_s * 1000, 3),
        "known_hosts_file": str(known_hosts),
    }

    def observe(status: Status, message: str, kind: ErrorKind | None) -> Observation:
        ok = status is Status.OK
        path_class = _path_class(spec, ctx)
        outcome = PathOutcome(
            path_class, target, ok, result.duration_s * 1000, None if ok else kind, message
        )
        return Observation(
            status, message, kind, (outcome,), path_class if ok else None, detail=detail
        )

    if result.spawn_error:  # no ssh client: nothing was checked, so not "down" (F26)
        return Observation(
            Status.UNKNOWN,
            f"ssh is not available: {result.spawn_error} (fix: install the OpenSSH client, "
            "or add its directory to [exec] path)",
            ErrorKind.TOOL_MISSING,
            detail=detail,
        )
    line = result.first_line()
    if result.timed_out:
        message = f"no answer from {target} within {spec.timeout_secs:g}s" + (
            f": {line}" if line else ""
        )
        return observe(Status.CRITICAL, message, ErrorKind.TIMEOUT)
    code = result.exit_code
    if code == SSH_FAILED:
        failure = classify(result.stderr, target, str(known_hosts))
        detail["ssh_error"] = failure.reason
        # ssh refusing its own options is our configuration, not the host being down.
        status = Status.UNKNOWN if failure.reason == "config" else Status.CRITICAL
        return observe(status, failure.message, failure.kind)
    if code in (126, 127):
        said = line or f"exit {code}: command not found or not executable"
        return observe(Status.UNKNOWN, f"on {target}: {said}", ErrorKind.NOT_FOUND)
    status = _EXIT_STATUS.get(code if code is not None else -1, Status.CRITICAL)
    if status is Status.OK:
        return observe(status, line or f"{target} answered", None)
    return observe(status, line or f"exit {code} on {target}", ErrorKind.EXIT_CODE)
