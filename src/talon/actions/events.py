"""CloudEvents out: what a core step changed, as structured JSON POSTed to each sink.

``events_for`` is pure: it names what one core step changed (the core says
so in ``Step.changes``), with ids derived from the incident and the transition,
so a replayed step yields the same ids and a receiver can de-duplicate. The
body is a CloudEvents 1.0 structured event that also carries ``name`` (the
type), which is what Inngest's event API reads beside ``data`` and ``id``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from talon.actions.notify import Delivery
from talon.actions.secrets import SecretError, Secrets
from talon.config.outputs import EventsConfig, SinkConfig
from talon.core.model import Action, ActionKind, Changes, CoreState, Hold, Incident, NodeState
from talon.faults import Fault
from talon.redact import redact_text

if TYPE_CHECKING:
    import aiohttp

NODE_DEGRADED = "talon.node.degraded"
INCIDENT_OPENED = "talon.incident.opened"
ACTION_COMPLETED = "talon.action.completed"
RECOVERY_FAILED = "talon.recovery.failed"
HOLD_STARTED = "talon.hold.started"
HOLD_ENDED = "talon.hold.ended"
NODE_RECOVERED = "talon.node.recovered"
INCIDENT_CLOSED = "talon.incident.closed"
SOS_SENT = "talon.sos.sent"

CONTENT_TYPE = "application/cloudevents+json"
Event = tuple[str, dict[str, Any], str]  # (type, data, id)


def cloud_event(
    type: str,
    *,
    node_id: str,
    platform: str,
    data: Mapping[str, Any],
    at: float,
    id: str,
    subject: str | None = None,
) -> dict[str, Any]:
    """A CloudEvents 1.0 structured-mode JSON event; ``data`` always names the node."""
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": id,
        "source": f"talon://{quote(node_id, safe='')}",
        "type": type,
        "time": _rfc3339(at),
        "datacontenttype": "application/json",
        # Extension attribute (names are lower-case a-z0-9): Inngest reads it as the event name.
        "name": type,
        "data": {"node_id": node_id, "platform": platform, **data},
    }
    if subject is not None:  # optional attributes are left out rather than null
        event["subject"] = subject
    return event


def _rfc3339(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def action_event_data(action: Action, outcome: str, detail: str) -> dict[str, Any]:
    """The data of a talon.action.completed event (the executor emits it)."""
    return {
        "incident_id": action.incident_id,
        "action": action.kind.value,
        "key": action.key,
        "tier": action.tier,
        "target": action.target,
        "reason": action.reason,
        "outcome": outcome,
        "detail": detail,
    }


def events_for(
    changes: Changes, state: CoreState, actions: Sequence[Action], *, node_id: str
) -> list[Event]:
    """What one core step changed (``Step.changes``), in the order it happened; pure."""
    return [
        *_hold_ended(changes, state, node_id),
        *_closed(changes, state, node_id),
        *_degraded(changes, state, node_id),
        *_opened(changes, state, node_id),
        *_hold_started(changes, state, node_id),
        *(_sos(a, state, node_id) for a in actions if a.kind is ActionKind.SOS),
    ]


def _data(state: CoreState, incident: Incident | None, node_id: str) -> dict[str, Any]:
    return {
        "node_id": node_id,
        "incident_id": incident.id if incident else None,
        "root_cause": _value(incident.root_cause) if incident else None,
        "state": state.node.value,
        "signal": state.signal.value,
    }


def _value(fault: Fault | None) -> str | None:
    return fault.value if fault is not None else None


def _scope(incident: Incident | None, node_id: str) -> str:
    return incident.id if incident else node_id


def _degraded(changes: Changes, state: CoreState, node_id: str) -> list[Event]:
    if changes.node is None or changes.node[0] is not NodeState.HEALTHY:
        return []
    data = _data(state, state.incident, node_id)
    data["failing"] = [f"{f.probe}: {f.fault.value}" for f in state.findings]
    return [(NODE_DEGRADED, data, f"{_scope(state.incident, node_id)}/node.degraded")]


def _opened(changes: Changes, state: CoreState, node_id: str) -> list[Event]:
    new = changes.opened
    if new is None:
        return []
    incident = state.incident if state.incident and state.incident.id == new.id else new
    data = {**_data(state, incident, node_id), "opened_at": new.opened_at}
    return [(INCIDENT_OPENED, data, f"{new.id}/incident.opened")]


def _closed(changes: Changes, state: CoreState, node_id: str) -> list[Event]:
    closed = changes.closed
    if closed is None:
        return []
    data = {
        **_data(state, closed, node_id),
        "outcome": closed.outcome,
        "opened_at": closed.opened_at,
        "closed_at": closed.closed_at,
        "faults": [f.value for f in closed.faults],
    }
    events: list[Event] = []
    if closed.outcome == "recovered":
        events.append((NODE_RECOVERED, data, f"{closed.id}/node.recovered"))
    events.append((INCIDENT_CLOSED, data, f"{closed.id}/incident.closed"))
    return events


def _hold_data(
    state: CoreState, hold: Hold, incident: Incident | None, node_id: str
) -> dict[str, Any]:
    span = {"reason": hold.reason.value, "since": hold.since, "until": hold.until}
    return {**_data(state, incident, node_id), **span}


def _hold_started(changes: Changes, state: CoreState, node_id: str) -> list[Event]:
    hold = changes.hold_started
    if hold is None:
        return []
    data = _hold_data(state, hold, state.incident, node_id)
    scope = _scope(state.incident, node_id)
    events = [(HOLD_STARTED, data, f"{scope}/hold.started/{hold.since:.0f}")]
    if hold.reason is Fault.FAILED_RECOVERY:
        events.append((RECOVERY_FAILED, data, f"{scope}/recovery.failed/{hold.since:.0f}"))
    return events


def _hold_ended(changes: Changes, state: CoreState, node_id: str) -> list[Event]:
    hold = changes.hold_ended
    if hold is None:
        return []
    incident = state.incident or changes.closed
    data = _hold_data(state, hold, incident, node_id)
    return [(HOLD_ENDED, data, f"{_scope(incident, node_id)}/hold.ended/{hold.since:.0f}")]


def _sos(action: Action, state: CoreState, node_id: str) -> Event:
    data = {**_data(state, state.incident, node_id), "key": action.key, "reason": action.reason}
    return SOS_SENT, data, f"{action.key}/sos.sent"


class EventSink:
    """POSTs each event to every configured sink at once; never raises."""

    def __init__(self, config: EventsConfig, secrets: Secrets) -> None:
        self.config = config
        self.secrets = secrets
        self._session: aiohttp.ClientSession | None = None

    async def emit(self, event: Mapping[str, Any]) -> list[Delivery]:
        body = json.dumps(event).encode()
        posts = (self._post(i, sink, body) for i, sink in enumerate(self.config.sink))
        return list(await asyncio.gather(*posts))

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _post(self, index: int, sink: SinkConfig, body: bytes) -> Delivery:
        started = time.monotonic()
        ok, detail = await self._try(sink, body)
        known = self.secrets.known_values()
        name = redact_text(f"sink{index}:{urlsplit(sink.url).hostname or '?'}", known)
        detail = redact_text(detail, known)[:300]
        return Delivery(name, ok, detail, 1, time.monotonic() - started)

    async def _try(self, sink: SinkConfig, body: bytes) -> tuple[bool, str]:
        timeout = self.config.timeout_secs
        try:
            async with asyncio.timeout(timeout):
                url = sink.url
                if sink.secret is not None:
                    url = url.replace("{secret}", await self.secrets.resolve(sink.secret))
                headers = {"Content-Type": CONTENT_TYPE}
                async with self._client().post(url, data=body, headers=headers) as resp:
                    if 200 <= resp.status < 300:
                        return True, f"HTTP {resp.status}"
                    said = (await resp.content.read(200)).decode("utf-8", "replace").strip()
                    return False, f"HTTP {resp.status}: {said}"
        except TimeoutError:
            return False, f"no answer within {timeout}s"
        except SecretError as exc:
            return False, str(exc)
        except Exception as exc:  # refused, reset, bad URL: one sink never breaks the others
            return False, f"{type(exc).__name__}: {exc}"

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            import aiohttp  # only a node that has sinks pays for it

            self._session = aiohttp.ClientSession()
        return self._session
