"""Who watches the watchdog: a dead-man's switch pinged by every cycle (healthchecks.io style).

The protocol is healthchecks.io's (any compatible server works): ``URL/start``
when a cycle begins, ``URL`` when it ends well, ``URL/fail`` when it ends in a
signal listed in ``fail_when`` (or an internal task died, or the cycle itself
crashed). Each ping is a POST whose plain-text body — stored by the server as
the ping's log — says which node, its signal and why.

What the outside sees when Talon is in trouble is the point of it: a dead
Talon sends nothing, and the check goes down once its period plus grace time
pass; a wedged cycle sent ``/start`` and never finishes, and the check goes
down once its grace time passes. So set the check's period to
``check_interval_secs`` (or ``min_interval_secs``, if larger) and its grace
time above the longest cycle (probe timeouts plus a heal).

Decisions are pure (``at_start``, ``at_end``, ``verdict``, ``ping_url``). The
``Deadman`` shell sends in the background, one ping at a time and in order,
each bounded by ``timeout_secs``; at most a few wait, the rest are dropped.
It never blocks or delays a cycle and never raises into the loop; a failure
is logged once per distinct error and counted in the metrics.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from talon.actions.secrets import SecretError, Secrets
from talon.config.fleet import DeadmanConfig
from talon.config.probes import check_http_url
from talon.redact import redact_text

if TYPE_CHECKING:
    import aiohttp

    from talon.core.model import CoreState
    from talon.daemon.wiring import Wiring
    from talon.report import ProbeResult

Kind = Literal["start", "success", "fail"]
MAX_PENDING = 3  # pings waiting or in flight; more means the receiver is stuck
MAX_BODY = 10_000  # healthchecks.io keeps up to 100 kB per ping
TOLERANCE_S = 0.5  # cycles start "every N s" give or take the scheduler


@dataclass(frozen=True)
class Ping:
    kind: Kind
    body: str = ""


@dataclass(frozen=True)
class Memory:
    """What was sent so far: enough to rate-limit without losing a change."""

    last_at: float | None = None  # when the last pinged cycle began (or ended, without starts)
    last_kind: Kind | None = None  # "success" or "fail": the last end sent
    open_start: bool = False  # this cycle sent /start: its end is always sent


def _due(config: DeadmanConfig, memory: Memory, now: float) -> bool:
    if memory.last_at is None:
        return True
    return now - memory.last_at >= config.min_interval_secs - TOLERANCE_S


def at_start(config: DeadmanConfig, memory: Memory, now: float) -> tuple[Ping | None, Memory]:
    """A cycle begins: /start, when starts are wanted and a ping is due."""
    if config.send_start and _due(config, memory, now):
        return Ping("start"), replace(memory, last_at=now, open_start=True)
    return None, replace(memory, open_start=False)


def at_end(
    config: DeadmanConfig, memory: Memory, now: float, kind: Kind, body: str
) -> tuple[Ping | None, Memory]:
    """A cycle ended as ``kind``: close an open /start, report a change at once, else if due."""
    if memory.open_start:
        return Ping(kind, body), replace(memory, last_kind=kind, open_start=False)
    if kind != memory.last_kind or _due(config, memory, now):
        return Ping(kind, body), Memory(last_at=now, last_kind=kind)
    return None, memory


def verdict(
    *,
    node_id: str,
    state: str,
    signal: str,
    incident: str | None,
    root_cause: str | None,
    failing: Sequence[str],
    tasks: Mapping[str, str],
    fail_when: Sequence[str],
    crash: str | None = None,
) -> tuple[Kind, str]:
    """success or fail, and the ping's body: which node, its signal, and why."""
    reasons = [f"signal is {signal}"] if signal in fail_when else []
    reasons += [f"task {name} is {status}" for name, status in tasks.items() if status != "running"]
    if crash is not None:
        reasons.append(f"the cycle crashed: {crash}")
    kind: Kind = "fail" if reasons else "success"
    lines = [f"talon node {node_id}: {'FAIL' if reasons else 'ok'} ({signal})", f"node: {node_id}"]
    lines.append(f"state: {state}, signal: {signal}")
    if incident is not None:
        lines.append(
            f"incident: {incident}" + (f" (root cause: {root_cause})" if root_cause else "")
        )
    if failing:
        lines.append(f"failing probes: {', '.join(failing)}")
    if reasons:
        lines.append(f"reasons: {'; '.join(reasons)}")
    return kind, "\n".join(lines)[:MAX_BODY] + "\n"


def ping_url(base: str, kind: Kind) -> str:
    """``base`` for a success, ``base/start`` or ``base/fail`` otherwise (query kept)."""
    if kind == "success":
        return base
    parts = urlsplit(base)
    return urlunsplit(parts._replace(path=f"{parts.path.rstrip('/')}/{kind}"))


class Deadman:
    """The daemon's side: decide at each cycle's start and end, send in the background."""

    def __init__(self, node_id: str, metrics: Any, *, shadow: bool = False) -> None:
        from talon.logs import get_logger

        self.node_id = node_id
        self.metrics = metrics
        self.shadow = shadow  # a shadow run must not report for the real one
        self.memory = Memory()
        self.log = get_logger(component="deadman", node_id=node_id)
        self._tasks: set[asyncio.Task[None]] = set()
        self._lock: asyncio.Lock | None = None
        self._session: aiohttp.ClientSession | None = None
        self._url: tuple[str, Secrets, str] | None = None  # (reference, resolver, URL)
        self._errors: set[str] = set()  # logged since the last ping that got through

    # the loop calls these; none of them waits for the network
    def started(self, w: Wiring, now: float) -> None:
        config = w.loaded.config.deadman
        if config.url is None or self.shadow:
            return
        try:
            ping, memory = at_start(config, self.memory, now)
            sent = self._submit(ping, config, w.secrets)
            self.memory = memory if sent else replace(self.memory, open_start=False)
        except Exception as exc:  # the loop's watch matters more than its switch
            self.log.exception("deadman.error", error=repr(exc))

    def finished(
        self,
        w: Wiring,
        now: float,
        state: CoreState,
        results: Sequence[ProbeResult],
        tasks: Mapping[str, str],
        crash: str | None = None,
    ) -> None:
        config = w.loaded.config.deadman
        if config.url is None or self.shadow:
            return
        incident = state.incident
        try:
            kind, body = verdict(
                node_id=self.node_id,
                state=state.node.value,
                signal=state.signal.value,
                incident=incident.id if incident else None,
                root_cause=incident.root_cause.value if incident and incident.root_cause else None,
                failing=[r.key for r in results if r.failed or r.degraded],
                tasks=tasks,
                fail_when=config.fail_when,
                crash=crash,
            )
            body = redact_text(body, w.secrets.known_values())  # it leaves the node
            ping, memory = at_end(config, self.memory, now, kind, body)
            if self._submit(ping, config, w.secrets):  # a dropped ping is not remembered as sent
                self.memory = memory
        except Exception as exc:
            self.log.exception("deadman.error", error=repr(exc))

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    # sending
    def _submit(self, ping: Ping | None, config: DeadmanConfig, secrets: Secrets) -> bool:
        """Send ``ping`` beside the loop; False when it had to be dropped."""
        if ping is None:
            return True
        if len(self._tasks) >= MAX_PENDING:
            self._result(ping, False, f"dropped: {len(self._tasks)} pings still pending")
            return False
        task = asyncio.create_task(self._send(ping, config, secrets))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _send(self, ping: Ping, config: DeadmanConfig, secrets: Secrets) -> None:
        self._lock = self._lock or asyncio.Lock()
        async with self._lock:  # one at a time: the server sees them in order
            ok, detail = await self._post(ping, config, secrets)
        self._result(ping, ok, detail)

    async def _post(self, ping: Ping, config: DeadmanConfig, secrets: Secrets) -> tuple[bool, str]:
        url = ""
        try:
            async with asyncio.timeout(config.timeout_secs):
                url = await self._resolve(config, secrets)
                target = ping_url(url, ping.kind)
                headers = {"Content-Type": "text/plain; charset=utf-8"}
                async with self._client().post(
                    target, data=ping.body.encode(), headers=headers
                ) as r:
                    said = (await r.content.read(200)).decode("utf-8", "replace").strip()
                    return 200 <= r.status < 300, f"HTTP {r.status}: {said[:80]}"
        except TimeoutError:
            return False, f"no answer within {config.timeout_secs}s"
        except (SecretError, ValueError) as exc:
            return False, str(exc)
        except Exception as exc:  # refused, reset, DNS: logged, never fatal
            known = secrets.known_values() | ({url, urlsplit(url).path} if url else set())
            return False, redact_text(f"{type(exc).__name__}: {exc}", known)[:300]

    async def _resolve(self, config: DeadmanConfig, secrets: Secrets) -> str:
        ref = config.url or ""
        if not ref.startswith(("env:", "secret:")):
            return ref
        if self._url is not None and self._url[:2] == (ref, secrets):
            return self._url[2]
        url = await secrets.resolve(ref)
        try:
            check_http_url(url, show=False)
        except ValueError as exc:
            raise ValueError(f"[deadman] url = {ref}: the value {exc}") from None
        self._url = (ref, secrets, url)
        return url

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            import aiohttp

            self._session = aiohttp.ClientSession()
        return self._session

    def _result(self, ping: Ping, ok: bool, detail: str) -> None:
        self.metrics.observe_deadman(ping.kind, ok)
        if ok:
            if self._errors:
                self.log.info("deadman.ok", kind=ping.kind, after=sorted(self._errors))
            self._errors.clear()
        elif detail not in self._errors:  # once per distinct error, not once per cycle
            self.log.warning("deadman.failed", kind=ping.kind, error=detail)
            self._errors.add(detail)
