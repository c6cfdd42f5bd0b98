"""systemd, driven by ``systemctl``: units live in the user manager or the system one (R24).

Formats (systemctl(1), systemd.unit(5), systemd.service(5)):

- ``show -p MainPID,ActiveState,SubState,LoadState,Result UNIT``: ``KEY=VALUE``
  lines; an unknown unit still exits 0, with ``LoadState=not-found``.
- ``list-units --type=service --all --no-legend --plain PATTERN``: columns
  UNIT LOAD ACTIVE SUB DESCRIPTION.
- job errors: exit 5 "Unit U not found." / "not loaded.", exit 4 "Access
  denied", exit 1 "Interactive authentication required." (polkit wants a
  password), "Failed to connect to bus" when there is no manager to ask.

With ``scope = "auto"``, ``inspect``, ``restart``, ``stop`` and ``disable``
look in the user manager (``--user``), then the system one, and act where the
unit is; a scope whose bus cannot be reached (Talon as root has no user
manager) is skipped. ``enable`` installs a system unit when Talon runs as root,
else a user unit (which starts at boot only with ``loginctl enable-linger
USER``). Changing verbs pass ``--no-ask-password``, so polkit answers at once
instead of waiting for someone to type a password. Labels may carry
``.service`` or not.

The units ``enable`` writes say ``KillMode=process``: when the main process
dies (SIGKILL, a crash), systemd's default (``control-group``, and ``mixed``
alike) kills every process left in the unit's cgroup before it restarts the
unit. Talon's unit is the one ``enable`` writes, and a heal script Talon started
must outlive it: the script holds the runtime lock, and the next Talon waits
for it instead of cycling the VM a second time (F14, R19). On a clean stop
Talon stops its own children itself (docs/systemd.md).

Unit files: ``ExecStart=`` words follow systemd's command-line rules: a safe
word stays bare, anything else goes in double quotes with C escapes; ``%``
(specifiers) and ``$`` (variables) are doubled. ``Environment=`` lines are
quoted the same way, one variable a line.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

from talon.adapters.command import CommandResult
from talon.adapters.process.base import ServiceFile, ServiceSpec, ServiceState, ServiceStatus
from talon.adapters.tool import failure, run_tool
from talon.capabilities import Capability
from talon.errors import ActionFailed, AdapterUnavailable, TalonError
from talon.node import home_dir

SCOPES = ("auto", "user", "system")
SYSTEM_UNIT_DIR = Path("/etc/systemd/system")
PROPERTIES = "MainPID,ActiveState,SubState,LoadState,Result"
LIST_COLUMNS = ("LoadState", "ActiveState", "SubState")
NO_SUCH_UNIT = 5
_SAFE_WORD = re.compile(r"[A-Za-z0-9_@%+=:,./-]+")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_UNIT_LABEL = re.compile(r"[A-Za-z0-9:_.\\@-]+")
_ABSENT = ("not found", "not loaded", "does not exist")


def unit_name(label: str) -> str:
    return label if label.endswith(".service") else f"{label}.service"


def parse_show(text: str) -> dict[str, str]:
    """``systemctl show`` output: one ``KEY=VALUE`` a line (a value may hold ``=``)."""
    pairs = (line.partition("=") for line in text.splitlines() if "=" in line)
    return {key.strip(): value.strip() for key, _, value in pairs}


def start_command(unit: str, scope: str, masked: bool = False) -> str:
    """How a human starts a stopped unit again, in its scope."""
    ctl = "systemctl --user" if scope == "user" else "systemctl"
    start = f"{ctl} start {unit}"
    return f"{ctl} unmask {unit} && {start}" if masked else start


def status_from_show(label: str, scope: str, props: Mapping[str, str]) -> ServiceStatus:
    """``show`` (or ``list-units``) properties -> ServiceStatus; see docs/systemd.md.

    STOPPED is only ``inactive`` with ``Result=success`` (a clean ``systemctl stop``, a
    clean exit, never started) or masked: an operator's stop (F28). ``failed``, a crash
    loop, and an inactive unit whose result is not success are FAILED; ``activating`` and
    ``deactivating`` are CHANGING; ``active (exited)`` (a oneshot that ran) is RUNNING.
    """
    load, active, sub = (props.get(k, "") for k in ("LoadState", "ActiveState", "SubState"))
    pid = int(props["MainPID"]) if props.get("MainPID", "").isdigit() else 0
    result = props.get("Result", "")
    detail = f"{active} ({sub})" + (f", result {result}" if result not in ("", "success") else "")
    if load == "not-found" and active in ("inactive", ""):
        return ServiceStatus(label, ServiceState.NOT_FOUND, detail=f"not found in {scope} scope")
    start = ""
    if active == "failed" or (active == "activating" and sub.startswith("auto-restart")):
        state = ServiceState.FAILED
    elif load in ("bad-setting", "error"):
        state, detail = ServiceState.FAILED, f"the unit file cannot be loaded ({load})"
    elif active in ("active", "reloading", "refreshing"):
        state = ServiceState.RUNNING
    elif active in ("activating", "deactivating"):
        state = ServiceState.CHANGING
    elif active == "inactive" and result in ("", "success"):
        state = ServiceState.STOPPED
        start = start_command(unit_name(label), scope, masked=load == "masked")
        detail += ", masked" if load == "masked" else ""
    elif active == "inactive":
        state = ServiceState.FAILED
    else:
        state, detail = ServiceState.UNKNOWN, f"systemd says {detail}"
    running = state is ServiceState.RUNNING and pid > 0
    return ServiceStatus(label, state, pid if running else None, scope, detail, start)


def exec_word(word: str, *, first: bool = False) -> str:
    """One argv word for ``ExecStart=``; the first is always quoted if it starts with a prefix."""
    text = word.replace("%", "%%").replace("$", "$$")
    if _SAFE_WORD.fullmatch(word) and not (first and word[0] in "@-:+!"):
        return text
    return _quoted(text)


def _quoted(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\n", "\\n").replace("\t", "\\t") + '"'


def environment_line(key: str, value: str) -> str:
    """One ``Environment=`` line: the assignment quoted, specifiers escaped."""
    if not _ENV_NAME.fullmatch(key):
        raise ValueError(f"not an environment variable name: {key!r}")
    return "Environment=" + _quoted(f"{key}={value}".replace("%", "%%"))


def _plain(key: str, value: str) -> str:
    """A single-line setting: specifiers escaped, no room for a newline."""
    if "\n" in value:
        raise ValueError(f"{key}= cannot hold a newline: {value!r}")
    return f"{key}={value.replace('%', '%%')}"


def _is_absent(result: CommandResult) -> bool:
    said = result.stderr + result.stdout
    return result.exit_code == NO_SUCH_UNIT or any(s in said for s in _ABSENT)


def _no_bus(result: CommandResult) -> bool:
    return "Failed to connect to" in result.stderr and "bus" in result.stderr


def _denied(result: CommandResult) -> bool:
    said = result.stderr + result.stdout
    refusals = ("Access denied", "authentication required", "not permitted")
    return result.exit_code == 4 or any(r in said for r in refusals)


def _fix(result: CommandResult, scope: str) -> str:
    if result.timed_out:
        return "systemd did not answer in time; raise [process_manager] timeout_secs if it is slow"
    if _no_bus(result) and scope == "user":
        return (
            "no user manager to ask: run Talon in a login session (XDG_RUNTIME_DIR set), "
            "`loginctl enable-linger USER`, or set systemd_scope = 'system'"
        )
    if _no_bus(result):
        return "systemd is not running here (not PID 1): pick another [process_manager] kind"
    if _denied(result):
        return "run Talon as root for system units, or set systemd_scope = 'user'"
    if _is_absent(result):
        return "check the label with `systemctl list-units`, or install it with enable"
    return f"see `systemctl {'--user ' if scope == 'user' else ''}status`"


def refusal(result: CommandResult, scope: str, timeout_s: float) -> TalonError:
    """What a failed ``systemctl`` call raises: no bus or denied is AdapterUnavailable
    (the platform cannot do it), anything else ActionFailed; both name the fix."""
    said = f"{failure(result, timeout_s)} (command: {shlex.join(result.argv)}"
    refused = not result.timed_out and (_no_bus(result) or _denied(result))
    error = AdapterUnavailable if refused else ActionFailed
    return error(f"{said}; fix: {_fix(result, scope)})")


class SystemdProcessManager:
    name = "systemd"
    capabilities = frozenset({Capability.RESTART_SERVICE})

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        scope: str = "auto",
        timeout_s: float = 10.0,
        systemctl: str = "systemctl",
        unit_dir: Path | None = None,
        root: bool | None = None,
    ) -> None:
        """``root``: whether Talon runs as root (default: asked of the OS); with
        ``scope = "auto"`` it decides where ``enable`` installs."""
        if scope not in SCOPES:
            raise ValueError(f"systemd scope must be one of {', '.join(SCOPES)}, not {scope!r}")
        self._env = dict(env)
        self.scope = scope
        self.timeout_s = timeout_s
        self._systemctl = systemctl
        self.root = os.geteuid() == 0 if root is None else root
        config = self._env.get("XDG_CONFIG_HOME", "").strip()
        config_dir = Path(config) if config else home_dir(self._env) / ".config"
        user_dir = config_dir / "systemd" / "user"
        self.unit_dirs = {"user": user_dir, "system": SYSTEM_UNIT_DIR}
        if unit_dir is not None:
            self.unit_dirs[self._install_scope()] = unit_dir

    def _install_scope(self) -> str:
        if self.scope == "auto":
            return "system" if self.root else "user"
        return self.scope

    def _scopes(self) -> tuple[str, ...]:
        return ("user", "system") if self.scope == "auto" else (self.scope,)

    async def _run(self, scope: str, *args: str) -> CommandResult:
        argv = [self._systemctl, *(["--user"] if scope == "user" else []), *args]
        return await run_tool(argv, timeout=self.timeout_s, env=self._env)

    async def _change(self, scope: str, *args: str, absent_ok: bool = False) -> None:
        result = await self._run(scope, *args[:1], "--no-ask-password", *args[1:])
        if result.ok or (absent_ok and not result.timed_out and _is_absent(result)):
            return
        raise refusal(result, scope, self.timeout_s)

    async def list(self, pattern: str) -> list[ServiceStatus]:
        statuses: list[ServiceStatus] = []
        unreachable: list[tuple[str, CommandResult]] = []
        for scope in self._scopes():
            args = ("list-units", "--type=service", "--all", "--no-legend", "--plain", pattern)
            result = await self._run(scope, *args)
            if not result.ok and self.scope == "auto" and _no_bus(result):
                unreachable.append((scope, result))  # e.g. no user manager: Talon runs as root
                continue
            if not result.ok:
                raise refusal(result, scope, self.timeout_s)
            for line in result.stdout.splitlines():
                words = line.lstrip("● ").split(None, 4)  # UNIT LOAD ACTIVE SUB DESCRIPTION
                if len(words) >= 4:
                    props = dict(zip(LIST_COLUMNS, words[1:4], strict=True))
                    statuses.append(status_from_show(words[0], scope, props))
        if len(unreachable) == len(self._scopes()):
            scope, result = unreachable[-1]
            raise refusal(result, scope, self.timeout_s)
        return statuses

    async def inspect(self, label: str) -> ServiceStatus:
        unit = unit_name(label)
        errors: list[str] = []
        skipped: list[str] = []
        consulted: list[str] = []
        for scope in self._scopes():
            result = await self._run(scope, "show", "-p", PROPERTIES, unit)
            if not result.ok:
                why = f"{scope}: {failure(result, self.timeout_s)} (fix: {_fix(result, scope)})"
                # In auto, a scope without a manager (no user bus as root) holds nothing.
                (skipped if self.scope == "auto" and _no_bus(result) else errors).append(why)
                continue
            consulted.append(scope)
            status = status_from_show(label, scope, parse_show(result.stdout))
            if status.state is not ServiceState.NOT_FOUND:
                return status
        if errors or not consulted:
            detail = "; ".join(errors or skipped)
            return ServiceStatus(label, ServiceState.UNKNOWN, detail=detail)
        where = " or ".join(consulted)
        return ServiceStatus(label, ServiceState.NOT_FOUND, detail=f"{unit} not found in {where}")

    async def _where(self, label: str, *, absent_ok: bool = False) -> str:
        """The scope the unit lives in (R24); with ``absent_ok``, else the install scope."""
        if self.scope != "auto":
            return self.scope
        status = await self.inspect(label)
        if status.domain:
            return status.domain
        if status.state is ServiceState.NOT_FOUND and absent_ok:
            return self._install_scope()
        if status.state is ServiceState.NOT_FOUND:
            raise ActionFailed(
                f"{unit_name(label)} is not loaded in the user or the system manager (fix: check "
                "the label with `systemctl list-units`, or install it with enable)"
            )
        raise AdapterUnavailable(f"cannot tell where {unit_name(label)} lives: {status.detail}")

    async def restart(self, label: str) -> None:
        scope = await self._where(label)
        await self._change(scope, "restart", unit_name(label))

    async def stop(self, label: str) -> None:
        scope = await self._where(label)
        await self._change(scope, "stop", unit_name(label))

    def service_file(self, spec: ServiceSpec) -> ServiceFile:
        if not spec.argv or not _UNIT_LABEL.fullmatch(spec.label):
            raise ValueError(f"a systemd unit needs a plain label and a command: {spec!r}")
        scope = self._install_scope()
        words = [exec_word(w, first=i == 0) for i, w in enumerate(spec.argv)]
        lines = ["[Unit]", _plain("Description", spec.description or spec.label), ""]
        lines += ["[Service]", "ExecStart=" + " ".join(words)]
        if spec.cwd:
            lines.append(_plain("WorkingDirectory", spec.cwd))
        lines += [environment_line(key, value) for key, value in spec.env.items()]
        if spec.stdout_path:
            lines.append(_plain("StandardOutput", f"append:{spec.stdout_path}"))
        if spec.stderr_path:
            lines.append(_plain("StandardError", f"append:{spec.stderr_path}"))
        target = "multi-user.target" if scope == "system" else "default.target"
        # Only the main process is killed when it dies or is stopped: see the module docstring.
        lines += ["Restart=always", "RestartSec=1", "KillMode=process"]
        lines += ["", "[Install]", f"WantedBy={target}"]
        path = self.unit_dirs[scope] / unit_name(spec.label)
        return ServiceFile(path, "\n".join(lines) + "\n", scope)

    async def enable(self, label: str, spec: ServiceSpec) -> None:
        file = self.service_file(replace(spec, label=label))
        await _file_op(_write, file.path, file.text)
        await self._change(file.domain, "daemon-reload")
        await self._change(file.domain, "enable", "--now", unit_name(label))

    async def disable(self, label: str) -> None:
        scope = await self._where(label, absent_ok=True)
        await self._change(scope, "disable", "--now", unit_name(label), absent_ok=True)
        await _file_op(_remove, self.unit_dirs[scope] / unit_name(label))
        await self._change(scope, "daemon-reload")


async def _file_op(op: Callable[..., None], path: Path, *args: str) -> None:
    try:
        await asyncio.to_thread(op, path, *args)
    except OSError as exc:
        raise AdapterUnavailable(
            f"cannot change {path}: {exc.strerror or exc} (fix: run Talon as root for system "
            "units, or set systemd_scope = 'user')"
        ) from exc


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)
