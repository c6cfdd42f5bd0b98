"""Where what Talon did goes: one record per action, and what each step changed.

An action is recorded once and fanned out: the journal first (on a full disk
its record is kept in memory, so the heal still runs and is never fired twice
by this process: F24, R31), then the incident's bundle, the log, the metrics
and a CloudEvent. A core step's ``Changes`` go
to state.json (with the incident it closed, if any), the bundles (every
decision and state change, uncapped), the log and the events. Nothing here
decides anything, and nothing here calls back into the daemon.

Every write under the state directory is watched (``StorageHealth``): failures
are counted per file (``talon_write_errors_total``), shown on ``/health`` until
a write to that file succeeds again, and the journal's memory backlog is
written at every step once space returns.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from talon.actions.events import ACTION_COMPLETED, action_event_data, cloud_event, events_for
from talon.actions.outcome import SKIPPED, Outcome
from talon.clock import Clock
from talon.core import Action, Incident, Step
from talon.core.model import TIERS
from talon.daemon.report_pace import ReportPace
from talon.daemon.tasks import cancel_all
from talon.evidence.bundle import Bundles
from talon.report import CycleReport, report_json
from talon.store import StateStore, StoreError
from talon.store.health import StorageHealth
from talon.store.journal import Journal

if TYPE_CHECKING:
    from talon.daemon.wiring import Wiring

ERRORS_KEPT = 10


class Outputs:
    def __init__(
        self,
        *,
        store: StateStore,
        journal: Journal,
        bundles: Bundles,
        clock: Clock,
        wiring: Callable[[], Wiring],
        log: Any,
        metrics: Any,
        node_id: str,
        platform: str,
        shadow: bool = False,
    ) -> None:
        self.store = store
        self.journal = journal
        self.bundles = bundles
        self.clock = clock
        self.wiring = wiring
        self.log = log
        self.metrics = metrics
        self.node_id = node_id
        self.platform = platform
        self.shadow = shadow
        self.write_errors: list[str] = []  # the last few failed writes, for status and /health
        self._events: set[asyncio.Task[None]] = set()
        self.storage = StorageHealth(store.dir, on_change=self._wrote)
        self._journal_in_memory = False
        self.report_pace = ReportPace()  # last-probe.json: less often at thousands of probes

    def error(self, message: str) -> None:
        self.write_errors = [*self.write_errors[-(ERRORS_KEPT - 1) :], message]
        self.log.error("store.write_failed", error=message)

    # storage --------------------------------------------------------------------------
    def _wrote(self, label: str, error: str | None) -> None:
        self.metrics.observe_write(label, error is None)

    def storage_view(self) -> dict[str, Any]:
        """``/health``'s ``storage``: ok, failing files and why, errors per file, and the
        journal records kept in memory until space returns."""
        return self.storage.view(journal_in_memory=len(self.journal.unwritten))

    def journalled(self, error: str | None) -> None:
        """After a journal write: say once when it falls back to memory, and when it is
        written again."""
        if error is not None:
            if not self._journal_in_memory:
                self._journal_in_memory = True
                self.log.warning(
                    "journal.in_memory",
                    error=error,
                    detail="journal records are kept in memory (replay-safe in this process) "
                    "and written when space returns",
                )
            self.error(f"journal (kept in memory): {error}")
        elif self._journal_in_memory:
            self._journal_in_memory = False
            self.log.info("journal.written", detail="the records kept in memory are written")

    def flush_journal(self) -> None:
        if self.journal.unwritten:
            self.journalled(self.journal.flush())

    # actions --------------------------------------------------------------------------
    def begin(self, action: Action, *, shadow: bool) -> None:
        """Journal first (in memory when the disk refuses it), then the bundle."""
        self.journalled(self.journal.begin(action, self.clock.wall(), shadow=shadow))
        self.bundle_record(
            action.incident_id,
            "action.shadow" if shadow else "action.begin",
            key=action.key,
            action=action.kind.value,
            tier=action.tier,
            target=action.target,
            reason=action.reason,
        )

    def finished(self, action: Action, outcome: Outcome, *, journalled: bool = True) -> None:
        """The outcome, to every output; ``journalled``: the action has a begin to close."""
        if outcome.output:
            with contextlib.suppress(StoreError, ValueError):
                self.bundles.bundle(action.incident_id).write_output(action.key, outcome.output)
        if journalled:
            end = self.journal.end(
                action, self.clock.wall(), outcome.status, outcome.detail, outcome.duration_s
            )
            self.journalled(end)
        self.bundle_record(
            action.incident_id,
            "action.end",
            key=action.key,
            action=action.kind.value,
            outcome=outcome.status.value,
            detail=outcome.detail,
            duration_s=round(outcome.duration_s, 3),
        )
        self.metrics.observe_action(action.kind.value, action.tier, outcome.status.value)
        log = self.log.info if outcome.ok or outcome.status is SKIPPED else self.log.warning
        log(
            "action",
            key=action.key,
            kind=action.kind.value,
            tier=action.tier,
            target=action.target,
            outcome=outcome.status.value,
            detail=outcome.detail,
            duration_s=round(outcome.duration_s, 3),
        )
        if action.kind in TIERS and outcome.status is not SKIPPED:
            data = action_event_data(action, outcome.status.value, outcome.detail)
            self.send_event(ACTION_COMPLETED, data, f"{action.key}/completed", action.incident_id)

    def delivery(self, channel: str, ok: bool) -> None:
        self.metrics.observe_notification(channel, ok)

    def bundle_record(self, incident_id: str, kind: str, **fields: Any) -> None:
        try:
            self.bundles.bundle(incident_id).record(kind, self.clock.wall(), **fields)
        except (StoreError, ValueError) as exc:
            self.error(f"bundle {incident_id}: {exc}")

    # steps ----------------------------------------------------------------------------
    def step(self, step: Step, report: CycleReport | None) -> None:
        """A core step: saved before any of its actions runs, then told to every output."""
        self.persist(step, report)
        self._narrate(step)
        if step.changes.opened is not None:
            root = step.changes.opened.root_cause
            self.metrics.observe_incident_opened(root and root.value)
        for etype, data, eid in events_for(
            step.changes, step.state, step.actions, node_id=self.node_id
        ):
            self.send_event(etype, data, eid, data.get("incident_id"))

    def persist(self, step: Step, report: CycleReport | None = None) -> None:
        """State (and an incident it closed) atomically; a failure is reported (R31).
        The journal's memory backlog goes first, once the disk takes it."""
        self.flush_journal()
        try:
            with self.store.lock():
                self.store.save(step.state, self.clock, step.changes.closed)
            if report is not None and self.report_pace.due(report, self.clock.now()):
                self.store.save_report(report_json(report))
        except (StoreError, OSError) as exc:
            self.report_pace.forget()
            self.error(f"state: {exc}")

    def _narrate(self, step: Step) -> None:
        """Every decision and state change goes to its incident's bundle, uncapped."""
        changes, state = step.changes, step.state
        for incident_id, d in changes.decisions:
            self.bundle_record(
                incident_id,
                "decision",
                rule=d.rule,
                outcome=d.outcome,
                reason=d.reason,
            )
        current = state.incident or changes.closed
        if changes.node is not None and current is not None:
            before, after = changes.node
            self.bundle_record(current.id, "state", before=before.value, after=after.value)
            self.log.info(
                "state.change",
                before=before.value,
                after=after.value,
                signal=state.signal.value,
                incident=current.id,
            )
        for incident in _distinct(changes.closed, state.incident):
            if changes.decisions or changes.node is not None or incident is changes.closed:
                try:
                    self.bundles.bundle(incident.id).write_meta(incident.as_dict())
                except (StoreError, ValueError) as exc:
                    self.error(f"bundle {incident.id}: {exc}")
        if changes.closed is not None:
            with contextlib.suppress(StoreError):
                self.bundles.prune(self.wiring().loaded.config.evidence.keep_bundles)

    # events ---------------------------------------------------------------------------
    def send_event(self, etype: str, data: dict[str, Any], eid: str, subject: Any) -> None:
        w = self.wiring()
        if not w.loaded.config.events.sink or self.shadow:
            return
        event = cloud_event(
            etype,
            node_id=self.node_id,
            platform=self.platform,
            data=data,
            at=self.clock.wall(),
            id=eid,
            subject=subject if isinstance(subject, str) else None,
        )
        task = asyncio.create_task(self._post_event(w, event))
        self._events.add(task)
        task.add_done_callback(self._events.discard)

    async def _post_event(self, w: Wiring, event: dict[str, Any]) -> None:
        for d in await w.sink.emit(event):
            if not d.ok:
                self.log.warning(
                    "event.failed", sink=d.channel, type=event["type"], detail=d.detail
                )

    async def aclose(self) -> None:
        await cancel_all(self._events)
        self.flush_journal()
        self.storage.close()


def _distinct(*incidents: Incident | None) -> list[Incident]:
    seen: dict[str, Incident] = {}
    for incident in incidents:
        if incident is not None:
            seen.setdefault(incident.id, incident)
    return list(seen.values())
