"""What the spans say: attribute builders for the cycle and action spans (pure, no SDK).

Probe results are events on the cycle span, not child spans: one span per
probe per cycle would be 1000 spans a minute for a big services file; an
event is a line inside the one span. ``probe_events`` picks which results
become events (failing by default). The SDK caps events per span (128 by
default, ``OTEL_SPAN_EVENT_COUNT_LIMIT``); ``talon.probes`` and
``talon.failing`` always carry the full counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from talon.core.model import Action, ActionKind, CoreState
from talon.redact import redact_text
from talon.telemetry import Attrs, AttrValue, Span

if TYPE_CHECKING:
    from talon.actions.outcome import Outcome
    from talon.daemon.wiring import Wiring
    from talon.node import NodeIdentity
    from talon.report import ProbeResult

NONE = "none"
DETAIL_MAX = 300
# Who carries an action out, when it is not a platform adapter.
_ACTOR = {
    ActionKind.HEAL_SCRIPT: "script",
    ActionKind.AGENT_CLOUD: "agent",
    ActionKind.AGENT_LOCAL: "agent",
    ActionKind.NOTIFY: "notify",
    ActionKind.SOS: "notify",
    ActionKind.CAPTURE_EVIDENCE: "evidence",
    ActionKind.PERSIST_MARKER: "store",
}


def node_attributes(identity: NodeIdentity) -> dict[str, AttrValue]:
    return {"talon.node_id": identity.node_id, "talon.platform": identity.platform}


def adapter_type(kind: ActionKind, w: Wiring) -> str:
    """The adapter that acts: the runtime's or process manager's kind, or who else does."""
    if kind in (ActionKind.BRIDGE_HEAL, ActionKind.FORCE_CYCLE, ActionKind.RESTART_CONTAINER):
        return w.ctx.runtime.name
    if kind in (ActionKind.RESTART_SERVICE, ActionKind.RESTART_ENGINE):
        return w.ctx.process_manager.name
    if kind is ActionKind.APPLY_RBAC_GUARD:
        client = w.cluster_client()
        return client.name if client is not None else NONE
    return _ACTOR.get(kind, NONE)


def action_attributes(action: Action, w: Wiring) -> dict[str, AttrValue]:
    return {
        **node_attributes(w.loaded.identity),
        "talon.action.kind": action.kind.value,
        "talon.action.key": action.key,
        "talon.action.target": action.target or "",
        "talon.heal_tier": action.tier or NONE,
        "talon.adapter_type": adapter_type(action.kind, w),
        "talon.incident_id": action.incident_id,
    }


def record_outcome(span: Span, outcome: Outcome, known: Iterable[str]) -> None:
    """The outcome on the action span; anything but done or skipped is an ERROR status."""
    span.set("talon.action.outcome", outcome.status)
    span.set("talon.action.duration_s", round(outcome.duration_s, 3))
    if outcome.status not in ("done", "skipped"):
        span.fail(redact_text(outcome.detail, known)[:DETAIL_MAX])


def cycle_start_attributes(w: Wiring) -> Attrs:
    return {
        **node_attributes(w.loaded.identity),
        "talon.runtime.adapter_type": w.ctx.runtime.name,
        "talon.process_manager.adapter_type": w.ctx.process_manager.name,
    }


def record_cycle(
    span: Span,
    results: Sequence[ProbeResult],
    state: CoreState,
    actions: Sequence[Action],
    probe_events: str,
    known: Iterable[str],
) -> None:
    """Counts, the core's verdict, and the chosen probe results as ``talon.probe`` events."""
    if not span.recording:
        return
    failing = [r for r in results if r.failed or r.degraded]  # a fallback answer is not a pass
    span.set("talon.probes", len(results))
    span.set("talon.failing", len(failing))
    span.set("talon.state", state.node.value)
    span.set("talon.signal", state.signal.value)
    span.set("talon.incident_id", state.incident.id if state.incident else "")
    span.set("talon.actions", len(actions))
    if state.hold is not None:
        span.set("talon.hold_until", state.hold.until)
    chosen = failing if probe_events == "failing" else results if probe_events == "all" else []
    values = tuple(known)
    for result in chosen:
        span.event("talon.probe", probe_attributes(result, values))


def probe_attributes(result: ProbeResult, known: Iterable[str] = ()) -> dict[str, AttrValue]:
    attrs: dict[str, AttrValue] = {
        "talon.probe": result.key,
        "talon.probe.kind": result.kind,
        "talon.probe.class": result.probe_class,
        "talon.probe.layer": result.layer,
        "talon.probe.status": result.status.value,
        "talon.endpoint_class": result.endpoint_class or NONE,
        "talon.probe.latency_ms": round(result.latency_ms, 1),
    }
    if result.error_kind is not None:
        attrs["talon.probe.error_kind"] = str(result.error_kind.value)
    if result.failed and result.message:
        attrs["talon.probe.message"] = redact_text(result.message, known)[:DETAIL_MAX]
    return attrs
