"""supervisord as the ProcessManager, over its documented XML-RPC API (supervisord.org/api.html).

Not supervisorctl's text: the API has states and numbered faults, and needs no
tool on PATH. The XML is written and read by the stdlib ``xmlrpc.client``; the
transport is aiohttp (imported only when a call is made) over the unix socket or
HTTP, so every call is async and bounded by ``timeout_s``.

Decisions:

- STARTING counts as RUNNING (detail ``STARTING``): the process exists and is
  on its way up. A crash loop spends its time in BACKOFF (FAILED) and ends in
  FATAL (FAILED), and Talon proves a recovery with durability checks anyway.
- STOPPED and STOPPING are an operator's stop (``supervisorctl stop``, or
  ``autostart=false``), and so is EXITED with status 0: supervisord's own
  ``autorestart`` left it down. Talon reports it and never restarts it (F28);
  the status carries the ``supervisorctl -s URL start LABEL`` that would.
- Credentials: ``user:password@`` in an http URL, else ``SUPERVISOR_USERNAME``
  and ``SUPERVISOR_PASSWORD`` from the environment. They go out as HTTP basic
  auth only: never in a message, a repr, a domain or a log.
- ``enable`` writes ``[program:LABEL]`` to ``conf_dir/LABEL.conf``; supervisord
  reads it only if its supervisord.conf has ``[include] files = CONF_DIR/*.conf``.
"""

from __future__ import annotations

import asyncio
import base64
import configparser
import dataclasses
import fnmatch
import io
import os
import re
import shlex
import xmlrpc.client
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast
from urllib.parse import unquote, urlsplit, urlunsplit
from xml.parsers.expat import ExpatError

from talon.adapters.process.base import ServiceFile, ServiceSpec, ServiceState, ServiceStatus
from talon.capabilities import Capability
from talon.errors import ActionFailed, AdapterUnavailable
from talon.node import expand_path


class Faults:
    """The codes of supervisor.xmlrpc.Faults this adapter acts on."""

    UNKNOWN_METHOD = 1
    SHUTDOWN_STATE = 6
    BAD_NAME = 10
    ABNORMAL_TERMINATION = 40
    SPAWN_ERROR = 50
    ALREADY_STARTED = 60
    NOT_RUNNING = 70
    SUCCESS = 80
    ALREADY_ADDED = 90
    CANT_REREAD = 92


FIX = "is supervisord running? is [process_manager] supervisord_url right?"
CONF_DIR_FIX = (
    "set [process_manager] supervisord_conf_dir to a directory supervisord's [include] files= reads"
)
_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@+-]*")
_ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_QUOTES = "'\""
_COMMENT = re.compile(r"(^|\s)[;#]")  # supervisord's INI reader cuts a line there
_UP = ("STARTING", "BACKOFF")  # supervisord is still trying: wait for it to settle


def label_of(info: Mapping[str, Any]) -> str:
    """supervisord's own convention: ``name`` when the group is the program, else ``group:name``."""
    group, name = str(info.get("group", "")), str(info.get("name", ""))
    return name if group == name else f"{group}:{name}"


def status_from_info(
    label: str, info: Mapping[str, Any], domain: str, start: str = ""
) -> ServiceStatus:
    """getProcessInfo's struct -> ServiceStatus (see the module docstring for STARTING).

    STOPPED/STOPPING (``supervisorctl stop``, never started) and a clean EXITED (status 0:
    supervisord's own config leaves it down) are STOPPED, with ``start`` as the command
    that starts it again; BACKOFF, FATAL and a bad exit are FAILED.
    """
    state = str(info.get("statename", "UNKNOWN"))
    pid = int(info.get("pid") or 0) or None
    why = str(info.get("spawnerr") or info.get("description") or "")
    exitstatus = int(info.get("exitstatus") or 0)
    if state in ("RUNNING", "STARTING"):
        detail = str(info.get("description") or "") if state == "RUNNING" else "STARTING"
        return ServiceStatus(label, ServiceState.RUNNING, pid, domain, detail)
    said = f"{state}: {why}" if why else state
    if state in ("STOPPED", "STOPPING"):
        return ServiceStatus(label, ServiceState.STOPPED, pid, domain, said, start)
    if state == "EXITED" and exitstatus == 0:
        detail = f"EXITED with status 0 at {why}" if why else "EXITED with status 0"
        return ServiceStatus(label, ServiceState.STOPPED, None, domain, detail, start)
    if state in ("EXITED", "BACKOFF", "FATAL"):
        detail = f"EXITED with status {exitstatus}" if state == "EXITED" else said
        return ServiceStatus(label, ServiceState.FAILED, None, domain, detail)
    return ServiceStatus(label, ServiceState.UNKNOWN, pid, domain, f"supervisord says {state}")


def environment_value(env: Mapping[str, str]) -> str:
    """``KEY="value",...`` that supervisord's parser (non-posix shlex) reads back unchanged.

    A value is quoted with ``"``, or ``'`` when it holds a ``"``. That parser has
    no escapes and strips quote characters at both ends, so a value holding both
    quotes, or starting or ending with one, cannot be written.
    """
    parts = []
    for key, value in env.items():
        if not _ENV_KEY.fullmatch(key):
            raise AdapterUnavailable(f"environment key {key!r} is not a valid variable name")
        quote = "'" if '"' in value else '"'
        if quote in value or (value and (value[0] in _QUOTES or value[-1] in _QUOTES)):
            raise AdapterUnavailable(
                f"supervisord cannot express the value of {key}: it holds both quote characters "
                "or starts or ends with one (fix: pass it another way, e.g. a file)"
            )
        parts.append(f"{key}={quote}{value}{quote}")
    return ",".join(parts)


def command_value(argv: tuple[str, ...]) -> str:
    """shlex.join, except ``;`` and ``#`` go out as ``\\;`` ``\\#``: never a comment to the INI."""
    return " ".join(
        "".join(f"\\{p}" if p in (";", "#") else shlex.quote(p) for p in re.split("([;#])", a) if p)
        if a
        else "''"
        for a in argv
    )


class SupervisordProcessManager:
    """One supervisord, at ``url``; ``conf_dir`` is where ``enable`` writes program files."""

    name = "supervisord"
    capabilities = frozenset({Capability.RESTART_SERVICE})

    def __init__(
        self, env: Mapping[str, str], *, url: str, conf_dir: str = "", timeout_s: float = 10.0
    ) -> None:
        self.timeout_s = timeout_s
        self.conf_dir = str(expand_path(conf_dir, env)) if conf_dir else ""
        self._socket: str | None = None
        self._auth: tuple[str, str] | None = None
        self._problem = ""
        parts = urlsplit(url)
        try:
            port = f":{parts.port}" if parts.port else ""
        except ValueError:
            port, self._problem = "", f"supervisord_url {url!r} has an invalid port"
        if parts.scheme == "unix":
            self._socket = str(expand_path(url.removeprefix("unix://"), env))
            self.url = f"unix://{self._socket}"
            self._post = "http://localhost/RPC2"
        else:
            host = parts.hostname or ""
            netloc = (f"[{host}]" if ":" in host else host) + port
            self.url = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
            path = parts.path.rstrip("/") or "/RPC2"
            self._post = urlunsplit((parts.scheme, netloc, path, "", ""))
            if parts.username:
                self._auth = (unquote(parts.username), unquote(parts.password or ""))
            if parts.scheme not in ("http", "https") or not host:
                self._problem = (
                    f"supervisord_url {self.url!r} is neither unix:///PATH/supervisor.sock "
                    "nor http://HOST:PORT"
                )
        if self._auth is None and env.get("SUPERVISOR_USERNAME"):
            self._auth = (env["SUPERVISOR_USERNAME"], env.get("SUPERVISOR_PASSWORD", ""))

    def __repr__(self) -> str:
        return f"SupervisordProcessManager(url={self.url!r})"

    async def list(self, pattern: str) -> list[ServiceStatus]:
        infos = cast(list[dict[str, Any]], await self._call("supervisor.getAllProcessInfo"))
        return [
            status_from_info(label_of(info), info, self.url, self.start_command(label_of(info)))
            for info in infos
            if fnmatch.fnmatchcase(f"{info.get('group')}:{info.get('name')}", pattern)
            or fnmatch.fnmatchcase(str(info.get("name")), pattern)
        ]

    async def inspect(self, label: str) -> ServiceStatus:
        info = await self._call("supervisor.getProcessInfo", label, tolerate=(Faults.BAD_NAME,))
        if isinstance(info, xmlrpc.client.Fault):
            detail = f"supervisord at {self.url} has no program {label!r}"
            return ServiceStatus(label, ServiceState.NOT_FOUND, None, self.url, detail)
        info = cast(dict[str, Any], info)
        return status_from_info(label, info, self.url, self.start_command(label))

    def start_command(self, label: str) -> str:
        """``supervisorctl`` against this supervisord (its URL, never its credentials)."""
        return shlex.join(["supervisorctl", "-s", self.url, "start", label])

    async def restart(self, label: str) -> None:
        await self.stop(label)
        await self._start(label)

    async def stop(self, label: str) -> None:
        await self._stop("supervisor.stopProcess", label, Faults.NOT_RUNNING)

    def service_file(self, spec: ServiceSpec) -> ServiceFile:
        path = self._conf_path(spec.label)
        if not spec.argv:
            raise AdapterUnavailable(f"cannot install {spec.label!r}: its command is empty")
        keys = {"command": command_value(spec.argv)}
        if spec.cwd:
            keys["directory"] = spec.cwd
        if spec.env:
            keys["environment"] = environment_value(spec.env)
        if spec.stdout_path:
            keys["stdout_logfile"] = spec.stdout_path
        if spec.stderr_path:
            keys["stderr_logfile"] = spec.stderr_path
        keys |= {"autostart": "true", "autorestart": "true", "startsecs": "1"}
        keys |= {"stopasgroup": "true", "killasgroup": "true"}
        parser = configparser.RawConfigParser()
        section = f"program:{spec.label}"
        parser.add_section(section)
        for key, value in keys.items():
            if "\n" in value or "\r" in value or "\0" in value:
                raise AdapterUnavailable(f"cannot install {spec.label!r}: {key} holds a line break")
            if _COMMENT.search(value) or value != value.strip():
                raise AdapterUnavailable(
                    f"cannot install {spec.label!r}: supervisord would read part of {key} as a "
                    "comment or drop its outer spaces (a ; or # after a space, or at its start)"
                )
            parser.set(section, key, value.replace("%", "%%"))  # supervisord expands %(x)s
        out = io.StringIO()
        about = " ".join(spec.description.split())
        out.write(f"; written by Talon{': ' + about if about else ''}\n")
        parser.write(out)
        return ServiceFile(path, out.getvalue(), self.url)

    async def enable(self, label: str, spec: ServiceSpec) -> None:
        file = self.service_file(dataclasses.replace(spec, label=label))
        file.path.parent.mkdir(parents=True, exist_ok=True)
        previous = file.path.read_text() if file.path.exists() else None
        _write(file.path, file.text)
        try:  # a file supervisord cannot read (CANT_REREAD) or does not include is taken back
            result = await self._call("supervisor.reloadConfig")
            added, changed, _removed = cast(list[list[list[str]]], result)[0]
            if label not in added and label not in changed:
                known = await self._call(
                    "supervisor.getProcessInfo", label, tolerate=(Faults.BAD_NAME,)
                )
                if isinstance(known, xmlrpc.client.Fault):
                    raise ActionFailed(
                        f"supervisord at {self.url} did not read {file.path} (fix: its "
                        f"supervisord.conf needs [include] files = {self.conf_dir}/*.conf)"
                    )
        except ActionFailed:
            _restore(file.path, previous)
            raise
        if label in changed:  # what `supervisorctl update` does with a changed group
            await self._stop("supervisor.stopProcessGroup", label, Faults.BAD_NAME)
            await self._call("supervisor.removeProcessGroup", label)
        await self._call("supervisor.addProcessGroup", label, tolerate=(Faults.ALREADY_ADDED,))
        await self._start(label)

    async def disable(self, label: str) -> None:
        path = self._conf_path(label)
        await self._stop("supervisor.stopProcessGroup", label, Faults.BAD_NAME)
        await self._call("supervisor.removeProcessGroup", label, tolerate=(Faults.BAD_NAME,))
        path.unlink(missing_ok=True)
        # CANT_REREAD means another file is unreadable: ours is gone, which is what was asked.
        await self._call("supervisor.reloadConfig", tolerate=(Faults.CANT_REREAD,))

    async def _stop(self, method: str, label: str, tolerated: int) -> None:
        result = await self._call(method, label, True, tolerate=(tolerated,))
        for entry in _failures(result):  # a group: one status struct per process
            why = entry.get("description") or entry.get("status")
            raise ActionFailed(f"supervisord could not stop {label_of(entry)!r}: {why}")

    async def _start(self, label: str) -> None:
        """startProcess and wait; a failed first try is followed while supervisord retries."""
        up = (Faults.SPAWN_ERROR, Faults.ABNORMAL_TERMINATION, Faults.ALREADY_STARTED)
        result = await self._call("supervisor.startProcess", label, True, tolerate=up)
        if isinstance(result, xmlrpc.client.Fault):
            await self._settled(label)
        for entry in _failures(result):  # a group: one status struct per process
            await self._settled(label_of(entry))

    async def _settled(self, label: str) -> None:
        """Poll until supervisord's retries end: RUNNING is success, anything else fails."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        while True:
            info = cast(dict[str, Any], await self._call("supervisor.getProcessInfo", label))
            state = str(info.get("statename"))
            if state == "RUNNING":
                return
            why = info.get("spawnerr") or info.get("description") or ""
            log = info.get("stderr_logfile") or info.get("stdout_logfile") or ""
            see = f" (its log: {log})" if log else ""
            if state not in _UP:
                raise ActionFailed(f"supervisord could not start {label!r}: {state}: {why}{see}")
            if loop.time() >= deadline:
                raise ActionFailed(
                    f"{label!r} did not stay up within {self.timeout_s:g}s: "
                    f"still {state}: {why}{see}"
                )
            await asyncio.sleep(0.1)

    def _conf_path(self, label: str) -> Path:
        if not self.conf_dir:
            raise AdapterUnavailable(
                f"cannot install {label!r} into supervisord (fix: {CONF_DIR_FIX})"
            )
        if not _LABEL.fullmatch(label):
            raise AdapterUnavailable(
                f"{label!r} cannot name a supervisord program file (letters, digits, _.@+- only)"
            )
        return Path(self.conf_dir) / f"{label}.conf"

    async def _call(self, method: str, *params: Any, tolerate: tuple[int, ...] = ()) -> Any:
        """One XML-RPC call: its value, or the Fault when its code is tolerated.

        Any other fault is ActionFailed; no answer, or not XML-RPC, is AdapterUnavailable.
        """
        import aiohttp

        if self._problem:
            raise AdapterUnavailable(f"{self._problem} (fix: [process_manager] supervisord_url)")
        body = xmlrpc.client.dumps(params, method).encode()
        headers = {"Content-Type": "text/xml"}
        if self._auth:
            token = base64.b64encode(":".join(self._auth).encode()).decode("ascii")
            headers["Authorization"] = f"Basic {token}"
        try:
            async with asyncio.timeout(self.timeout_s):
                connector = aiohttp.UnixConnector(path=self._socket) if self._socket else None
                async with (
                    aiohttp.ClientSession(connector=connector) as session,
                    session.post(self._post, data=body, headers=headers) as r,
                ):
                    status, answer = r.status, await r.read()
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise self._unreachable(exc) from None
        if status == 401:
            raise AdapterUnavailable(
                f"supervisord at {self.url} refused Talon's credentials (401) (fix: put "
                "user:password@ in supervisord_url, or set SUPERVISOR_USERNAME and "
                "SUPERVISOR_PASSWORD in Talon's environment)"
            )
        if status != 200:
            raise AdapterUnavailable(f"supervisord at {self.url} answered HTTP {status}: {FIX}")
        try:
            values, _ = xmlrpc.client.loads(answer, use_builtin_types=True)
        except xmlrpc.client.Fault as fault:
            if fault.faultCode == Faults.UNKNOWN_METHOD:
                raise AdapterUnavailable(
                    f"supervisord at {self.url} does not know {method} (fix: its supervisord.conf "
                    "needs [rpcinterface:supervisor])"
                ) from None
            if fault.faultCode == Faults.SHUTDOWN_STATE:
                raise AdapterUnavailable(f"supervisord at {self.url} is shutting down") from None
            if fault.faultCode in tolerate:
                return fault
            name = repr(params[0]) if params else ""
            if fault.faultCode == Faults.BAD_NAME:
                raise ActionFailed(f"supervisord at {self.url} has no program {name}") from None
            raise ActionFailed(
                f"supervisord could not {method.removeprefix('supervisor.')}({name}): "
                f"{fault.faultString}"
            ) from None
        except (xmlrpc.client.ResponseError, ExpatError, ValueError) as exc:
            raise AdapterUnavailable(
                f"supervisord at {self.url} answered no XML-RPC: {exc}"
            ) from None
        return values[0] if values else None

    def _unreachable(self, exc: BaseException) -> AdapterUnavailable:
        import aiohttp

        if isinstance(exc, TimeoutError):
            return AdapterUnavailable(
                f"supervisord at {self.url} gave no answer in {self.timeout_s:g}s: {FIX}"
            )
        if isinstance(exc, aiohttp.ClientConnectorError):
            cause = exc.os_error
            if isinstance(cause, FileNotFoundError):
                return AdapterUnavailable(f"no supervisord socket at {self.url}: {FIX}")
            if isinstance(cause, PermissionError):
                return AdapterUnavailable(
                    f"permission denied on {self.url}: the user Talon runs as cannot use it "
                    "(fix: chown/chmod in supervisord's [unix_http_server])"
                )
            return AdapterUnavailable(
                f"cannot connect to supervisord at {self.url}: {cause}: {FIX}"
            )
        if isinstance(exc, aiohttp.ServerDisconnectedError):
            return AdapterUnavailable(f"supervisord at {self.url} closed without a reply: {FIX}")
        return AdapterUnavailable(f"supervisord at {self.url}: {type(exc).__name__}: {exc}: {FIX}")


def _failures(result: object) -> list[dict[str, Any]]:
    """The entries of a group call's result (a list of status structs) that did not succeed."""
    if not isinstance(result, list):
        return []
    return [e for e in result if isinstance(e, dict) and e.get("status") != Faults.SUCCESS]


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")  # not *.conf: supervisord never reads it half-written
    tmp.write_text(text)
    os.replace(tmp, path)


def _restore(path: Path, previous: str | None) -> None:
    if previous is None:
        path.unlink(missing_ok=True)
    else:
        _write(path, previous)
