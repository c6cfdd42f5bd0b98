"""One node's status as plain JSON (schema ``talon.status/v1``): a pure function.

``talon status`` builds it from the state directory, the daemon builds it from
memory for ``/status.json`` and the status page. Same input, same view: the
terminal, the browser and an agent never disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from talon.core.model import CoreState, Incident
from talon.host import resource_findings
from talon.node import NodeIdentity
from talon.redact import redact_text
from talon.report import DEGRADED
from talon.web.health import cycle_age, held_heals, pauses, probe_summary

SCHEMA = "talon.status/v1"
LAYERS = ("host", "runtime", "cluster", "service", "app")  # bottom of the stack first
TRAIL = 20  # decisions of the open incident shown


def _answered_by(probe: dict[str, Any]) -> str | None:
    """The target of the path that answered (``127.0.0.2:8080``, ``nas@10.0.0.5:22`` ...)."""
    for path in probe.get("paths") or ():
        if path.get("ok") and path.get("path_class") == probe.get("endpoint_class"):
            target: str | None = path.get("target")
            return target
    return None


def _path(path: dict[str, Any]) -> dict[str, Any]:
    """A path as shown: what a probe's output said, secrets masked (R26)."""
    said = path.get("message")
    return {**path, "message": redact_text(said)} if isinstance(said, str) and said else path


def _degraded(probe: dict[str, Any]) -> bool:
    """``ProbeResult.degraded`` read back from its JSON (a report written before the key
    existed says it through its paths): ok, but the localhost path was tried and failed."""
    if "degraded" in probe:
        return bool(probe["degraded"])
    return (
        probe.get("status") == "ok"
        and probe.get("endpoint_class") != "localhost"
        and any(
            p.get("path_class") == "localhost" and not p.get("ok") and p.get("tried", True)
            for p in probe.get("paths") or ()
        )
    )


def _probes(state: CoreState, report: dict[str, Any] | None) -> list[dict[str, Any]]:
    classified = {key: (fault.value, explained) for key, fault, explained in state.last_faults}
    out = []
    for probe in (report or {}).get("probes", []):
        fault, explained = classified.get(probe["key"], (None, False))
        out.append(
            {
                "key": probe["key"],
                "kind": probe.get("kind"),
                "layer": probe.get("layer", "service"),
                "class": probe.get("class"),
                "critical": probe.get("critical", False),
                "informational": probe.get("informational", False),
                "status": probe["status"],
                "degraded": _degraded(probe),
                "message": redact_text(probe.get("message") or ""),
                "error_kind": probe.get("error_kind"),
                "latency_ms": probe.get("latency_ms"),
                "endpoint_class": probe.get("endpoint_class"),
                "answered_by": _answered_by(probe),
                "paths": [_path(p) for p in probe.get("paths") or ()],
                "classification": fault,
                "explained": explained,
                "consecutive_failures": state.counters.get(probe["key"], 0),
            }
        )
    order = {layer: i for i, layer in enumerate(LAYERS)}
    out.sort(key=lambda p: (order.get(p["layer"], len(LAYERS)), p["key"]))
    return out


def _failures(state: CoreState, probes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Failing, degraded or classified probes, plus the core's node-wide facts (``fact:*``,
    network)."""
    keys = ("key", "status", "degraded", "error_kind", "endpoint_class", "message")
    failures = [
        {
            **{k: p[k] for k in keys},
            "classification": p["classification"],
            "explained": p["explained"],
        }
        for p in probes
        if p["status"] not in ("ok", "skipped") or p["degraded"] or p["classification"] is not None
    ]
    failures += [
        {
            "key": key,
            "status": None,
            "degraded": False,
            "error_kind": None,
            "endpoint_class": None,
            "message": "",
            "classification": fault.value,
            "explained": explained,
        }
        for key, fault, explained in state.last_faults
        if key.startswith("fact:") or key == "network"
    ]
    return failures


def _hold(state: CoreState, now: float) -> dict[str, Any] | None:
    hold = state.hold
    if hold is None:
        return None
    return {
        "reason": hold.reason.value,
        "since": hold.since,
        "until": hold.until,
        "remaining_s": max(0.0, hold.until - now),
    }


def _verification(state: CoreState, now: float) -> dict[str, Any] | None:
    v = state.verification
    if v is None:
        return None
    return {
        "started_at": v.started_at,
        "warmup_until": v.warmup_until,
        "warmup_remaining_s": max(0.0, v.warmup_until - now),
        "greens": v.greens,
        "durable_since": v.durable_since,
    }


def status_view(
    state: CoreState,
    report: dict[str, Any] | None,
    identity: NodeIdentity,
    now: float,
    *,
    wall: float | None = None,
    warnings: Sequence[str] = (),
    daemon: dict[str, Any] | None = None,
    resources: dict[str, Any] | None = None,
    recent_incidents: Sequence[Incident] = (),
) -> dict[str, Any]:
    """The whole status of one node. ``report`` is the last cycle in ``talon.check/v1`` form.

    ``now`` is Talon's clock, which the state's times are on; ``wall`` the wall clock,
    which the report's times are on (records, for display), when the two differ."""
    probes = _probes(state, report)
    incident = state.incident
    finished = None if report is None else report.get("finished_at")
    return {
        "schema": SCHEMA,
        "node": {"node_id": identity.node_id, "platform": identity.platform, "arch": identity.arch},
        "now": now,
        "state": state.node.value,
        "signal": state.signal.value,
        "incident": None if incident is None else incident.as_dict(last=TRAIL),
        "hold": _hold(state, now),
        "paused": pauses(state, now),
        "held_heals": held_heals(state, now),
        "failed_recovery_at": state.failed_recovery_at,
        "verifying": state.verification is not None,
        "verification": _verification(state, now),
        "last_cycle": None
        if report is None
        else {
            "started_at": report.get("started_at"),
            "finished_at": finished,
            "age_s": cycle_age(now if wall is None else wall, finished),
            "failures": _failures(state, probes),
        },
        "summary": probe_summary([DEGRADED if p["degraded"] else p["status"] for p in probes]),
        "layers": [layer for layer in LAYERS if any(p["layer"] == layer for p in probes)]
        + sorted({p["layer"] for p in probes} - set(LAYERS)),
        "probes": probes,
        "resources": resources,
        "findings": [] if resources is None else resource_findings(resources),
        "recent_incidents": [i.as_dict() for i in recent_incidents],
        "daemon": daemon,
        "warnings": [redact_text(w) for w in warnings],
    }
