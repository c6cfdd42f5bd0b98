"""``talon run``: probe, decide (the pure core), act, persist — again and again.

The loop is thin on purpose. Each cycle: run every probe; read the runtime's
uptime; ``step`` the core; save the state (the emitted keys with it) before
anything runs; carry out the actions in order (heals inline and bounded,
notifications and agents beside the loop); emit events; write the surface
(state file, /health, /metrics, the status file). Between cycles it sleeps
``check_interval_secs``, or ``healing.durability_interval_secs`` while an
incident is open and not held (verifying a heal, confirming a failure).

Around it: the single-instance lock, signal handling (SIGTERM/SIGINT stop
and cancel what runs, R30; SIGHUP reloads), the config watcher (R28, F13), the
web server and the notification retries, each a supervised task (R29).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from talon import __version__
from talon.actions.deadman import Deadman
from talon.actions.events import ACTION_COMPLETED, action_event_data, cloud_event, events_for
from talon.actions.outcome import Outcome
from talon.config import LoadedConfig, load
from talon.core import Action, ActionKind, CoreState, Facts, Report, step
from talon.core.model import TIERS
from talon.daemon.evidence import snapshot
from talon.daemon.executor import BACKGROUND, CycleView, Executor
from talon.daemon.gc_pacing import GcPacing
from talon.daemon.lock import InstanceLock
from talon.daemon.tasks import TaskSupervisor
from talon.daemon.wiring import Wiring
from talon.daemon.worker_link import WorkerLink
from talon.errors import ConfigError
from talon.evidence.bundle import Bundles
from talon.probes import run_cycle
from talon.report import CycleReport, report_json
from talon.store import StateStore, StoreError, atomic_write
from talon.store.journal import Journal
from talon.telemetry import NOOP, Span, Tracer

HISTORY = 30  # cycles kept in memory for evidence
RECENT_INCIDENTS = 5  # closed incidents on the status page
RETRY_EVERY_S = 10.0
WATCH_EVERY_S = 1.0
UPTIME_TIMEOUT_S = 2.0


class Daemon:
    def __init__(
        self,
        loaded: LoadedConfig,
        *,
        config_path: Path,
        allow_insecure: bool = False,
        shadow: bool = False,
        worker: str = "both",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config_path = config_path
        self.allow_insecure = allow_insecure
        self.shadow = shadow
        self.mode = worker  # both | no-worker | worker-only
        self.clock = clock
        self.identity = loaded.identity
        self.state_dir = loaded.identity.state_dir
        self.store = StateStore(self.state_dir)
        self.journal = Journal(self.store.journal_path)
        self.bundles = Bundles(self.state_dir / "incidents", self._known_secrets)
        # The watchdog and the worker supervisor each have one owner per node, so a
        # `--no-worker` and a `--worker-only` instance can run side by side.
        self.locks = []
        if worker != "worker-only":
            self.locks.append(InstanceLock(self.state_dir / "talon.lock"))
        if worker != "no-worker" and loaded.config.worker is not None:
            self.locks.append(InstanceLock(self.state_dir / "worker.lock", "supervises the worker"))
        self.worker = WorkerLink(self.state_dir / "worker.json", supervise=worker != "no-worker")
        self._first: LoadedConfig | None = loaded  # until run() wires it: then only self.w
        self.w: Wiring  # built in run(), inside the loop
        self.state = CoreState()
        self.history: collections.deque[dict[str, Any]] = collections.deque(maxlen=HISTORY)
        self.config_error: str | None = None
        self.write_errors: list[str] = []
        self.cycle_started: float | None = None
        self.cycle_finished: float | None = None
        self.last_report: CycleReport | None = None
        self.heal_finished_at: float | None = None  # told to the core: the warmup starts here
        self.started_at = clock()
        self._pending: LoadedConfig | None = None
        self.gc = GcPacing()
        self._gc_due = True  # settle the collector after the first cycle of a config
        self._state_mtime: int | None = None
        self._stopping = False
        self.stop_signal = signal.SIGTERM
        self._wake = asyncio.Event()
        self._reload_now = asyncio.Event()
        self._cycle_task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Outcome]] = set()
        self._events: set[asyncio.Task[None]] = set()
        self.log: Any = None
        self.log_sink: Any = None
        self.metrics: Any = None
        self.tracer: Tracer = NOOP
        self.tasks = TaskSupervisor(self._task_changed)
        self.executor: Executor
        self.deadman: Deadman  # built in run(), beside the metrics

    # ---------------------------------------------------------------- setup
    def _setup_logging(self, loaded: LoadedConfig) -> None:
        from talon.logs import configure_logging, get_logger

        self.log_sink = configure_logging(
            loaded.config.log, log_dir=self.identity.log_dir, stderr=True
        )
        self.log = get_logger(node_id=self.identity.node_id)

    def _load_state(self) -> None:
        loaded = self.store.load(self.clock())
        self.state = loaded.state
        if loaded.warning:  # F15: a corrupt state file is kept aside, Talon starts clean
            self.log.warning("state.reset", detail=loaded.warning, kept=str(loaded.quarantined))
        self._state_mtime = self._mtime(self.store.state_path)

    def _recover_journal(self) -> None:
        """Actions begun by a Talon that died mid-action (F14): never fired again."""
        now = self.clock()
        for entry in self.journal.open_entries():
            detail = "Talon stopped while this ran; not fired again, re-verifying instead"
            self.journal.mark_interrupted(entry, now, detail)
            self.log.warning("action.interrupted", key=entry["key"], kind=entry.get("kind"))
            with contextlib.suppress(StoreError, ValueError, KeyError):
                self.bundles.bundle(entry["incident_id"]).record(
                    "action.interrupted", now, key=entry["key"], detail=detail
                )

    # ----------------------------------------------------------------- run
    async def run(self) -> int:
        taken = []
        try:
            for lock in self.locks:
                lock.acquire()
                taken.append(lock)
            return await self._run()
        finally:
            for lock in taken:
                lock.release()

    async def _run(self) -> int:
        from talon.telemetry import build_tracer
        from talon.web.metrics import TalonMetrics, read_host

        first, self._first = self._first, None  # a reload must free the first config
        if first is None:
            raise RuntimeError("Daemon.run() runs once")
        self._setup_logging(first)
        self.metrics = TalonMetrics(
            self.identity.node_id,
            self.identity.platform,
            started_at=self.started_at,
            host=read_host([self.state_dir, self.identity.log_dir]),
        )
        self.deadman = Deadman(self.identity.node_id, self.metrics, shadow=self.shadow)
        self.w = Wiring.build(first, self.state_dir)
        self.metrics.watch(
            worker=lambda: self.worker.view(self.clock()),
            notify_pending=lambda: len(self.w.notifier.pending()),
        )
        if self.mode != "worker-only":
            self.tracer = await build_tracer(
                self.w.loaded.config.telemetry,
                self.identity,
                secrets=self.w.secrets,
                env=os.environ,
                log=self.log,
            )
        self.executor = Executor(
            wiring=lambda: self.w,
            journal=self.journal,
            bundles=self.bundles,
            state_dir=self.state_dir,
            clock=self.clock,
            capture=self._capture,
            on_outcome=self._on_outcome,
            shadow=self.shadow,
            tracer=self.tracer,
            on_delivery=self.metrics.observe_notification,
        )
        self._load_state()
        self._recover_journal()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop, sig.name)
        loop.add_signal_handler(signal.SIGHUP, self._on_sighup)
        self.log.info(
            "daemon.start",
            pid=os.getpid(),
            mode=self.mode,
            shadow=self.shadow,
            probes=len(self.w.loaded.probes),
            state=self.state.node.value,
            config=str(self.config_path),
        )
        if self.worker.start(self.w, self.journal, self.log, self.identity.log_dir, self.clock):
            self.tasks.start("worker", self.worker.run)
        elif self.w.loaded.config.worker is not None:
            self.log.info("worker.not_supervised", why=self.worker.why_not)
        watchdog = self.mode != "worker-only"
        if watchdog and self.w.loaded.config.health.enabled:
            self.tasks.start("web", self._serve_web)
        self.tasks.start("config-watch", self._watch_config)
        if watchdog:
            self.tasks.start("notify-retry", self._retry_notifications)
        try:
            if not watchdog:  # only the worker: wait for a signal
                self._wake.clear()
                while not self._stopping:
                    await self._wake.wait()
                    self._wake.clear()
                    await self._apply_pending()
            await self._run_queued()
            while not self._stopping:
                self._cycle_task = asyncio.create_task(self._cycle())
                try:
                    await self._cycle_task
                except asyncio.CancelledError:
                    if not self._stopping:
                        raise
                except Exception as exc:  # a bug in one cycle must not end the watch
                    self.log.exception("cycle.error", error=repr(exc))
                    self.deadman.finished(self.w, self.clock(), self.state, (), {}, repr(exc))
                self._settle_gc()
                await self._sleep()
        finally:
            self.gc.restore()
            await self._shutdown()
        return 0

    def _settle_gc(self) -> None:
        # After the first cycle of a config: its lazy imports and caches are in by then.
        if self._gc_due and not self._stopping:
            self._gc_due = False
            self.gc.settle(len(self.w.loaded.probes))

    def _known_secrets(self) -> set[str]:
        wiring = getattr(self, "w", None)
        return wiring.secrets.known_values() if wiring is not None else set()

    def _on_sighup(self) -> None:
        self._reload_now.set()
        self.worker.forward(signal.SIGHUP)

    def stop(self, why: str = "stop") -> None:
        if self._stopping:
            return
        self._stopping = True
        self.stop_signal = signal.SIGINT if why == "SIGINT" else signal.SIGTERM
        self.log.info("daemon.stopping", signal=why)
        self._wake.set()
        if self._cycle_task is not None and not self._cycle_task.done():
            self._cycle_task.cancel()

    async def _shutdown(self) -> None:
        pending = [*self._background, *self._events]
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        await self.worker.shutdown(self.stop_signal)  # drained before its task is cancelled
        await self.deadman.aclose()
        await self.tasks.stop()
        if self.mode != "worker-only":
            self._persist(None, None)
        await self.w.aclose()
        if self.mode != "worker-only":
            self._write_status()
        await self.tracer.shutdown()  # flush the last spans, bounded by [telemetry] timeout_secs
        self.log.info("daemon.stop", state=self.state.node.value)

    async def _sleep(self) -> None:
        if self._stopping:
            return
        due = (self.cycle_started or self.clock()) + self.interval() - self.clock()
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, due)):
                await self._wake.wait()

    def interval(self) -> float:
        config = self.w.loaded.config
        s = self.state
        fast = s.verification is not None or (s.incident is not None and s.hold is None)
        return float(
            config.healing.durability_interval_secs if fast else config.check_interval_secs
        )

    # --------------------------------------------------------------- cycle
    async def _cycle(self) -> None:
        attrs = None
        if self.tracer.enabled:
            from talon.telemetry.attributes import cycle_start_attributes

            attrs = cycle_start_attributes(self.w)
        with self.tracer.span("talon.cycle", attrs) as span:
            await self._cycle_body(span)

    async def _cycle_body(self, span: Span) -> None:
        await self._apply_pending()
        await self._pickup_external_state()
        w = self.w
        self.cycle_started = self.clock()
        self.deadman.started(w, self.cycle_started)
        self.worker.poke()  # the single-owner check runs every cycle (R23)
        last_ms = (
            {r.key: r.latency_ms for r in self.last_report.results} if self.last_report else None
        )
        report = await run_cycle(
            w.loaded.probes, w.ctx, bulkheads=w.loaded.config.bulkheads, last_ms=last_ms
        )
        facts = Facts(
            runtime_uptime_s=await self._uptime(),
            worker_quick_exits=self.worker.quick_exits(self.clock()),
            port_holder_pid=self.worker.port_holder_pid(self.clock()),
            heal_finished_at=self.heal_finished_at,
        )
        before = self.state
        now = report.finished_at
        after, actions = step(before, Report(report.results, facts), now, w.core)
        self.state = after
        self.last_report = report
        self._remember(report)
        closed = after.last_closed if after.last_closed is not before.last_closed else None
        self._persist(report, closed)
        self._narrate(before, after, now)
        view = CycleView(after, report, tuple(self.history))
        for action in actions:
            if action.kind in BACKGROUND:
                self._in_background(action, view)
                continue
            outcome = await self.executor.run(action, view)
            if action.kind in TIERS and outcome.status != "skipped":
                self.heal_finished_at = self.clock()
                await self._after_heal(action, view)
        self._emit_events(before, after, actions)
        self.cycle_finished = self.clock()
        self.deadman.finished(w, self.cycle_finished, after, report.results, self.tasks.state)
        self.metrics.observe_cycle(
            report.results, after, self.cycle_started, self.cycle_finished, before=before
        )
        self._log_cycle(report, after, actions)
        if span.recording:  # [telemetry] is on: the verdict and the failing probes
            from talon.telemetry.attributes import record_cycle

            t = w.loaded.config.telemetry
            known = w.secrets.known_values()
            record_cycle(span, report.results, after, actions, t.probe_events, known)
        self._write_status()

    async def _after_heal(self, action: Action, view: CycleView) -> None:
        """Evidence right after every change (R25): what the heal left behind."""
        capture = Action(
            ActionKind.CAPTURE_EVIDENCE,
            f"{action.key}/after",
            action.incident_id,
            f"after {action.kind.value}",
        )
        await self.executor.run(capture, view)

    async def _uptime(self) -> float | None:
        try:
            async with asyncio.timeout(UPTIME_TIMEOUT_S):
                return await self.w.ctx.runtime.uptime_s()
        except Exception:
            return None

    def _remember(self, report: CycleReport) -> None:
        self.history.append(
            {
                "at": report.finished_at,
                "failing": {
                    r.key: {
                        "status": r.status.value,
                        "endpoint_class": r.endpoint_class,
                        "message": r.message,
                    }
                    for r in report.results
                    if r.failed
                },
            }
        )

    def _in_background(self, action: Action, view: CycleView) -> None:
        task = asyncio.create_task(self.executor.run(action, view))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # --------------------------------------------------------- persistence
    @staticmethod
    def _mtime(path: Path) -> int | None:
        try:
            return path.stat().st_mtime_ns
        except OSError:
            return None

    def _persist(self, report: CycleReport | None, closed: Any) -> None:
        """Write state (and a closed incident) atomically; a failure is reported (R31)."""
        try:
            with self.store.lock():
                self.store.save(self.state, closed)
                self._state_mtime = self._mtime(self.store.state_path)
            if report is not None:
                self.store.save_report(report_json(report))
        except (StoreError, OSError) as exc:
            self._write_error(f"state: {exc}")

    def _write_error(self, message: str) -> None:
        self.write_errors = [*self.write_errors[-9:], message]
        self.log.error("store.write_failed", error=message)

    async def _pickup_external_state(self) -> None:
        """An operator changed the state (``talon hold clear``): take it, run what it queued."""
        if self._mtime(self.store.state_path) == self._state_mtime:
            return
        with self.store.lock():
            loaded = self.store.load(self.clock(), quarantine=False)
            self._state_mtime = self._mtime(self.store.state_path)
        if loaded.warning is None:
            self.log.info("state.changed_by_operator", state=loaded.state.node.value)
            self.state = loaded.state
        await self._run_queued()

    async def _run_queued(self) -> None:
        view = CycleView(self.state, None, tuple(self.history))
        for action in self.journal.queued():
            self._in_background(action, view)

    def _narrate(self, before: CoreState, after: CoreState, now: float) -> None:
        """The incident's bundle gets every decision and state change, uncapped."""
        incident = after.incident or (
            after.last_closed if after.last_closed is not before.last_closed else None
        )
        if incident is None:
            return
        try:
            bundle = self.bundles.bundle(incident.id)
            for d in incident.trail:
                if d.at == now:
                    bundle.record("decision", now, rule=d.rule, outcome=d.outcome, reason=d.reason)
            if before.node is not after.node:
                bundle.record("state", now, before=before.node.value, after=after.node.value)
            bundle.write_meta(incident.as_dict())
        except (StoreError, ValueError) as exc:
            self._write_error(f"bundle {incident.id}: {exc}")
        if before.node is not after.node:
            self.log.info(
                "state.change",
                before=before.node.value,
                after=after.node.value,
                signal=after.signal.value,
                incident=incident.id,
            )
        if after.last_closed is not before.last_closed and after.last_closed is not None:
            with contextlib.suppress(StoreError):
                self.bundles.prune(self.w.loaded.config.evidence.keep_bundles)

    # ------------------------------------------------------------- outputs
    async def _capture(self, action: Action, view: CycleView) -> dict[str, Any]:
        own = getattr(self.log_sink, "path", None)
        return await snapshot(action, view, self.w, own_log=own)

    def _on_outcome(self, action: Action, outcome: Outcome) -> None:
        self.metrics.observe_action(action.kind.value, action.tier, outcome.status)
        log = self.log.info if outcome.ok or outcome.status == "skipped" else self.log.warning
        log(
            "action",
            key=action.key,
            kind=action.kind.value,
            tier=action.tier,
            target=action.target,
            outcome=outcome.status,
            detail=outcome.detail,
            duration_s=round(outcome.duration_s, 3),
        )
        if action.kind in TIERS and outcome.status != "skipped":
            data = action_event_data(action, outcome.status, outcome.detail)
            self._send_event(ACTION_COMPLETED, data, f"{action.key}/completed", action.incident_id)

    def _emit_events(self, before: CoreState, after: CoreState, actions: list[Action]) -> None:
        for etype, data, eid in events_for(before, after, actions, node_id=self.identity.node_id):
            self._send_event(etype, data, eid, data.get("incident_id"))

    def _send_event(self, etype: str, data: dict[str, Any], eid: str, subject: Any) -> None:
        if not self.w.loaded.config.events.sink or self.shadow:
            return
        event = cloud_event(
            etype,
            node_id=self.identity.node_id,
            platform=self.identity.platform,
            data=data,
            at=self.clock(),
            id=eid,
            subject=subject if isinstance(subject, str) else None,
        )
        task = asyncio.create_task(self._post_event(event))
        self._events.add(task)
        task.add_done_callback(self._events.discard)

    async def _post_event(self, event: dict[str, Any]) -> None:
        for d in await self.w.sink.emit(event):
            if not d.ok:
                self.log.warning(
                    "event.failed", sink=d.channel, type=event["type"], detail=d.detail
                )

    def _log_cycle(self, report: CycleReport, state: CoreState, actions: list[Action]) -> None:
        failing = [r.key for r in report.results if r.failed]
        self.log.info(
            "cycle",
            duration_ms=round((report.finished_at - report.started_at) * 1000, 1),
            probes=len(report.results),
            failing=failing,
            state=state.node.value,
            signal=state.signal.value,
            incident=state.incident.id if state.incident else None,
            actions=[a.kind.value for a in actions],
        )

    def health(self) -> tuple[int, dict[str, Any]]:
        from talon.web.health import health_payload

        return health_payload(
            state=self.state,
            identity=self.identity,
            now=self.clock(),
            last_cycle_started=self.cycle_started,
            last_cycle_finished=self.cycle_finished,
            stale_after_s=self.stale_after(),
            shadow=self.shadow,
            config_error=self.config_error,
            tasks=self.tasks.state,
            running_actions=self.executor.running_view(),
            version=__version__,
            probe_statuses=[r.status.value for r in self.last_report.results]
            if self.last_report
            else (),
        )

    def status(self) -> dict[str, Any]:
        """The status view (``talon.status/v1``) from memory, for /status.json and the page."""
        from talon.host import read_resources
        from talon.status_view import status_view

        now = self.clock()
        report = None if self.last_report is None else report_json(self.last_report)
        warnings = [] if self.config_error is None else [f"config rejected: {self.config_error}"]
        view = status_view(
            self.state,
            report,
            self.identity,
            now,
            warnings=warnings + self.write_errors[-3:],
            daemon={"pid": os.getpid(), "started_at": self.started_at, "shadow": self.shadow},
            resources=read_resources([self.state_dir, self.identity.log_dir], now),
            recent_incidents=self.store.recent_incidents(RECENT_INCIDENTS),
        )
        view["worker"] = self.worker.view(now)
        view["health"] = self.health()[1]
        return view

    def stale_after(self) -> float:
        """A cycle is overdue after two intervals plus its slowest probe, plus a running heal."""
        config = self.w.loaded.config
        slowest = max((p.timeout_secs for p in self.w.loaded.probes), default=0.0)
        budget = 2 * self.interval() + slowest + 15.0
        if self.executor.running:
            h = config.healing
            budget += max(
                h.force_cycle_timeout_secs,
                config.heal_timeout_secs,
                h.bridge_timeout_secs,
                h.restart_timeout_secs,
                h.rbac_timeout_secs,
            )
        return budget

    def _write_status(self) -> None:
        """``daemon.json``: what ``talon status`` shows about the daemon itself."""
        data = {
            "pid": os.getpid(),
            "started_at": self.started_at,
            "shadow": self.shadow,
            "config": str(self.config_path),
            "config_error": self.config_error,
            "tasks": self.tasks.state,
            "last_cycle": {"started_at": self.cycle_started, "finished_at": self.cycle_finished},
            "interval_s": self.interval(),
            "write_errors": self.write_errors + self.executor.errors,
            "running_actions": self.executor.running_view(),
            "notify_pending": len(self.w.notifier.pending()),
            "stopped": self._stopping,
            "mode": self.mode,
            "worker": self.worker.view(self.clock()),
        }
        try:
            atomic_write(self.state_dir / "daemon.json", json.dumps(data, indent=2).encode())
        except StoreError as exc:
            self.write_errors = [*self.write_errors[-9:], str(exc)]

    # -------------------------------------------------------------- tasks
    def _task_changed(self, name: str, up: bool, why: str) -> None:
        if self.metrics is not None:
            self.metrics.set_task(name, up)
        if not up and self.log is not None:
            self.log.error("task.died", task=name, error=why)

    async def _serve_web(self) -> None:
        from talon.web.server import WebServer, WebSources

        health = self.w.loaded.config.health
        token = await self.w.secrets.resolve(health.token) if health.token else None
        sources = WebSources(self.health, self.metrics.render, status=self.status)
        server = WebServer(health.bind, sources, token)
        await server.start()
        self.log.info("web.listening", bind=health.bind, port=server.bound_port)
        try:
            await asyncio.Event().wait()
        finally:
            await server.stop()

    async def _retry_notifications(self) -> None:
        while True:
            await asyncio.sleep(RETRY_EVERY_S)
            for d in await self.w.notifier.retry_due():
                self.metrics.observe_notification(d.channel, d.ok)
                self.log.info("notify.retry", channel=d.channel, ok=d.ok, detail=d.detail)

    # ------------------------------------------------------------- reload
    def _watched(self) -> tuple[int | None, ...]:
        loaded = self._pending or self.w.loaded
        return (self._mtime(loaded.config_path), self._mtime(loaded.services_path))

    async def _watch_config(self) -> None:
        seen = self._watched()
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(WATCH_EVERY_S):
                    await self._reload_now.wait()
            forced = self._reload_now.is_set()
            self._reload_now.clear()
            now = self._watched()
            if forced or now != seen:
                seen = now
                self._try_reload("SIGHUP" if forced else "changed on disk")

    def _try_reload(self, why: str) -> None:
        try:
            loaded = load(
                self.config_path, identity=self.identity, allow_insecure=self.allow_insecure
            )
        except ConfigError as exc:
            # R28/F13: the last good config keeps running; the error is loud.
            self.config_error = "; ".join(p.render() for p in exc.problems)
            self.metrics.set_config_error(True)
            self.log.error("config.invalid", why=why, error=self.config_error, kept="last good")
            self._write_status()
            return
        self.config_error = None
        self.metrics.set_config_error(False)
        self._pending = loaded
        self._wake.set()  # the worker-only loop applies it at once
        self.log.info("config.reloaded", why=why, probes=len(loaded.probes))
        self._write_status()

    async def _apply_pending(self) -> None:
        if self._pending is None:
            return
        loaded, self._pending = self._pending, None
        old = self.w
        self.w = Wiring.build(loaded, self.state_dir)
        self._gc_due = True
        self.worker.reconfigure(self.w)
        if loaded.config.log != old.loaded.config.log:
            self._setup_logging(loaded)
        if loaded.config.health != old.loaded.config.health:
            self.log.warning("config.health_changed", detail="a new [health] takes a restart")
        if loaded.config.telemetry != old.loaded.config.telemetry:
            self.log.warning("config.telemetry_changed", detail="a new [telemetry] takes a restart")
        await old.aclose()
