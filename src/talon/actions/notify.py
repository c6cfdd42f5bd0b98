"""Tell humans: every channel at once, each bounded by its timeout, failures kept for later (F16).

A channel is an apprise URL or a command that reads the message on stdin, or
an ``Adapter`` Talon builds itself (the original format's SOS keys: Telegram
through a leased token, iMessage on macOS; see talon.actions.sos). A failing,
refusing or hanging channel never raises and never delays the others beyond
its own timeout. A failed delivery goes to an outbox on disk and is
retried per channel on a doubling schedule until it gets through or gives up.
Every detail is redacted before anyone sees it (R26).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from talon.actions.alertmanager import AlertmanagerGate
from talon.actions.secrets import SecretError, Secrets
from talon.adapters.command import run_command
from talon.clock import Clock as TalonClock
from talon.clock import Stamp
from talon.config.outputs import ChannelConfig, NotifyConfig
from talon.redact import redact_text
from talon.store.files import StoreError, atomic_write

Event = Literal["notify", "sos"]
DETAIL_LIMIT = 300
ALERTMANAGER = "alertmanager"  # the delivery that says Alertmanager pages instead


@dataclass(frozen=True)
class Message:
    key: str  # the action's idempotency key
    event: Event
    title: str
    body: str
    node_id: str
    incident_id: str | None

    @classmethod
    def build(
        cls,
        *,
        key: str,
        event: Event,
        node_id: str,
        incident_id: str | None,
        summary: str,
        body: str,
    ) -> Message:
        """A message that names its node in the title and the body: fleet alerts look alike."""
        label = "SOS" if event == "sos" else "notice"
        footer = f"node: {node_id}" + (f", incident: {incident_id}" if incident_id else "")
        return cls(
            key=key,
            event=event,
            title=f"[talon {node_id}] {label}: {summary}",
            body=f"{body.rstrip()}\n\n{footer}",
            node_id=node_id,
            incident_id=incident_id,
        )


class Adapter(Protocol):
    """A channel Talon builds from keys other than ``[[notify.channel]]``.

    It gets the outbox, retries, redaction and timeouts of every channel;
    ``steps``: how many tools it may run one after the other, each bounded by
    ``[notify] timeout_secs`` (the whole delivery by ``steps`` times that).
    """

    @property
    def name(self) -> str: ...

    @property
    def events(self) -> tuple[Event, ...]: ...

    @property
    def steps(self) -> int: ...

    async def deliver(
        self, message: Message, *, secrets: Secrets, env: Mapping[str, str], timeout: float
    ) -> tuple[bool, str]: ...


Channel = ChannelConfig | Adapter


@dataclass(frozen=True)
class Delivery:
    channel: str
    ok: bool
    detail: str  # redacted
    attempt: int
    duration_s: float
    retry_at: float | None = None  # when the outbox tries again; None: done or given up


@dataclass(frozen=True)
class _Entry:
    """One undelivered (message, channel) pair in the outbox."""

    message: Message
    channel: str
    attempt: int  # attempts made so far
    retry_at: float
    detail: str

    @property
    def id(self) -> tuple[str, str]:
        return self.message.key, self.channel

    def to_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "message": dataclasses.asdict(self.message)}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> _Entry:
        return cls(**{**raw, "message": Message(**raw["message"])})


class Notifier:
    def __init__(
        self,
        config: NotifyConfig,
        secrets: Secrets,
        *,
        env: Mapping[str, str],
        outbox_path: Path,
        clock: Callable[[], float] = time.time,
        timeline: TalonClock | None = None,
        extra: Sequence[Adapter] = (),
        gate: AlertmanagerGate | None = None,
    ) -> None:
        """``timeline``: Talon's clock; the retry times are then on it, and the outbox file
        keeps a stamp so that the next run re-bases them (a wall jump moves no retry).
        ``extra``: adapters beside the configured channels; a configured channel of the
        same name wins (``talon validate`` says so). ``gate``: whether Alertmanager is there
        to page (route = "alertmanager"); built from the config unless given."""
        self.config = config
        if gate is None and config.route == "alertmanager" and config.alertmanager_url:
            gate = AlertmanagerGate(config.alertmanager_url, timeout_s=config.timeout_secs)
        self.gate = gate if config.route == "alertmanager" else None
        taken = {c.name for c in config.channel}
        self.channels: list[Channel] = [*config.channel, *(a for a in extra if a.name not in taken)]
        self.secrets = secrets
        self.env = env
        self.outbox_path = outbox_path
        self.timeline = timeline
        self.clock = timeline.now if timeline is not None else clock
        self.last_error: str | None = None  # the last outbox read or write that failed
        self._outbox = self._load()
        self._dirty = False  # the outbox changed since it was last written
        self._busy: set[tuple[str, str]] = set()  # being sent right now

    async def send(self, message: Message) -> list[Delivery]:
        """Deliver to every channel that takes ``message.event``; never raises.

        With route = "alertmanager", nothing is sent while Alertmanager answers its
        ``/-/ready`` (one delivery named ``alertmanager`` says so); when it does not, every
        channel is used and each delivery's detail says why.
        """
        channels = [c for c in self.channels if message.event in c.events]
        message = self._redact_message(message)  # what leaves the node and what is stored
        why_local = ""
        if self.gate is not None and channels:
            started = time.monotonic()
            ready = await self.gate.readiness()
            if ready.ready:
                detail = (
                    f"not sent locally: route = alertmanager and Alertmanager is ready "
                    f"({ready.detail}); Prometheus and Alertmanager page for this node"
                )
                took = time.monotonic() - started
                return [Delivery(ALERTMANAGER, True, self._redact(detail), 1, took)]
            why_local = f"Alertmanager unreachable ({ready.detail}), notified locally: "
        deliveries = await self._deliver([(c, message, 1) for c in channels])
        if not why_local:
            return deliveries
        return [
            dataclasses.replace(d, detail=self._redact(why_local + d.detail)) for d in deliveries
        ]

    async def retry_due(self) -> list[Delivery]:
        """Re-send outbox entries whose time has come, each to its own channel only."""
        now = self.clock()
        due = [e for e in self._outbox.values() if e.retry_at <= now and e.id not in self._busy]
        by_name = {c.name: c for c in self.channels}
        dropped = [self._drop(e) for e in due if e.channel not in by_name]
        jobs = [(by_name[e.channel], e.message, e.attempt + 1) for e in due if e.channel in by_name]
        return dropped + await self._deliver(jobs)

    def pending(self) -> list[dict[str, Any]]:
        """The outbox, soonest retry first (for status output)."""
        return [
            {
                "channel": e.channel,
                "key": e.message.key,
                "event": e.message.event,
                "title": e.message.title,
                "incident_id": e.message.incident_id,
                "attempts": e.attempt,
                "retry_at": e.retry_at,
                "detail": e.detail,
            }
            for e in sorted(self._outbox.values(), key=lambda e: e.retry_at)
        ]

    async def _deliver(self, jobs: Sequence[tuple[Channel, Message, int]]) -> list[Delivery]:
        """Send all ``jobs`` at once; save the outbox when it changed."""
        ids = {(m.key, c.name) for c, m, _ in jobs}
        self._busy |= ids
        try:
            deliveries = await asyncio.gather(*(self._attempt(c, m, n) for c, m, n in jobs))
        finally:
            self._busy -= ids
        return self._save(deliveries) if self._dirty else deliveries

    async def _attempt(self, channel: Channel, message: Message, attempt: int) -> Delivery:
        started = time.monotonic()
        try:
            ok, detail = await self._try(channel, message)
        except asyncio.CancelledError:
            # Talon is stopping mid-send: the message goes to the outbox, and the next run
            # sends it (a recovery notice is never lost to a restart).
            why = "Talon stopped while sending; kept for its next run"
            self._record(channel.name, message, attempt, False, why)
            self._save(())
            raise
        detail = self._redact(detail)
        retry_at = self._record(channel.name, message, attempt, ok, detail)
        if not ok and retry_at is None:
            detail = f"gave up after {attempt} attempt(s): {detail}"
        return Delivery(channel.name, ok, detail, attempt, time.monotonic() - started, retry_at)

    async def _try(self, channel: Channel, message: Message) -> tuple[bool, str]:
        """One delivery, bounded; a broken channel never breaks the others (F16)."""
        timeout = self.config.timeout_secs
        budget = timeout * (channel.steps if not isinstance(channel, ChannelConfig) else 1)
        try:
            async with asyncio.timeout(budget):
                return await self._deliver_one(channel, message, timeout)
        except TimeoutError:
            return False, f"no answer within {budget:g}s"
        except SecretError as exc:
            return False, str(exc)
        except Exception as exc:  # a broken channel must not break the others (F16)
            return False, f"{type(exc).__name__}: {exc}"

    async def _deliver_one(
        self, channel: Channel, message: Message, timeout: float
    ) -> tuple[bool, str]:
        if not isinstance(channel, ChannelConfig):  # an adapter Talon built (the SOS keys)
            return await channel.deliver(
                message, secrets=self.secrets, env=self.env, timeout=timeout
            )
        secret = await self.secrets.resolve(channel.secret) if channel.secret else None
        if channel.url is not None:
            return await _apprise(channel.url, secret, message, timeout)
        assert channel.command is not None  # the config allows exactly one of the two
        return await self._command(channel.command, secret, message, timeout)

    async def _command(
        self, argv: Sequence[str], secret: str | None, message: Message, timeout: float
    ) -> tuple[bool, str]:
        env = {
            **self.env,
            "TALON_TITLE": message.title,
            "TALON_EVENT": message.event,
            "TALON_NODE_ID": message.node_id,
            "TALON_INCIDENT": message.incident_id or "",
        }
        if secret is not None:
            env["TALON_SECRET"] = secret  # env, never argv (R26)
        result = await run_command(argv, timeout=timeout, env=env, input=message.body.encode())
        if result.ok:
            return True, "exit 0"
        if result.timed_out:
            return False, f"no answer within {timeout}s (killed)"
        if result.spawn_error:
            return False, result.spawn_error
        return False, f"exit {result.exit_code}: {result.first_line()}"

    def _record(
        self, channel: str, message: Message, attempt: int, ok: bool, detail: str
    ) -> float | None:
        """Update the outbox; returns when this pair is retried, None when it is done."""
        stale = self._outbox.pop((message.key, channel), None)
        self._dirty |= stale is not None
        if ok or attempt >= self.config.max_attempts:
            return None
        delay = min(self.config.retry_secs * 2 ** (attempt - 1), self.config.retry_max_secs)
        entry = _Entry(message, channel, attempt, self.clock() + delay, detail)
        self._outbox[entry.id] = entry
        self._dirty = True
        return entry.retry_at

    def _drop(self, entry: _Entry) -> Delivery:
        del self._outbox[entry.id]
        self._dirty = True
        detail = f"gave up: channel {entry.channel} is no longer configured"
        return Delivery(entry.channel, False, detail, entry.attempt, 0.0)

    def _redact_message(self, message: Message) -> Message:
        known = self.secrets.known_values()
        title, body = (redact_text(t, known) for t in (message.title, message.body))
        return dataclasses.replace(message, title=title, body=body)

    def _redact(self, text: str) -> str:
        text = redact_text(text, self.secrets.known_values())
        return text if len(text) <= DETAIL_LIMIT else text[: DETAIL_LIMIT - 1] + "…"

    def _save(self, deliveries: Iterable[Delivery]) -> list[Delivery]:
        """Persist the outbox; a failed write is told in last_error and in failed deliveries."""
        data: dict[str, Any] = {
            "version": 1,
            "entries": [e.to_json() for e in self._outbox.values()],
        }
        if self.timeline is not None:
            data["clock"] = self.timeline.stamp().as_dict()
        try:
            atomic_write(self.outbox_path, json.dumps(data, indent=1).encode())
        except StoreError as exc:
            self.last_error = str(exc)
            note = f"; outbox not saved, the retry is lost on restart: {exc}"
            return [
                d if d.ok else dataclasses.replace(d, detail=d.detail + note) for d in deliveries
            ]
        self.last_error = None
        self._dirty = False
        return list(deliveries)

    def _load(self) -> dict[tuple[str, str], _Entry]:
        try:
            raw = json.loads(self.outbox_path.read_bytes())
            entries = [_Entry.from_json(item) for item in raw["entries"]]
            stamp = Stamp.from_dict(raw.get("clock"))
            if stamp is not None and self.timeline is not None:
                delta = self.timeline.rebase_delta(stamp)
                entries = [dataclasses.replace(e, retry_at=e.retry_at + delta) for e in entries]
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, TypeError, KeyError) as exc:
            self.last_error = f"outbox {self.outbox_path} unreadable, starting empty: {exc}"
            return {}
        return {e.id: e for e in entries}


async def _apprise(
    url: str, secret: str | None, message: Message, timeout: float
) -> tuple[bool, str]:
    if secret is not None:
        url = url.replace("{secret}", secret)
    return await apprise_send(url, message, timeout)


async def apprise_send(
    url: str, message: Message, timeout: float, *, service_url: str | None = None
) -> tuple[bool, str]:
    """Send through apprise; ``service_url``: the base URL of the service's API in place of
    the plugin's own (Telegram's ``https://api.telegram.org/bot``; tests use 127.0.0.1)."""
    _quiet_apprise()  # here, not in the threads: before apprise is imported, and no race
    # apprise blocks: run it in a thread; its own timeouts make the thread end too.
    return await asyncio.to_thread(
        _apprise_notify, with_timeouts(url, timeout), message.title, message.body, service_url
    )


def with_timeouts(url: str, timeout: float) -> str:
    """Add apprise's connect and read timeouts (cto, rto) unless the URL sets them."""
    _, sep, query = url.partition("?")
    names = {part.partition("=")[0] for part in query.split("&")}
    extra = "&".join(f"{n}={timeout:g}" for n in ("cto", "rto") if n not in names)
    if not extra:
        return url
    return f"{url}{'&' if query else '' if sep else '?'}{extra}"


def _apprise_notify(
    url: str, title: str, body: str, service_url: str | None = None
) -> tuple[bool, str]:
    import apprise  # costs ~200 ms: only once a channel sends

    client = apprise.Apprise()
    plugin = apprise.Apprise.instantiate(url)
    if plugin is None:
        return False, "apprise does not accept this URL (check its scheme and parts)"
    if service_url is not None:
        if not hasattr(plugin, "notify_url"):
            return False, "this apprise service has no API base URL to replace"
        plugin.notify_url = service_url  # an instance attribute: the class keeps its own
    client.add(plugin)
    result = client.notify(body=body, title=title)
    if result:
        return True, "sent"
    # apprise >= 2 keeps the log lines of each call with its result.
    logs = getattr(result, "logs", None)
    lines = [str(entry.message) for entry in logs()] if callable(logs) else []
    return False, "; ".join(lines[-3:]) or "apprise reported a failure"


def _quiet_apprise() -> None:
    """apprise, and the urllib3 under it, log whole URLs, secrets included (R26).

    Keep their records out of every log; what matters of them comes back with
    each call's result, redacted. Talon itself does not use urllib3.
    """
    for name in ("apprise", "urllib3"):
        logger = logging.getLogger(name)
        if logger.propagate:
            logger.addHandler(logging.NullHandler())
            logger.propagate = False
