"""The ``/health`` payload and its HTTP status, as a pure function of a snapshot.

No I/O and no clock: the caller passes ``now`` and the times of the last
cycle. The status code follows the signal (R32), so anything that only reads
the code sees trouble:

- 200 when the signal is ``stable`` or ``recovering``, the loop is not stale
  and every internal task is running;
- 503 otherwise; ``reasons`` in the payload says why.

Storage (F24): ``storage`` says whether the state directory takes writes
(``ok``, ``failing``: file -> error, ``errors``: failed writes per file so far,
``journal_in_memory``: journal records waiting for space). While writes fail
and all else is well the status is ``storage_failing_status`` (``[health]
storage_failing_status``, default as ``unhealthy_status``): 503 makes it a
reason ("storage failing: ..."), 200 leaves it to the body.

Staleness, kept simple: the loop is stale when no cycle has finished yet, or
when the last one finished more than ``stale_after_s`` before ``now``. A
wedged loop therefore turns the endpoint red even though the last state it
computed was green.

The original Rust Talon's fields are there too (``original_fields``), for what
read its /health (a gateway heartbeat reads ``ok``, ``state`` and
``failed_probe_count``): ``ok``, ``consecutive_failures``, ``probe_count``,
``failed_probe_count``, ``failed_probes``, ``worker_restarts``, ``updated_at_unix``.
``state`` is Talon's node state in lower case: the original's six states
(Healthy, Degraded, Failed, Investigating, Critical, SOS) keep their names,
lower-cased (the heartbeat's own fixture says ``"healthy"``); ``healing``,
``verifying`` and ``hold`` are Talon's own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from talon.core.model import CoreState, Hold, Incident, NodeState, Signal
from talon.node import NodeIdentity
from talon.report import DEGRADED

SCHEMA = "talon.health/v1"
OK_SIGNALS = frozenset({Signal.STABLE, Signal.RECOVERING})
TASK_RUNNING = "running"


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _incident(incident: Incident | None) -> dict[str, Any] | None:
    if incident is None:
        return None
    return {
        "id": incident.id,
        "opened_at": _seconds(incident.opened_at),
        "root_cause": None if incident.root_cause is None else incident.root_cause.value,
        "faults": [fault.value for fault in incident.faults],
    }


def _hold(hold: Hold | None, now: float) -> dict[str, Any] | None:
    if hold is None:
        return None
    return {
        "reason": hold.reason.value,
        "since": _seconds(hold.since),
        "until": _seconds(hold.until),
        "remaining_s": _seconds(max(0.0, hold.until - now)),
    }


def cycle_age(now: float, last_cycle_finished: float | None) -> float | None:
    """Seconds since the last cycle finished; a clock that stepped back counts as 0."""
    return None if last_cycle_finished is None else max(0.0, now - last_cycle_finished)


def is_stale(now: float, last_cycle_finished: float | None, stale_after_s: float) -> bool:
    age = cycle_age(now, last_cycle_finished)
    return age is None or age > stale_after_s


def original_probe_name(key: str) -> str:
    """A probe's name as the original wrote it: a built-in's bare name (``k8s_api``,
    ``vm:redis``), ``http:worker``, any other ``kind:name`` (``launchd:gateway``)."""
    from talon.config.builtins import original_name  # the profile knows its names

    return original_name(key)


def original_fields(
    *,
    state: CoreState,
    probes: Sequence[tuple[str, str]],
    reasons: Sequence[str],
    worker_restarts: int,
    updated_at_unix: int | None,
) -> dict[str, Any]:
    """The original's /health fields, from Talon's snapshot.

    ``probes`` are the last cycle's (key, state) pairs. A probe that did not pass on
    the path users take (failed, or ``degraded``: answered only through a fallback)
    is failed here, as the original, which tried only that path, saw it; skipped
    probes did not run. ``ok``: the node is healthy, nothing failed, and the
    endpoint answers 200 (a fresh cycle, every task running): false before the
    first cycle, as the original's "Starting". ``consecutive_failures``: the longest
    streak of a probe failing now (the original counted failing cycles; the same
    while one probe keeps failing)."""
    ran = [(key, s) for key, s in probes if s != "skipped"]
    failed = [original_probe_name(key) for key, s in ran if s != "ok"]
    return {
        "ok": not reasons and state.node is NodeState.HEALTHY and not failed,
        "consecutive_failures": max(state.counters.values(), default=0),
        "probe_count": len(ran),
        "failed_probe_count": len(failed),
        "failed_probes": failed,
        "worker_restarts": worker_restarts,
        "updated_at_unix": updated_at_unix,
    }


def probe_summary(states: Sequence[str]) -> dict[str, Any]:
    """Counts of the last cycle's probe states (``ProbeResult.state``: a status, or
    ``degraded`` for an ``ok`` only through a fallback path). A degraded probe is its own
    count, never passed; skipped probes are not in the pass rate."""
    counted = [s for s in states if s != "skipped"]
    passed = sum(s == "ok" for s in counted)
    degraded = sum(s == DEGRADED for s in counted)
    return {
        "total": len(states),
        "passed": passed,
        "degraded": degraded,
        "failed": len(counted) - passed - degraded,
        "skipped": len(states) - len(counted),
        "pass_rate": None if not counted else round(passed / len(counted), 4),
    }


def pauses(state: CoreState, now: float) -> list[dict[str, Any]]:
    """The operators' pauses still running at ``now`` (Talon's clock), the node's first.
    ``probe`` None: the whole node (no heal, no agent, no SOS); else only that probe's."""
    running = sorted(
        (p for p in state.pauses if p.until > now), key=lambda p: (p.probe is not None, p.probe)
    )
    return [
        {
            "probe": p.probe,
            "by": p.by,
            "since": _seconds(p.since),
            "until": _seconds(p.until),
            "remaining_s": _seconds(p.until - now),
        }
        for p in running
    ]


def held_heals(state: CoreState, now: float) -> list[dict[str, Any]]:
    """Heals the recurrence breaker holds (F29): they kept being needed; others still run."""
    return [
        {"heal": slot, "until": _seconds(until), "remaining_s": _seconds(max(0.0, until - now))}
        for slot, until in sorted(state.held_heals.items())
    ]


def _reasons(signal: Signal, stale: bool, tasks: Mapping[str, str]) -> list[str]:
    """Why the status is 503, one short phrase each; empty means 200."""
    reasons = [] if signal in OK_SIGNALS else [f"signal is {signal.value}"]
    if stale:
        reasons.append("no recent cycle (stale)")
    reasons.extend(
        f"task {name} is {status}" for name, status in tasks.items() if status != TASK_RUNNING
    )
    return reasons


def health_payload(
    *,
    state: CoreState,
    identity: NodeIdentity,
    now: float,
    last_cycle_started: float | None,
    last_cycle_finished: float | None,
    stale_after_s: float,
    shadow: bool,
    config_error: str | None,
    tasks: Mapping[str, str],
    running_actions: Sequence[Mapping[str, Any]],
    version: str,
    probes: Sequence[tuple[str, str]] = (),
    worker_restarts: int = 0,
    updated_at_unix: int | None = None,
    unhealthy_status: int = 503,
    storage: Mapping[str, Any] | None = None,
    storage_failing_status: int | None = None,
) -> tuple[int, dict[str, Any]]:
    """Return ``(http_status, payload)`` for ``/health``.

    ``tasks`` maps an internal task's name to ``"running"`` or ``"dead: reason"``;
    any value other than ``"running"`` counts as dead. ``probes`` are the last
    cycle's (key, state) pairs (``ok``, ``degraded``, ``critical``, ``skipped`` ...:
    ``ProbeResult.state``), summed up for a fleet view. ``paused``: the operators'
    pauses running now (healing stopped; the status code does not change).
    ``worker_restarts`` and ``updated_at_unix`` (the wall time the last cycle
    finished) are for the original's fields. ``storage``: ``StorageHealth.view()``
    (None: not watched, shown as ok).
    """
    stale = is_stale(now, last_cycle_finished, stale_after_s)
    signal = state.signal
    reasons = _reasons(signal, stale, tasks)
    storage = dict(storage or {"ok": True, "failing": {}, "errors": {}})
    storage_status = unhealthy_status if storage_failing_status is None else storage_failing_status
    storage_reason = [] if storage.get("ok", True) else [_storage_reason(storage)]
    if storage_status == 200:
        storage_reason = []  # the operator chose not to signal it: the body still says so
    payload: dict[str, Any] = {
        "schema": SCHEMA,
        "node": {
            "node_id": identity.node_id,
            "platform": identity.platform,
            "arch": identity.arch,
        },
        "state": state.node.value,
        "signal": signal.value,
        "incident": _incident(state.incident),
        "hold": _hold(state.hold, now),
        "paused": pauses(state, now),
        "held_heals": held_heals(state, now),
        "last_cycle": {
            "started_at": _seconds(last_cycle_started),
            "finished_at": _seconds(last_cycle_finished),
            "age_s": _seconds(cycle_age(now, last_cycle_finished)),
        },
        "probes": probe_summary([s for _, s in probes]),
        "stale": stale,
        "stale_after_s": stale_after_s,
        "shadow": shadow,
        "config_error": config_error,
        "tasks": dict(tasks),
        "running_actions": [dict(action) for action in running_actions],
        "storage": storage,
        "reasons": reasons + storage_reason,
        "version": version,
        "now": _seconds(now),
    }
    payload.update(
        original_fields(
            state=state,
            probes=probes,
            reasons=reasons + storage_reason,
            worker_restarts=worker_restarts,
            updated_at_unix=updated_at_unix,
        )
    )
    if reasons:
        return unhealthy_status, payload
    return (storage_status if storage_reason else 200), payload


def _storage_reason(storage: Mapping[str, Any]) -> str:
    failing = storage.get("failing") or {}
    return "storage failing: " + (", ".join(sorted(failing)) or "writes fail")
