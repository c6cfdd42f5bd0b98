"""Carry out the core's actions: journal first, run bounded, report the outcome.

The order for every action: refuse a key the journal has seen (replay-safe,
F14), write ``begin``, run under its timeout, write ``end`` with the outcome,
keep the output in the incident's bundle (``Outputs`` fans the record out).
The outcome goes back to the caller, which hands it to the core: an action is
a fact only once it has run (principle 8). Shadow mode journals what would run
and runs nothing but evidence capture, which only reads.

On a full disk (F24, R31) the journal keeps the record in memory: the heal
runs, its key is never fired again by this process, and the record is written
when space returns. Only a Talon that dies before then forgets it, and then the
saved state (written no sooner) does not await it either.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from talon.actions import heal
from talon.actions.agent import agent_handoff, build_prompt
from talon.actions.notify import Message
from talon.actions.outcome import CANCELLED, DONE, FAILED, REFUSED, SKIPPED, Outcome, bounded
from talon.clock import Clock
from talon.core import Action, ActionKind
from talon.daemon.evidence import base_facts, named_hypothesis, snapshot, tells_hypothesis
from talon.daemon.outputs import Outputs
from talon.daemon.view import CycleView
from talon.daemon.wiring import Wiring
from talon.evidence.hypotheses import Hypothesis, wants_hypothesis
from talon.report import CycleReport
from talon.store import StoreError, atomic_write
from talon.telemetry import NOOP, Tracer

# Actions that only read: run in shadow mode too.
OBSERVING = frozenset({ActionKind.CAPTURE_EVIDENCE})
EVIDENCE_TIMEOUT_S = 60.0
HYPOTHESIS_TIMEOUT_S = 5.0  # a notice never waits longer for its hypothesis line
HYPOTHESES_KEPT = 16


@dataclass
class Running:
    action: Action
    started_at: float


@dataclass
class Executor:
    wiring: Callable[[], Wiring]
    outputs: Outputs
    state_dir: Path
    clock: Clock
    shadow: bool = False
    tracer: Tracer = NOOP  # a span per action when [telemetry] is on
    own_log: Path | None = None  # Talon's own log, tailed into evidence
    running: dict[str, Running] = field(default_factory=dict)
    # incident -> (the view it was captured in, its hypothesis): the notice of the same
    # step names what its bundle says.
    hypotheses: dict[str, tuple[CycleView, Hypothesis]] = field(default_factory=dict)

    def running_view(self) -> list[dict[str, Any]]:
        now = self.clock.now()
        return [
            {
                "key": r.action.key,
                "kind": r.action.kind.value,
                "target": r.action.target,
                "running_s": round(now - r.started_at, 1),
            }
            for r in self.running.values()
        ]

    # the one entry point -----------------------------------------------
    async def run(self, action: Action, view: CycleView) -> Outcome:
        if not self.tracer.enabled:
            return await self._run(action, view)
        from talon.telemetry.attributes import action_attributes, record_outcome

        w = self.wiring()
        with self.tracer.span("talon.action", action_attributes(action, w)) as span:
            outcome = await self._run(action, view)
            record_outcome(span, outcome, w.secrets.known_values())
            return outcome

    async def _run(self, action: Action, view: CycleView) -> Outcome:
        out = self.outputs
        if out.journal.seen(action.key):
            outcome = Outcome(SKIPPED, "already in the journal: not fired again (replay-safe)")
            out.bundle_record(action.incident_id, "note", key=action.key, detail=outcome.detail)
            return outcome
        shadow = self.shadow and action.kind not in OBSERVING
        out.begin(action, shadow=shadow)  # on a full disk, in memory (F24)
        if shadow:
            outcome = Outcome(SKIPPED, "shadow mode: decided, journalled, not executed")
            out.finished(action, outcome, journalled=False)
            return outcome
        self.running[action.key] = Running(action, self.clock.now())
        try:
            outcome = await self._dispatch(action, view)
        except asyncio.CancelledError:
            cancelled = Outcome(CANCELLED, "cancelled: Talon is shutting down (R30)")
            out.finished(action, cancelled)
            raise
        finally:
            self.running.pop(action.key, None)
        out.finished(action, outcome)
        return outcome

    # dispatch ----------------------------------------------------------
    async def _dispatch(self, action: Action, view: CycleView) -> Outcome:
        w = self.wiring()
        cfg = w.loaded.config
        h = cfg.healing
        who = f"talon {action.key}"
        kind = action.kind
        if kind is ActionKind.CAPTURE_EVIDENCE:
            return await self._capture(action, view, w)
        if kind is ActionKind.BRIDGE_HEAL:
            return await heal.bridge_heal(w.ctx.runtime, w.runtime_lock, h.bridge_timeout_secs, who)
        if kind is ActionKind.FORCE_CYCLE:
            return await heal.force_cycle(
                w.ctx.runtime, w.runtime_lock, h.force_cycle_timeout_secs, who
            )
        if kind is ActionKind.RESTART_ENGINE:
            pm, label = w.ctx.process_manager, action.target or ""
            return await heal.restart_engine(pm, label, w.runtime_lock, h.restart_timeout_secs, who)
        if kind is ActionKind.HEAL_SCRIPT:
            return await heal.heal_script(
                cfg.heal_script,
                lock=w.runtime_lock,
                timeout=cfg.heal_timeout_secs,
                env=w.ctx.env,
                who=who,
                extra_env=self._action_env(action),
            )
        if kind is ActionKind.RESTART_SERVICE:
            label = action.target or ""
            return await heal.restart_service(w.ctx.process_manager, label, h.restart_timeout_secs)
        if kind is ActionKind.RESTART_CONTAINER:
            return await self._restart_container(action, w)
        if kind is ActionKind.APPLY_RBAC_GUARD:
            return await self._rbac(w)
        if kind in (ActionKind.AGENT_CLOUD, ActionKind.AGENT_LOCAL):
            return await self._agent(action, view, w)
        if kind in (ActionKind.NOTIFY, ActionKind.SOS):
            return await self._notify(action, view, w)
        if kind is ActionKind.PERSIST_MARKER:
            return self._marker(action)
        return Outcome(REFUSED, f"no executor for {kind}")

    def _action_env(self, action: Action) -> dict[str, str]:
        return {
            "TALON_INCIDENT": action.incident_id,
            "TALON_ACTION_KEY": action.key,
            "TALON_NODE_ID": self.wiring().loaded.identity.node_id,
            "TALON_EVIDENCE_DIR": str(self.outputs.bundles.bundle(action.incident_id).path),
        }

    async def _capture(self, action: Action, view: CycleView, w: Wiring) -> Outcome:
        async def work() -> str:
            kept = await snapshot(
                action,
                view,
                w,
                own_log=self.own_log,
                clock=self.clock,
                journal=self.outputs.journal.path,
            )
            named = named_hypothesis(kept) if wants_hypothesis(action.reason) else None
            path = self.outputs.bundles.bundle(action.incident_id).capture(
                action.reason, kept, self.clock.wall(), None if named is None else named.as_dict()
            )
            if named is None:
                return f"evidence kept: {path.name}"
            self._named(action, view, path.name, named)
            return f"evidence kept: {path.name}; hypothesis: {named.name}"

        return await bounded(work, EVIDENCE_TIMEOUT_S, f"evidence ({action.reason})")

    def _named(self, action: Action, view: CycleView, file: str, h: Hypothesis) -> None:
        """Remember it for this step's notice, and put it in the bundle's timeline."""
        self.hypotheses.pop(action.incident_id, None)
        self.hypotheses[action.incident_id] = (view, h)
        while len(self.hypotheses) > HYPOTHESES_KEPT:
            del self.hypotheses[next(iter(self.hypotheses))]
        self.outputs.bundle_record(
            action.incident_id,
            "hypothesis",
            moment=action.reason,
            file=file,
            name=h.name,
            why=h.why,
        )

    async def _hypothesis_line(self, action: Action, view: CycleView) -> str:
        """The notice's hypothesis: the one this step's capture named, else worked out from
        what this cycle saw (no runtime call); bounded, and never a reason to hold a notice."""
        kept = self.hypotheses.get(action.incident_id)
        if kept is not None and kept[0] is view:
            return kept[1].line()
        try:
            async with asyncio.timeout(HYPOTHESIS_TIMEOUT_S):
                facts = await asyncio.to_thread(
                    base_facts, view, self.clock, self.outputs.journal.path
                )
            return named_hypothesis(facts).line()
        except Exception as exc:  # the notice goes out all the same
            return f"hypothesis: unclassified (not worked out: {type(exc).__name__}: {exc})"

    async def _restart_container(self, action: Action, w: Wiring) -> Outcome:
        """The engine restarts the container the probe ``action.detail`` watches, if it
        still runs unhealthy (``restart_unhealthy`` looks again), bounded by
        ``restart_timeout_secs``."""
        from talon.adapters.runtime.engine import EngineClient, restart_unhealthy
        from talon.config.probes import ContainerProbe
        from talon.probes.container import socket_for

        name = action.target or ""
        spec = next((p for p in w.loaded.probes if p.key == action.detail), None)
        if not isinstance(spec, ContainerProbe) or spec.container != name:
            return Outcome(REFUSED, f"no container probe {action.detail} watches {name} any more")
        socket = socket_for(spec, w.ctx.runtime, w.ctx.env)
        timeout = float(w.loaded.config.healing.restart_timeout_secs)
        client = EngineClient(socket, timeout + 1.0)  # the bound below fires first

        async def work() -> str:
            return await restart_unhealthy(client, name, spec.stop_timeout_secs)

        return await bounded(work, timeout, f"restart container {name} on {socket}")

    async def _rbac(self, w: Wiring) -> Outcome:
        manifest = w.loaded.config.healing.rbac_guard_manifest
        client = w.cluster_client()
        if client is None or not manifest:
            return Outcome(REFUSED, "no k8s probe or no rbac_guard_manifest to apply")

        async def recheck() -> tuple[bool, str]:
            from talon.probes import run_cycle

            probes = w.can_i_probes()
            report = await run_cycle(probes, w.ctx, bulkheads=w.loaded.config.bulkheads)
            bad = [r for r in report.results if not r.passed]
            said = "; ".join(f"{r.key}: {r.message}" for r in (bad or report.results))
            return not bad, said or "no can-i probe configured"

        timeout = float(w.loaded.config.healing.rbac_timeout_secs)
        return await heal.apply_rbac_guard(client, manifest, timeout, recheck)

    async def _agent(self, action: Action, view: CycleView, w: Wiring) -> Outcome:
        local = action.kind is ActionKind.AGENT_LOCAL
        command = (
            w.loaded.config.agent.local_command if local else w.loaded.config.agent.cloud_command
        )
        if not command:
            return Outcome(REFUSED, "no agent command configured")
        bundle = self.outputs.bundles.bundle(action.incident_id)
        incident = view.state.incident
        prompt = build_prompt(
            node_id=w.loaded.identity.node_id,
            incident={
                "id": action.incident_id,
                "root_cause": incident and incident.root_cause and incident.root_cause.value,
                "faults": [f.value for f in incident.faults] if incident else [],
            },
            failures=_failures(view.report),
            tried=self.outputs.journal.for_incident(action.incident_id),
            hints=action.detail,
            bundle=bundle.path,
            local=local,
            hypothesis=_named(self.hypotheses.get(action.incident_id)),
        )
        return await agent_handoff(
            command,
            prompt=prompt,
            prompt_path=bundle.path / f"prompt-{action.kind.value}.md",
            timeout=w.loaded.config.agent.timeout_secs,
            env=w.ctx.env,
            extra_env=self._action_env(action),
            via=w.loaded.config.agent.prompt_via,
        )

    async def _notify(self, action: Action, view: CycleView, w: Wiring) -> Outcome:
        state = view.state
        named = ""
        if tells_hypothesis(action.key):
            named = await self._hypothesis_line(action, view) + "\n"
        message = Message.build(
            key=action.key,
            event="sos" if action.kind is ActionKind.SOS else "notify",
            node_id=w.loaded.identity.node_id,
            incident_id=action.incident_id,
            summary=action.reason[:80],
            body=f"{action.reason}\nstate: {state.node.value} ({state.signal.value})\n{named}"
            f"evidence: {self.outputs.bundles.bundle(action.incident_id).path}",
        )
        deliveries = await w.notifier.send(message)
        for d in deliveries:
            self.outputs.delivery(d.channel, d.ok)
        if not deliveries:
            return Outcome(
                SKIPPED, f"no channel takes {message.event} messages ([[notify.channel]])"
            )
        said = "; ".join(
            f"{d.channel}: {'ok' if d.ok else 'failed, retry later: ' + d.detail}"
            for d in deliveries
        )
        return Outcome(DONE if any(d.ok for d in deliveries) else FAILED, said)

    def _marker(self, action: Action) -> Outcome:
        record = {"at": self.clock.wall(), "incident": action.incident_id, "why": action.reason}
        try:
            atomic_write(self.state_dir / "failed-recovery.json", json.dumps(record).encode())
        except StoreError as exc:
            return Outcome(FAILED, str(exc))
        return Outcome(DONE, "failed-recovery marker written")


def _failures(report: CycleReport | None) -> list[Mapping[str, Any]]:
    if report is None:
        return []
    return [
        {
            "probe": r.key,
            "status": r.status.value,
            "message": r.message,
            "paths": [p.as_dict() for p in r.paths],
        }
        for r in report.results
        if r.failed
    ]


def _named(kept: tuple[CycleView, Hypothesis] | None) -> str:
    """The hypothesis this incident's evidence named last, for the agent's prompt."""
    return "" if kept is None else f"{kept[1].name}: {kept[1].why}"
