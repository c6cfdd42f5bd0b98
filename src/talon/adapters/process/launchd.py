"""launchd, driven by ``launchctl``: jobs live in gui/UID or in system, and Talon finds which (R24).

Formats (launchctl(1), and ``print`` as printed on macOS 13+, which the man
page calls "not API", so only a few top-level keys are read):

- ``print DOMAIN/LABEL``: ``DOMAIN/LABEL = {`` then ``key = value`` lines one
  tab in (nested ``{ }`` blocks are skipped): ``state`` (running, not running,
  waiting, spawn scheduled), ``pid``, ``last exit code`` (``(never exited)``,
  ``0``, ``78: EX_CONFIG``) or ``last terminating signal`` (``Terminated: 15``),
  ``job state``. A label not loaded there: exit 113, "Could not find service".
- ``list``: ``PID<TAB>Status<TAB>Label`` rows of the caller's own domain, ``-``
  for no pid, a negative status for the signal that ended the job.

With ``domain = "auto"``, ``inspect``, ``restart``, ``stop`` and ``disable``
look in gui/UID, then system, and act where the job is; ``enable`` installs a
LaunchAgent in gui/UID. ``stop`` is ``launchctl kill SIGTERM``: the job stays
loaded, so a later ``restart`` (``kickstart -k``) still finds it, and launchd
itself starts a KeepAlive job again after its throttle interval (10 s by
default); to keep it down, ``disable`` it. ``enable`` runs ``launchctl enable``
before ``bootstrap`` (a disabled label cannot be bootstrapped: error 119) and
boots out a loaded copy first, so a changed plist is read again.
"""

from __future__ import annotations

import asyncio
import fnmatch
import os
import plistlib
import shlex
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from talon.adapters.command import CommandResult
from talon.adapters.process.base import ServiceFile, ServiceSpec, ServiceState, ServiceStatus
from talon.adapters.tool import failure, run_tool
from talon.capabilities import Capability
from talon.errors import ActionFailed, AdapterUnavailable, TalonError
from talon.node import home_dir

DOMAINS = ("auto", "gui", "system")
LAUNCH_DAEMONS = Path("/Library/LaunchDaemons")
NOT_LOADED = 113  # "Could not find service ... in domain for ..."
NO_SUCH_PROCESS = 3  # bootout of a job not loaded, kill of a job not running
SIGTERM_ENDED = "Terminated: 15"  # how launchctl kill SIGTERM (our stop) reads afterwards
FIX_FILE = " (fix: run Talon as root for system jobs, or set launchd_domain = 'gui')"


def parse_print(text: str) -> dict[str, str]:
    """The top-level ``key = value`` lines of a ``launchctl print`` service block."""
    fields: dict[str, str] = {}
    depth = 0
    for raw in text.splitlines():
        line = raw.strip()
        if line.endswith("{"):
            depth += 1
        elif line == "}":
            depth -= 1
        elif depth == 1 and " = " in line:
            key, _, value = line.partition(" = ")
            fields.setdefault(key, value)
    return fields


def _number(text: str | None) -> int | None:
    word = (text or "").split(":")[0].strip()
    return int(word) if word.lstrip("-").isdigit() else None


def status_from_print(label: str, domain: str, fields: Mapping[str, str]) -> ServiceStatus:
    """running with a pid: RUNNING; a crash loop, a bad exit or a signal other than
    SIGTERM: FAILED; else (never ran, exit 0, SIGTERM) STOPPED, an operator's stop."""
    state = fields.get("state", "")
    pid = _number(fields.get("pid"))
    code = _number(fields.get("last exit code"))
    signal = fields.get("last terminating signal", "")
    keys = ("state", "last exit code", "last terminating signal", "job state")
    detail = ", ".join(f"{k} = {fields[k]}" for k in keys if k in fields)
    if state == "running":
        return ServiceStatus(label, ServiceState.RUNNING, pid if pid else None, domain, detail)
    crash_loop = state == "spawn scheduled" or fields.get("job state") == "spawn failed"
    if crash_loop or code not in (None, 0) or (signal and signal != SIGTERM_ENDED):
        return ServiceStatus(label, ServiceState.FAILED, None, domain, detail)
    # Never run, a clean exit, or SIGTERM (`launchctl kill SIGTERM`, a stop): an operator's.
    start = start_command(label, domain)
    return ServiceStatus(label, ServiceState.STOPPED, None, domain, detail, start)


def start_command(label: str, domain: str) -> str:
    """How a human starts a stopped job again, in its domain."""
    return f"launchctl kickstart {domain}/{label}"


def parse_list(text: str) -> list[tuple[int | None, int | None, str]]:
    """``launchctl list`` rows as (pid, last status, label); the header is skipped."""
    rows = []
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[0] != "PID":
            rows.append((_number(parts[0]), _number(parts[1]), parts[2]))
    return rows


def _absent(result: CommandResult) -> bool:
    """Not loaded there, or no such domain (gui/UID exists only while UID is logged in)."""
    said = result.stderr + result.stdout
    return result.exit_code == NOT_LOADED or "Could not find" in said


class LaunchdProcessManager:
    name = "launchd"
    capabilities = frozenset({Capability.RESTART_SERVICE})

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        domain: str = "auto",
        timeout_s: float = 10.0,
        launchctl: str = "launchctl",
        uid: int | None = None,
        agents_dir: Path | None = None,
    ) -> None:
        if domain not in DOMAINS:
            raise ValueError(f"launchd domain must be one of {', '.join(DOMAINS)}, not {domain!r}")
        self._env = dict(env)
        self.domain = domain
        self.timeout_s = timeout_s
        self._launchctl = launchctl
        self.uid = os.getuid() if uid is None else uid
        self.agents_dir = agents_dir or home_dir(self._env) / "Library" / "LaunchAgents"
        self.daemons_dir = LAUNCH_DAEMONS

    @property
    def gui(self) -> str:
        return f"gui/{self.uid}"

    def _domains(self) -> tuple[str, ...]:
        return {"auto": (self.gui, "system"), "gui": (self.gui,)}.get(self.domain, ("system",))

    def _plist(self, label: str, domain: str) -> Path:
        return (self.daemons_dir if domain == "system" else self.agents_dir) / f"{label}.plist"

    async def _run(self, *args: str) -> CommandResult:
        return await run_tool([self._launchctl, *args], timeout=self.timeout_s, env=self._env)

    def _fix(self, result: CommandResult) -> str:
        said = result.stderr + result.stdout
        if result.timed_out:
            return (
                "launchd did not answer in time; raise [process_manager] timeout_secs if it is slow"
            )
        if result.exit_code == 150:
            return "System Integrity Protection guards Apple's own jobs: Talon cannot change them"
        if result.exit_code == 5 or "Input/output error" in said:
            return (
                "launchd refused the job: check the plist with `plutil -lint`; a system job needs "
                "root (run Talon as root, or set launchd_domain = 'gui')"
            )
        if "not permitted" in said:
            return "run Talon as root for system jobs, or set launchd_domain = 'gui' for your own"
        if "Could not find domain" in said:
            return (
                f"{self.gui} exists only while that user is logged in at the screen: log in, "
                "or run Talon as root with launchd_domain = 'system'"
            )
        if _absent(result):
            return "check the label with `launchctl list`, or install it with enable"
        return "see what launchd knows with `launchctl print DOMAIN`"

    def _error(self, result: CommandResult) -> TalonError:
        said = f"{failure(result, self.timeout_s)} (command: {shlex.join(result.argv)}"
        text = result.stderr + result.stdout
        refused = "not permitted" in text or result.exit_code in (5, 150)
        error = AdapterUnavailable if refused and not result.timed_out else ActionFailed
        return error(f"{said}; fix: {self._fix(result)})")

    async def _change(
        self, *args: str, ok_codes: tuple[int, ...] = (), absent_ok: bool = False
    ) -> None:
        result = await self._run(*args)
        if result.ok or result.exit_code in ok_codes:
            return
        if absent_ok and not result.timed_out and _absent(result):
            return
        raise self._error(result)

    async def list(self, pattern: str) -> list[ServiceStatus]:
        """The caller's own domain: gui/UID, or system when Talon runs as root."""
        result = await self._run("list")
        if not result.ok:
            raise self._error(result)
        domain = "system" if self.uid == 0 else self.gui
        statuses = []
        for pid, code, label in parse_list(result.stdout):
            if fnmatch.fnmatchcase(label, pattern):
                state = ServiceState.RUNNING if pid else ServiceState.STOPPED
                if not pid and code not in (None, 0, -15):
                    state = ServiceState.FAILED
                start = start_command(label, domain) if state is ServiceState.STOPPED else ""
                detail = f"last status {code}"
                statuses.append(ServiceStatus(label, state, pid, domain, detail, start))
        return statuses

    async def inspect(self, label: str) -> ServiceStatus:
        misses: list[str] = []
        errors: list[str] = []
        for domain in self._domains():
            result = await self._run("print", f"{domain}/{label}")
            if result.ok:
                return status_from_print(label, domain, parse_print(result.stdout))
            if not result.timed_out and _absent(result):
                misses.append(domain)
            else:
                errors.append(f"{domain}: {failure(result, self.timeout_s)} ({self._fix(result)})")
        if errors:
            return ServiceStatus(label, ServiceState.UNKNOWN, detail="; ".join(errors))
        return ServiceStatus(label, ServiceState.NOT_FOUND, detail=f"not in {' or '.join(misses)}")

    async def _where(self, label: str, *, absent_ok: bool = False) -> str:
        """The domain the job is loaded in (R24); with ``absent_ok``, else the install domain."""
        if self.domain != "auto":
            return self._domains()[0]
        status = await self.inspect(label)
        if status.domain:
            return status.domain
        if status.state is ServiceState.NOT_FOUND and absent_ok:
            return self.gui
        if status.state is ServiceState.NOT_FOUND:
            raise ActionFailed(
                f"{label} is not loaded in {self.gui} or system (fix: check the label with "
                "`launchctl list`, or install it with enable)"
            )
        raise AdapterUnavailable(f"cannot tell where {label} is loaded: {status.detail}")

    async def restart(self, label: str) -> None:
        domain = await self._where(label)
        await self._change("kickstart", "-k", f"{domain}/{label}")

    async def stop(self, label: str) -> None:
        """SIGTERM; the job stays loaded (a KeepAlive job is started again by launchd)."""
        domain = await self._where(label)
        await self._change("kill", "SIGTERM", f"{domain}/{label}", ok_codes=(NO_SUCH_PROCESS,))

    def service_file(self, spec: ServiceSpec) -> ServiceFile:
        if not spec.argv or "/" in spec.label or not spec.label:
            raise ValueError(f"a launchd job needs a label without '/' and a command: {spec!r}")
        domain = "system" if self.domain == "system" else self.gui
        doc: dict[str, object] = {"Label": spec.label, "ProgramArguments": list(spec.argv)}
        if spec.cwd:
            doc["WorkingDirectory"] = spec.cwd
        if spec.env:
            doc["EnvironmentVariables"] = dict(spec.env)
        if spec.stdout_path:
            doc["StandardOutPath"] = spec.stdout_path
        if spec.stderr_path:
            doc["StandardErrorPath"] = spec.stderr_path
        doc.update(RunAtLoad=True, KeepAlive=True)
        text = plistlib.dumps(doc, sort_keys=False).decode()
        return ServiceFile(self._plist(spec.label, domain), text, domain)

    async def enable(self, label: str, spec: ServiceSpec) -> None:
        file = self.service_file(replace(spec, label=label))
        try:
            await asyncio.to_thread(_write, file.path, file.text)
        except OSError as exc:
            raise AdapterUnavailable(
                f"cannot write {file.path}: {exc.strerror or exc}{FIX_FILE}"
            ) from exc
        target = f"{file.domain}/{label}"
        await self._change("bootout", target, ok_codes=(NO_SUCH_PROCESS,), absent_ok=True)
        await self._change("enable", target)
        await self._change("bootstrap", file.domain, str(file.path))
        await self._change("kickstart", target)

    async def disable(self, label: str) -> None:
        domain = await self._where(label, absent_ok=True)
        target = f"{domain}/{label}"
        await self._change("bootout", target, ok_codes=(NO_SUCH_PROCESS,), absent_ok=True)
        await self._change("disable", target)
        path = self._plist(label, domain)
        try:
            await asyncio.to_thread(path.unlink, missing_ok=True)
        except OSError as exc:
            raise AdapterUnavailable(
                f"cannot remove {path}: {exc.strerror or exc}{FIX_FILE}"
            ) from exc


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
