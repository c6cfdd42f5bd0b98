"""A native Docker engine (no VM), spoken to through its Engine API on the unix socket.

Never by parsing CLI output: the API's JSON is documented and stable, the
CLI's text is neither. Response shapes follow the Engine API reference and are
tested against a real dockerd 20.10 (``GET /_ping`` -> ``OK``; ``GET /version``;
``GET /containers/json``; ``GET /containers/{id}/json`` -> ContainerInspectResponse
with ``State.Status``, ``State.Running``, ``State.Health.Status`` ...; 404 with
``{"message": "No such container: ..."}``; ``POST /containers/{id}/restart?t=N``
-> 204). aiohttp is imported only when a call is made, so building the adapter
costs nothing.

The one thing Talon does to a container is ``restart_unhealthy``: a container
that runs while its own HEALTHCHECK says ``unhealthy`` (the restart moby#28400
asks the engine for). It looks again right before acting and refuses anything
else: a container that is not running was stopped by someone or crashed, and
only the engine knows which (docs/docker.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable
from urllib.parse import quote

from talon.capabilities import Capability
from talon.errors import ActionFailed, AdapterUnavailable, ErrorKind

CONVENTIONAL_SOCKET = "/var/run/docker.sock"


class EngineError(Exception):
    """The engine did not answer as the API says it should; ``kind`` says how."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@runtime_checkable
class HasEngineSocket(Protocol):
    """A runtime that knows the engine socket it provides (a VM runtime with a forwarded one)."""

    def engine_socket(self) -> str: ...


def socket_path(value: str, env: Mapping[str, str]) -> str:
    """``unix:///p``, ``/p`` or ``~/p`` -> an absolute path; ``$VAR`` expanded from ``env``."""
    from talon.node import expand_path

    path = value.removeprefix("unix://")
    return str(expand_path(path, env)) if path else ""


def socket_from_env(env: Mapping[str, str]) -> str:
    """DOCKER_HOST when it names a unix socket, else the conventional path.

    A tcp:// or ssh:// DOCKER_HOST is not spoken here: configure ``socket``.
    """
    host = env.get("DOCKER_HOST", "").strip()
    if host.startswith("unix://"):
        return socket_path(host, env)
    return CONVENTIONAL_SOCKET


def default_socket(runtime: object, env: Mapping[str, str]) -> str:
    """The socket a check uses when none is configured: the runtime's, DOCKER_HOST, convention."""
    if isinstance(runtime, HasEngineSocket):
        own = runtime.engine_socket()
        if own:
            return own
    return socket_from_env(env)


@dataclass(frozen=True, slots=True)
class ContainerState:
    """The part of ContainerInspectResponse a check judges."""

    name: str
    id: str
    status: str  # created | running | paused | restarting | removing | exited | dead
    running: bool
    paused: bool
    restarting: bool
    oom_killed: bool
    exit_code: int | None
    error: str
    started_at: str
    finished_at: str
    restart_count: int
    health: str | None  # None: no health check; else none | starting | healthy | unhealthy
    failing_streak: int = 0
    last_health_output: str = ""


def parse_container(doc: Mapping[str, Any]) -> ContainerState:
    """ContainerInspectResponse -> ContainerState; pure, so it is tested on real shapes."""
    state = doc.get("State") or {}
    health = state.get("Health") or None
    log = (health or {}).get("Log") or []
    last_output = str(log[-1].get("Output", "")).strip() if log else ""
    return ContainerState(
        name=str(doc.get("Name", "")).lstrip("/"),
        id=str(doc.get("Id", "")),
        status=str(state.get("Status", "")),
        running=bool(state.get("Running", False)),
        paused=bool(state.get("Paused", False)),
        restarting=bool(state.get("Restarting", False)),
        oom_killed=bool(state.get("OOMKilled", False)),
        exit_code=state.get("ExitCode"),
        error=str(state.get("Error", "") or ""),
        started_at=str(state.get("StartedAt", "")),
        finished_at=str(state.get("FinishedAt", "")),
        restart_count=int(doc.get("RestartCount", 0) or 0),
        health=None if health is None else str(health.get("Status", "none")),
        failing_streak=int((health or {}).get("FailingStreak", 0) or 0),
        last_health_output=last_output.splitlines()[-1] if last_output else "",
    )


def _classify(exc: BaseException, socket: str) -> EngineError:
    import aiohttp

    if isinstance(exc, TimeoutError):
        return EngineError(ErrorKind.TIMEOUT, f"the engine on {socket} gave no answer in time")
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return EngineError(ErrorKind.EMPTY_REPLY, f"the engine on {socket} closed without a reply")
    if isinstance(exc, aiohttp.ClientConnectorError):
        cause = exc.os_error
        if isinstance(cause, FileNotFoundError):
            return EngineError(ErrorKind.REFUSED, f"no engine socket at {socket}")
        if isinstance(cause, PermissionError):
            return EngineError(
                ErrorKind.DENIED,
                f"permission denied on {socket}: the user Talon runs as cannot use the engine",
            )
        return EngineError(ErrorKind.REFUSED, f"nothing listens on {socket}: {cause.strerror}")
    return EngineError(ErrorKind.PROTOCOL, f"the engine on {socket}: {exc}")


class EngineClient:
    """The Engine API over a unix socket; every call is bounded by ``timeout_s``."""

    def __init__(self, socket_path: str, timeout_s: float) -> None:
        self.socket = socket_path
        self.timeout_s = timeout_s

    async def _request(self, method: str, path: str) -> tuple[int, str]:
        import aiohttp

        try:
            async with asyncio.timeout(self.timeout_s):
                connector = aiohttp.UnixConnector(path=self.socket)
                async with (
                    aiohttp.ClientSession(connector=connector) as session,
                    session.request(method, f"http://localhost{path}") as response,
                ):
                    return response.status, await response.text()
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise _classify(exc, self.socket) from None

    async def _get(self, path: str) -> tuple[int, str]:
        return await self._request("GET", path)

    async def _json(self, path: str) -> Any:
        status, body = await self._get(path)
        if status != 200:
            raise EngineError(ErrorKind.HTTP_STATUS, f"GET {path}: {status} {_message(body)}")
        try:
            return json.loads(body)
        except json.JSONDecodeError as exc:
            raise EngineError(ErrorKind.PROTOCOL, f"GET {path}: invalid JSON: {exc}") from None

    async def ping(self) -> str:
        """``GET /_ping``: the body, ``OK`` from a live engine."""
        status, body = await self._get("/_ping")
        if status != 200:
            raise EngineError(ErrorKind.HTTP_STATUS, f"GET /_ping: {status} {_message(body)}")
        return body.strip()

    async def inspect_container(self, name: str) -> ContainerState | None:
        """``GET /containers/{name}/json``; None when the engine has no such container (404)."""
        path = f"/containers/{quote(name, safe='')}/json"
        status, body = await self._get(path)
        if status == 404:
            return None
        if status != 200:
            raise EngineError(ErrorKind.HTTP_STATUS, f"GET {path}: {status} {_message(body)}")
        try:
            return parse_container(json.loads(body))
        except (json.JSONDecodeError, AttributeError, TypeError, ValueError) as exc:
            raise EngineError(ErrorKind.PROTOCOL, f"GET {path}: unexpected answer: {exc}") from None

    async def info(self) -> dict[str, Any]:
        """``GET /info``: the engine's own description (version, OS, containers running)."""
        doc = await self._json("/info")
        return doc if isinstance(doc, dict) else {}

    async def version(self) -> dict[str, Any]:
        """``GET /version``: ``Version``, ``ApiVersion``, ``MinAPIVersion``, ``Os`` ..."""
        doc = await self._json("/version")
        return doc if isinstance(doc, dict) else {}

    async def containers(self, all: bool = True) -> list[dict[str, Any]]:
        """``GET /containers/json``: one summary per container (``Names``, ``State``,
        ``Status`` such as ``Up 3 minutes (unhealthy)``); stopped ones too with ``all``."""
        doc = await self._json("/containers/json" + ("?all=1" if all else ""))
        return [c for c in doc if isinstance(c, dict)] if isinstance(doc, list) else []

    async def restart_container(self, name: str, stop_timeout: int | None = None) -> None:
        """``POST /containers/{name}/restart``: SIGTERM, SIGKILL after ``stop_timeout``
        seconds (default: the container's own stop timeout, else the engine's 10 s),
        start. 404 is an EngineError of kind NOT_FOUND."""
        query = "" if stop_timeout is None else f"?t={stop_timeout}"
        path = f"/containers/{quote(name, safe='')}/restart{query}"
        status, body = await self._request("POST", path)
        if status == 404:
            raise EngineError(ErrorKind.NOT_FOUND, f"no such container: {name}")
        if status not in (200, 204):
            raise EngineError(ErrorKind.HTTP_STATUS, f"POST {path}: {status} {_message(body)}")


def _message(body: str) -> str:
    """The Engine API's error body is ``{"message": "..."}``."""
    try:
        doc = json.loads(body)
    except json.JSONDecodeError:
        return body.strip()[:200]
    return str(doc.get("message", "")) if isinstance(doc, dict) else body.strip()[:200]


def not_restartable(state: ContainerState) -> str | None:
    """Why the container-restart heal must leave this container alone, or None.

    Only a container that runs while its own health check says ``unhealthy`` is
    restarted. One that is not running was stopped through the API (an operator)
    or crashed, and the Engine API cannot tell which: dockerd keeps that flag
    (``HasBeenManuallyStopped``) to itself, and ``docker kill`` and a SIGKILL from
    the host leave the same inspect document; the engine's own restart policy is
    what restarts crashed containers, and it alone knows. Paused is always an
    operator's doing; restarting is the engine's restart policy at work.
    """
    if state.paused:
        return "it is paused (only an operator pauses a container)"
    if state.restarting or state.status == "restarting":
        return "it is restarting (the engine's restart policy is at work)"
    if not state.running:
        return (
            f"it is {state.status or 'not running'}: Talon never starts a stopped container "
            "(an operator may have stopped it; the engine's restart policy restarts crashed ones)"
        )
    if state.health != "unhealthy":
        return f"it runs and its health is {state.health or 'not checked'}, not unhealthy"
    return None


async def restart_unhealthy(
    client: EngineClient, name: str, stop_timeout: int | None = None
) -> str:
    """The container-restart heal: look again, then restart only a running, unhealthy
    container. Raises AdapterUnavailable (refused) when the container is gone or no
    longer qualifies, ActionFailed when the engine fails the restart."""
    try:
        state = await client.inspect_container(name)
        if state is None:
            raise AdapterUnavailable(f"no such container: {name} (removed since the probe)")
        why = not_restartable(state)
        if why is not None:
            raise AdapterUnavailable(f"{name} is not restarted: {why}")
        await client.restart_container(name, stop_timeout)
    except EngineError as exc:
        if exc.kind is ErrorKind.NOT_FOUND:
            raise AdapterUnavailable(f"{exc} (removed while Talon restarted it)") from None
        if exc.kind is ErrorKind.TIMEOUT:
            raise TimeoutError(str(exc)) from None
        raise ActionFailed(str(exc)) from None
    try:  # the restart is done: what it became is only said, never its outcome
        after = await client.inspect_container(name)
        now = "gone" if after is None else f"{after.status}, health {after.health or 'none'}"
    except EngineError as exc:
        now = f"not known ({exc})"
    last = f": {state.last_health_output[:120]}" if state.last_health_output else ""
    was = f"was unhealthy, failing streak {state.failing_streak}{last}"
    return f"restarted {name} ({was}); now {now}"


class EngineRuntime:
    """A native engine: no VM, no shell into it. Talon never restarts the engine itself
    (that is its process manager's: ``engine_service``); it restarts an unhealthy
    container through the engine's API (``restart_unhealthy``)."""

    name = "docker"
    capabilities: frozenset[Capability] = frozenset({Capability.RESTART_CONTAINER})

    def __init__(self, env: Mapping[str, str], *, socket: str = "", timeout_s: float = 5.0) -> None:
        self._env = dict(env)
        self._socket = socket_path(socket, env) if socket else socket_from_env(env)
        self.timeout_s = timeout_s
        self.health_detail = ""

    def engine_socket(self) -> str:
        return self._socket

    def engine_service(self, process_manager: str) -> str | None:
        """The engine's conventional service under ``process_manager``: a dead engine is
        restarted through it ([runtime] engine_service overrides)."""
        return {"systemd": "docker.service"}.get(process_manager)

    def client(self) -> EngineClient:
        return EngineClient(self._socket, self.timeout_s)

    async def is_healthy(self) -> bool:
        try:
            answer = await self.client().ping()
        except EngineError as exc:
            self.health_detail = str(exc)
            return False
        self.health_detail = f"GET /_ping on {self._socket}: {answer[:40]!r}"
        return answer == "OK"

    async def vm_address(self) -> str | None:
        return None

    async def uptime_s(self) -> float | None:
        return None

    def ssh_command(self, script: str) -> list[str]:
        raise AdapterUnavailable(
            "a native container engine has no VM to run a witness in; run the script on the host"
        )

    async def force_cycle(self) -> None:
        raise AdapterUnavailable(
            "Talon does not restart a native container engine: it belongs to the host's "
            "process manager (a [service.NAME] probe can restart it)"
        )

    async def restart_forwarding(self) -> None:
        raise AdapterUnavailable("a native container engine has no port forwarding to heal")

    async def facts(self) -> dict[str, Any]:
        facts: dict[str, Any] = {"runtime": self.name, "socket": self._socket, "vm_address": None}
        try:
            info = await self.client().info()
        except EngineError as exc:
            facts["error"] = str(exc)
            return facts
        keep = ("ServerVersion", "OperatingSystem", "Containers", "ContainersRunning", "NCPU")
        facts["engine"] = {k: info[k] for k in keep if k in info}
        with contextlib.suppress(EngineError):
            facts["containers"] = [
                {
                    "name": str((c.get("Names") or ["?"])[0]).lstrip("/"),
                    "state": c.get("State"),
                    "status": c.get("Status"),
                }
                for c in (await self.client().containers())[:50]
            ]
        return facts
