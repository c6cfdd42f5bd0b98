"""The fleet view: every peer's ``/health`` answer folded into one picture. Pure.

No I/O and no clock: the adapter (``talon.fleet.fetch``) hands over what each
peer answered, or how reaching it failed, and this module decides what that
means.

- A peer is *reachable* when it answered with a valid ``talon.health/v1``
  payload, HTTP 200 or 503 alike: a 503 is a node saying it is in trouble,
  which is an answer, not silence. Anything else is *unreachable*, with the
  reason: refused, timeout, dns, unreachable, tls, protocol, unauthorized
  (401: a missing or wrong token), http_error (another status without a
  payload), bad_payload (not JSON, or not a talon.health/v1 document), token
  (its token reference could not be resolved here).
- A reachable peer is *stale* when it says so itself (its loop has not
  finished a cycle for longer than its own bound), or, with
  ``stale_after_s``, when its last cycle finished longer ago than that, by
  the peer's own clock (``last_cycle.age_s``, so clock skew between machines
  does not matter). A wedged peer keeps serving ``/health``; its cycles age.
- The *worst signal* is the most severe signal that any reachable peer
  reported, stale peers included (their signal is the last one they computed,
  shown beside the stale flag). Order: stable < recovering < degraded hold <
  failed recovery (the last two both need a human; a failed recovery also
  means Talon's own heal did not hold, or a node is critical). Unreachable
  peers have no signal, so they never make the worst signal *better*: they
  are counted and listed apart, and they make the exit code at least 1.
- The fleet's *pass rate* is sum(passed) / sum(passed + degraded + failed)
  over the reachable peers' last cycles (skipped probes do not count); None
  when no probe was counted anywhere. A *degraded* probe answered only through
  a fallback path (its localhost path is dead): counted apart, never passed.
  A peer too old to count degraded probes reports them as passed.
- Exit code: 2 when a reachable peer's signal is failed recovery or degraded
  hold (or there is no peer to ask); 1 when a peer is recovering, stale or
  unreachable; 0 when every peer answered, is fresh and stable.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from talon.config.fleet import FleetConfig

SCHEMA = "talon.fleet/v1"
HEALTH_SCHEMA = "talon.health/v1"
SEVERITY = {"stable": 0, "recovering": 1, "degraded hold": 2, "failed recovery": 3}
NEEDS_A_HUMAN = 2  # severity from which the exit code is 2

# How reaching a peer failed (``PeerView.error``).
REFUSED = "refused"
TIMEOUT = "timeout"
DNS = "dns"
UNREACHABLE = "unreachable"
TLS = "tls"
PROTOCOL = "protocol"
UNAUTHORIZED = "unauthorized"
HTTP_ERROR = "http_error"
BAD_PAYLOAD = "bad_payload"
TOKEN = "token"
OTHER = "error"


@dataclass(frozen=True)
class Target:
    """One peer to ask: its /health URL, the reference of its token, its time bound."""

    name: str
    url: str
    token: str | None  # a secret reference (env:NAME / secret:NAME), never the value
    timeout_s: float
    is_self: bool = False
    labels: tuple[tuple[str, str], ...] = ()  # configured Prometheus target labels


@dataclass(frozen=True)
class Answer:
    """What the adapter got from one peer: an HTTP status and body, or a transport error."""

    target: Target
    elapsed_s: float
    status: int | None = None
    body: bytes | None = None
    error: str | None = None
    detail: str = ""


@dataclass(frozen=True)
class PeerView:
    name: str
    url: str
    is_self: bool
    elapsed_s: float
    reachable: bool
    error: str | None = None
    detail: str = ""
    http_status: int | None = None
    node_id: str | None = None
    state: str | None = None
    signal: str | None = None
    stale: bool = False
    stale_why: str | None = None
    last_cycle_age_s: float | None = None
    passed: int = 0
    degraded: int = 0
    failed: int = 0
    skipped: int = 0
    hold_reason: str | None = None
    hold_remaining_s: float | None = None
    incident_id: str | None = None
    root_cause: str | None = None
    reasons: tuple[str, ...] = ()
    version: str | None = None

    @property
    def counted(self) -> int:
        """Probes in the pass rate: every one not skipped."""
        return self.passed + self.degraded + self.failed

    @property
    def pass_rate(self) -> float | None:
        return None if self.counted == 0 else self.passed / self.counted

    def as_dict(self) -> dict[str, Any]:
        rate = self.pass_rate
        return {
            "name": self.name,
            "url": self.url,
            "self": self.is_self,
            "reachable": self.reachable,
            "error": self.error,
            "detail": self.detail,
            "http_status": self.http_status,
            "elapsed_s": round(self.elapsed_s, 3),
            "node_id": self.node_id,
            "state": self.state,
            "signal": self.signal,
            "stale": self.stale,
            "stale_why": self.stale_why,
            "last_cycle_age_s": self.last_cycle_age_s,
            "probes": {
                "passed": self.passed,
                "degraded": self.degraded,
                "failed": self.failed,
                "skipped": self.skipped,
                "pass_rate": None if rate is None else round(rate, 4),
            },
            "hold": None
            if self.hold_reason is None
            else {"reason": self.hold_reason, "remaining_s": self.hold_remaining_s},
            "incident": None
            if self.incident_id is None
            else {"id": self.incident_id, "root_cause": self.root_cause},
            "reasons": list(self.reasons),
            "version": self.version,
        }


@dataclass(frozen=True)
class FleetView:
    peers: tuple[PeerView, ...]
    worst_signal: str | None
    worst_peers: tuple[str, ...]
    passed: int
    failed: int
    degraded: int = 0
    unreachable: tuple[str, ...] = field(default=())
    stale: tuple[str, ...] = field(default=())

    @property
    def counted(self) -> int:
        """Probes in the pass rate: every one not skipped."""
        return self.passed + self.degraded + self.failed

    @property
    def pass_rate(self) -> float | None:
        return None if self.counted == 0 else self.passed / self.counted

    @property
    def exit_code(self) -> int:
        if not self.peers or SEVERITY.get(self.worst_signal or "", 0) >= NEEDS_A_HUMAN:
            return 2
        if self.unreachable or self.stale or self.worst_signal != "stable":
            return 1
        return 0


# ------------------------------------------------------------------ targets
def _self_url(bind: str) -> str:
    """The local daemon's /health URL from ``[health] bind`` (a wildcard means loopback)."""
    host, _, port = bind.rpartition(":")
    host = host.strip("[]")
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/health"


def targets(
    fleet: FleetConfig,
    *,
    node_id: str,
    health_enabled: bool,
    health_bind: str,
    health_token: str | None,
) -> list[Target]:
    """The peers to ask, in config order, this node's own /health first when included."""
    peers = [
        Target(
            p.name,
            p.url,
            p.token,
            p.timeout_secs or fleet.timeout_secs,
            labels=tuple(sorted(p.labels.items())),
        )
        for p in fleet.peers
    ]
    if fleet.include_self and health_enabled:
        own = Target(node_id, _self_url(health_bind), health_token, fleet.timeout_secs, True)
        if all(p.url.rstrip("/") != own.url and p.name != own.name for p in peers):
            peers.insert(0, own)
    return peers


# ----------------------------------------------------------------- reading
def _num(value: Any) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if ok else None


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _table(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def payload(body: bytes | None) -> dict[str, Any] | None:
    """The talon.health/v1 document in ``body``, or None."""
    return _payload(body)[0]


def _payload(body: bytes | None) -> tuple[dict[str, Any] | None, str]:
    """The health document in ``body``, or None and why it is not one."""
    try:
        data = json.loads(body or b"")
    except (ValueError, UnicodeDecodeError):
        return None, "the answer is not JSON"
    if not isinstance(data, dict):
        return None, "the answer is not a JSON object"
    if data.get("schema") != HEALTH_SCHEMA:
        said = str(data.get("schema"))[:40]
        return None, f"schema is {said!r}, expected {HEALTH_SCHEMA!r}"
    if data.get("signal") not in SEVERITY:
        return None, f"unknown signal {str(data.get('signal'))[:40]!r}"
    return data, ""


def _failed(answer: Answer, error: str, detail: str) -> PeerView:
    t = answer.target
    return PeerView(
        t.name,
        t.url,
        t.is_self,
        answer.elapsed_s,
        reachable=False,
        error=error,
        detail=detail,
        http_status=answer.status,
    )


def _staleness(data: Mapping[str, Any], stale_after_s: float | None) -> str | None:
    """Why the peer counts as stale, or None."""
    age = _num(_table(data.get("last_cycle")).get("age_s"))
    if data.get("stale") is True:
        return (
            "no cycle finished yet"
            if age is None
            else f"the peer says so (last cycle {age:.0f}s ago)"
        )
    if stale_after_s is not None and (age is None or age > stale_after_s):
        return (
            "no cycle finished yet"
            if age is None
            else f"last cycle {age:.0f}s ago > {stale_after_s:g}s"
        )
    return None


def read_answer(answer: Answer, stale_after_s: float | None = None) -> PeerView:
    """Classify one peer's answer (see the module docstring)."""
    if answer.error is not None:
        return _failed(answer, answer.error, answer.detail)
    status = answer.status or 0
    if status == 401:
        return _failed(answer, UNAUTHORIZED, "HTTP 401: the token is missing or wrong")
    data, why = _payload(answer.body)
    if data is None or status not in (200, 503):
        if status not in (200, 503):
            return _failed(answer, HTTP_ERROR, f"HTTP {status} without a health payload")
        return _failed(answer, BAD_PAYLOAD, f"HTTP {status}: {why}")
    probes = _table(data.get("probes"))
    hold = data.get("hold")
    incident = data.get("incident")
    stale_why = _staleness(data, stale_after_s)
    t = answer.target
    return PeerView(
        t.name,
        t.url,
        t.is_self,
        answer.elapsed_s,
        reachable=True,
        http_status=status,
        node_id=_text(_table(data.get("node")).get("node_id")),
        state=_text(data.get("state")),
        signal=data["signal"],
        stale=stale_why is not None,
        stale_why=stale_why,
        last_cycle_age_s=_num(_table(data.get("last_cycle")).get("age_s")),
        passed=_count(probes.get("passed")),
        degraded=_count(probes.get("degraded")),
        failed=_count(probes.get("failed")),
        skipped=_count(probes.get("skipped")),
        hold_reason=_text(_table(hold).get("reason")) if hold else None,
        hold_remaining_s=_num(_table(hold).get("remaining_s")) if hold else None,
        incident_id=_text(_table(incident).get("id")) if incident else None,
        root_cause=_text(_table(incident).get("root_cause")) if incident else None,
        reasons=tuple(r for r in data.get("reasons") or () if isinstance(r, str)),
        version=_text(data.get("version")),
    )


# ---------------------------------------------------------------- the fleet
def worst_signal(signals: Iterable[str]) -> str | None:
    """The most severe of ``signals`` (unknown ones ignored); None if there is none."""
    known = [s for s in signals if s in SEVERITY]
    return max(known, key=SEVERITY.__getitem__) if known else None


def fleet_view(answers: Sequence[Answer], stale_after_s: float | None = None) -> FleetView:
    peers = tuple(read_answer(a, stale_after_s) for a in answers)
    reachable = [p for p in peers if p.reachable]
    worst = worst_signal(p.signal for p in reachable if p.signal)
    return FleetView(
        peers=peers,
        worst_signal=worst,
        worst_peers=tuple(p.name for p in reachable if worst is not None and p.signal == worst),
        passed=sum(p.passed for p in reachable),
        failed=sum(p.failed for p in reachable),
        degraded=sum(p.degraded for p in reachable),
        unreachable=tuple(p.name for p in peers if not p.reachable),
        stale=tuple(p.name for p in reachable if p.stale),
    )


def as_json(view: FleetView, *, now: float, asked_by: str, timeout_s: float) -> dict[str, Any]:
    """The ``talon fleet status --json`` document (schema ``talon.fleet/v1``)."""
    rate = view.pass_rate
    return {
        "schema": SCHEMA,
        "asked_by": asked_by,
        "now": round(now, 3),
        "timeout_s": timeout_s,
        "exit_code": view.exit_code,
        "summary": {
            "peers": len(view.peers),
            "reachable": len(view.peers) - len(view.unreachable),
            "unreachable": list(view.unreachable),
            "stale": list(view.stale),
            "worst_signal": view.worst_signal,
            "worst_peers": list(view.worst_peers),
            "probes": {
                "passed": view.passed,
                "degraded": view.degraded,
                "failed": view.failed,
                "pass_rate": None if rate is None else round(rate, 4),
            },
        },
        "peers": [p.as_dict() for p in view.peers],
    }
