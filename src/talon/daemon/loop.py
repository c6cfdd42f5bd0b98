"""``talon run``: the daemon's lifecycle around one ``Watch`` (talon.daemon.cycle).

Each cycle, at its boundary, a valid reloaded config is swapped in and the
operators' commands are applied; then ``Watch.run_once`` probes, steps the
core, carries out its actions and feeds their outcomes back. Between cycles it
sleeps ``check_interval_secs``, or ``healing.durability_interval_secs`` while
an incident is open and not held, on Talon's monotonic clock; an operator's
command or a reload cuts the sleep short.

Around it: the single-instance lock, signal handling (SIGTERM/SIGINT stop and
cancel what runs, R30; SIGHUP reloads), and supervised tasks (R29): the config
watcher, the command watcher, the web server, the notification retries, the
worker. The pieces own their state: ``Outputs`` what was written, ``Surface``
what is shown, ``Reloader`` the config, ``Inbox`` the commands.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path
from typing import Any

from talon.actions.deadman import Deadman
from talon.clock import Clock
from talon.config import LoadedConfig
from talon.core import Facts, Step
from talon.daemon import pace
from talon.daemon.commands import Inbox, apply_command
from talon.daemon.cycle import Cycle, Watch
from talon.daemon.executor import Executor
from talon.daemon.facts import gather_facts, lock_holder
from talon.daemon.gc_pacing import GcPacing
from talon.daemon.lock import InstanceLock
from talon.daemon.outputs import Outputs
from talon.daemon.recovery import recover
from talon.daemon.reload import Reloader
from talon.daemon.surface import Live, Surface
from talon.daemon.tasks import TaskSupervisor
from talon.daemon.wiring import Wiring
from talon.daemon.worker_link import WorkerLink
from talon.evidence.bundle import Bundles
from talon.report import CycleReport
from talon.store import StateStore
from talon.store.journal import Journal
from talon.telemetry import NOOP, Span, Tracer

RETRY_EVERY_S = 10.0
COMMANDS_EVERY_S = 0.5


class Daemon:
    def __init__(
        self,
        loaded: LoadedConfig,
        *,
        config_path: Path,
        allow_insecure: bool = False,
        shadow: bool = False,
        worker: str = "both",
        clock: Clock | None = None,
    ) -> None:
        self.config_path = config_path
        self.allow_insecure = allow_insecure
        self.shadow = shadow
        self.mode = worker  # both | no-worker | worker-only
        self.clock = clock or Clock()
        self.identity = loaded.identity
        self.state_dir = loaded.identity.state_dir
        self.store = StateStore(self.state_dir)
        self.journal = Journal(self.store.journal_path)
        self.bundles = Bundles(self.state_dir / "incidents", self._known_secrets)
        self.inbox = Inbox(self.state_dir)
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
        self.gc = GcPacing()
        self._gc_due = True  # settle the collector after the first cycle of a config
        self._stopping = False
        self.stop_signal = signal.SIGTERM
        self._wake = asyncio.Event()
        self._cycle_task: asyncio.Task[None] | None = None
        self.log: Any = None
        self.log_sink: Any = None
        self.metrics: Any = None
        self.tracer: Tracer = NOOP
        self.tasks = TaskSupervisor(self._task_changed)
        self.deadman: Deadman  # built in run(), beside the metrics
        self.outputs: Outputs
        self.executor: Executor
        self.watch: Watch
        self.reloader: Reloader
        self.surface: Surface

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
        first, self._first = self._first, None  # a reload must free the first config
        if first is None:
            raise RuntimeError("Daemon.run() runs once")
        self._setup_logging(first)
        await self._wire(first)
        self._recover()
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
            state=self.watch.state.node.value,
            config=str(self.config_path),
            can=sorted(c.value for c in self.w.core.platform.can),
        )
        self._start_tasks()
        try:
            if self.mode == "worker-only":
                await self._worker_only()
            while not self._stopping:
                self._cycle_task = asyncio.create_task(self._cycle())
                try:
                    await self._cycle_task
                except asyncio.CancelledError:
                    if not self._stopping:
                        raise
                except Exception as exc:  # a bug in one cycle must not end the watch
                    self.log.exception("cycle.error", error=repr(exc))
                    now = self.clock.now()
                    self.deadman.finished(self.w, now, self.watch.state, (), {}, repr(exc))
                self._settle_gc()
                await self._sleep()
        finally:
            self.gc.restore()
            await self._shutdown()
        return 0

    def _setup_logging(self, loaded: LoadedConfig) -> None:
        from talon.logs import configure_logging, get_logger

        self.log_sink = configure_logging(
            loaded.config.log, log_dir=self.identity.log_dir, stderr=True
        )
        self.log = get_logger(node_id=self.identity.node_id)
        with contextlib.suppress(AttributeError):  # not built yet at the first call
            self.outputs.log = self.log

    async def _wire(self, first: LoadedConfig) -> None:
        """Everything built from the first config, then its state from the last run."""
        from talon.telemetry import build_tracer
        from talon.web.metrics import TalonMetrics, read_host

        self.metrics = TalonMetrics(
            self.identity.node_id,
            self.identity.platform,
            started_at=self.clock.wall(),
            host=read_host([self.state_dir, self.identity.log_dir]),
            clock=self.clock.now,
        )
        self.deadman = Deadman(self.identity.node_id, self.metrics, shadow=self.shadow)
        self.w = Wiring.build(first, self.state_dir, self.clock)
        self.metrics.watch(worker=self._worker_view, notify_pending=self._notify_pending)
        if self.mode != "worker-only":
            self.tracer = await build_tracer(
                self.w.loaded.config.telemetry,
                self.identity,
                secrets=self.w.secrets,
                env=os.environ,
                log=self.log,
            )
        self.outputs = Outputs(
            store=self.store,
            journal=self.journal,
            bundles=self.bundles,
            clock=self.clock,
            wiring=lambda: self.w,
            log=self.log,
            metrics=self.metrics,
            node_id=self.identity.node_id,
            platform=self.identity.platform,
            shadow=self.shadow,
        )
        self.executor = Executor(
            wiring=lambda: self.w,
            outputs=self.outputs,
            state_dir=self.state_dir,
            clock=self.clock,
            shadow=self.shadow,
            tracer=self.tracer,
            own_log=getattr(self.log_sink, "path", None),
        )
        with self.store.lock():
            loaded = self.store.load(self.clock)
            damaged = self.store.set_aside_damaged(self.clock.wall())  # F25
        if loaded.warning:  # F15: a corrupt state file is kept aside, Talon starts clean
            self.log.warning("state.reset", detail=loaded.warning, kept=str(loaded.quarantined))
        for warning in damaged:
            self.log.warning("state.damaged", detail=warning)
        self.watch = Watch(
            state=loaded.state,
            clock=self.clock,
            runner=self.executor,
            record=self._record,
            facts=self._facts,
            lock_holder=lock_holder,
        )
        self.reloader = Reloader(
            self.config_path,
            self.identity,
            lambda: self.w.loaded,
            allow_insecure=self.allow_insecure,
            log=self.log,
            metrics=self.metrics,
            on_change=self._config_changed,
        )
        self.surface = Surface(
            identity=self.identity,
            clock=self.clock,
            store=self.store,
            shadow=self.shadow,
            live=Live(
                tasks=lambda: self.tasks.state,
                running_actions=self.executor.running_view,
                config_error=lambda: self.reloader.error,
                worker=self._worker_view,
                write_errors=lambda: self.outputs.write_errors,
                storage=self.outputs.storage_view,
                notify_pending=self._notify_pending,
                stopped=lambda: self._stopping,
                extra={"config": str(self.config_path), "mode": self.mode},
            ),
        )
        self.surface.publish(state=self.watch.state, **self._pace())

    def _recover(self) -> None:
        """What the last Talon left (only the watchdog: a `--worker-only` instance runs
        beside a live one, whose open actions are running, not interrupted)."""
        if self.mode != "worker-only":
            recover(self.journal, self.watch, self.outputs, self.log, self.clock)

    def _start_tasks(self) -> None:
        log_dir = self.identity.log_dir
        if self.worker.start(self.w, self.journal, self.log, log_dir, self.clock.wall):
            self.tasks.start("worker", self.worker.run)
        elif self.w.loaded.config.worker is not None:
            self.log.info("worker.not_supervised", why=self.worker.why_not)
        watchdog = self.mode != "worker-only"
        if watchdog and self.w.loaded.config.health.enabled:
            self.tasks.start("web", self._serve_web)
        self.tasks.start("config-watch", self.reloader.watch)
        if watchdog:
            self.tasks.start("notify-retry", self._retry_notifications)
            self.tasks.start("commands", self._watch_commands)

    def _worker_view(self) -> dict[str, Any] | None:
        return self.worker.view(self.clock.wall())

    def _notify_pending(self) -> int:
        return len(self.w.notifier.pending())

    async def _worker_only(self) -> None:
        """Only the worker: wait for a signal, applying reloads as they come."""
        self._wake.clear()
        while not self._stopping:
            await self._wake.wait()
            self._wake.clear()
            if (loaded := self.reloader.take()) is not None:
                await self._apply_config(loaded)

    def _settle_gc(self) -> None:
        # After the first cycle of a config: its lazy imports and caches are in by then.
        if self._gc_due and not self._stopping:
            self._gc_due = False
            self.gc.settle(len(self.w.loaded.probes))

    def _known_secrets(self) -> set[str]:
        wiring = getattr(self, "w", None)
        return wiring.secrets.known_values() if wiring is not None else set()

    def _on_sighup(self) -> None:
        self.reloader.signal()
        self.worker.forward(signal.SIGHUP)

    def stop(self, why: str = "stop") -> None:
        if self._stopping:
            return
        self._stopping = True
        self.stop_signal = signal.SIGINT if why == "SIGINT" else signal.SIGTERM
        if self.log is not None:  # a stop can come before the logging is set up
            self.log.info("daemon.stopping", signal=why)
        self._wake.set()
        if self._cycle_task is not None and not self._cycle_task.done():
            self._cycle_task.cancel()

    async def _shutdown(self) -> None:
        await self.watch.aclose()  # background actions journal their cancellation (R30)
        await self.outputs.aclose()
        await self.worker.shutdown(self.stop_signal)  # drained before its task is cancelled
        await self.deadman.aclose()
        await self.tasks.stop()
        if self.mode != "worker-only":
            self.outputs.persist(Step(self.watch.state))
        await self.w.aclose()
        if self.mode != "worker-only":
            self._write_status()
        await self.tracer.shutdown()  # flush the last spans, bounded by [telemetry] timeout_secs
        self.log.info("daemon.stop", state=self.watch.state.node.value)

    async def _sleep(self) -> None:
        if self._stopping or self.inbox.waiting():
            return  # an operator's command waits: the next boundary is now
        started = self.surface.snapshot.cycle_started or self.clock.now()
        due = started + self.interval() - self.clock.now()
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, due)):
                await self._wake.wait()

    def interval(self) -> float:
        return pace.interval(self.w.loaded.config, self.watch.state)

    def _pace(self) -> dict[str, float | int | None]:
        loaded, every = self.w.loaded, self.interval()
        stale = pace.stale_after(loaded.config, loaded.probes, every, bool(self.executor.running))
        health = loaded.config.health
        return {
            "interval_s": every,
            "stale_after_s": stale,
            "unhealthy_status": int(health.unhealthy_status),
            "storage_failing_status": health.storage_failing_status,
        }

    # --------------------------------------------------------------- cycle
    async def _cycle(self) -> None:
        attrs = None
        if self.tracer.enabled:
            from talon.telemetry.attributes import cycle_start_attributes

            attrs = cycle_start_attributes(self.w)
        with self.tracer.span("talon.cycle", attrs) as span:
            await self._boundary()
            w = self.w
            started = self.clock.now()
            self.surface.publish(cycle_started=started, **self._pace())
            self.deadman.started(w, started)
            self.worker.poke()  # the single-owner check runs every cycle (R23)
            cycle = await self.watch.run_once(w)
            self._finished(w, cycle, span)

    def _finished(self, w: Wiring, cycle: Cycle, span: Span) -> None:
        state, results = cycle.state, cycle.report.results
        self.deadman.finished(w, cycle.finished, state, results, self.tasks.state)
        to_wall = self.clock.to_wall
        self.metrics.observe_cycle(results, state, to_wall(cycle.started), to_wall(cycle.finished))
        self.log.info(
            "cycle",
            duration_ms=round((cycle.report.finished_at - cycle.report.started_at) * 1000, 1),
            probes=len(results),
            failing=[r.key for r in results if r.failed],
            state=state.node.value,
            signal=state.signal.value,
            incident=state.incident.id if state.incident else None,
            actions=[a.kind.value for a in cycle.actions],
        )
        if span.recording:  # [telemetry] is on: the verdict and the failing probes
            from talon.telemetry.attributes import record_cycle

            t = w.loaded.config.telemetry
            known = w.secrets.known_values()
            record_cycle(span, results, state, list(cycle.actions), t.probe_events, known)
        self.surface.publish(
            state=state, report=cycle.report, cycle_finished=cycle.finished, **self._pace()
        )
        self._write_status()

    def _record(self, step: Step, report: CycleReport | None) -> None:
        """A step is saved before its actions run, and shown at once: /health says
        "healing" while a long heal runs, not what was true before it."""
        self.outputs.step(step, report)
        self.surface.publish(state=step.state)

    async def _facts(self, w: Wiring) -> Facts:
        return await gather_facts(w, self.worker, self.clock.wall())

    def _write_status(self) -> None:
        error = self.surface.write_daemon_file()
        if error is not None:
            self.outputs.error(error)

    # --------------------------------------------------- the cycle boundary
    async def _boundary(self) -> None:
        """Between cycles: a valid reloaded config, then the operators' commands."""
        if (loaded := self.reloader.take()) is not None:
            await self._apply_config(loaded)
        for command in self.inbox.pending():
            answer = apply_command(command, self.watch, self.clock)
            self.inbox.answer(command, answer)
            self.log.info(
                "operator.command", id=command.id, verb=command.verb, by=command.by, **answer
            )
            self.surface.publish(
                state=self.watch.state, last_command={**answer, **command.as_dict()}
            )
            self._write_status()

    async def _watch_commands(self) -> None:
        """A command cuts the sleep short: it is applied at the next boundary."""
        while True:
            await asyncio.sleep(COMMANDS_EVERY_S)
            if self.inbox.waiting():
                self._wake.set()

    async def _apply_config(self, loaded: LoadedConfig) -> None:
        old = self.w
        self.w = Wiring.build(loaded, self.state_dir, self.clock)
        self._gc_due = True
        self.worker.reconfigure(self.w)
        if loaded.config.log != old.loaded.config.log:
            self._setup_logging(loaded)
            self.reloader.log = self.log
        if loaded.config.health != old.loaded.config.health:
            self.log.warning("config.health_changed", detail="a new [health] takes a restart")
        if loaded.config.telemetry != old.loaded.config.telemetry:
            self.log.warning("config.telemetry_changed", detail="a new [telemetry] takes a restart")
        await old.aclose()

    def _config_changed(self) -> None:
        self._wake.set()  # the worker-only loop applies a reload at once
        self._write_status()

    # -------------------------------------------------------------- tasks
    def _task_changed(self, name: str, up: bool, why: str) -> None:
        if self.metrics is not None:
            self.metrics.set_task(name, up)
        if not up and self.log is not None:
            self.log.error("task.died", task=name, error=why)

    async def _serve_web(self) -> None:
        health = self.w.loaded.config.health
        token = await self.w.secrets.resolve(health.token) if health.token else None
        await self.surface.serve(health.bind, token, self.metrics.render, self.log)

    async def _retry_notifications(self) -> None:
        while True:
            await asyncio.sleep(RETRY_EVERY_S)
            for d in await self.w.notifier.retry_due():
                self.metrics.observe_notification(d.channel, d.ok)
                self.log.info("notify.retry", channel=d.channel, ok=d.ok, detail=d.detail)

    def health(self) -> tuple[int, dict[str, Any]]:
        return self.surface.health()

    def status(self) -> dict[str, Any]:
        return self.surface.status()
