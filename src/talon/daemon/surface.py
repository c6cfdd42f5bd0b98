"""What the daemon shows: ``/health``, ``/status.json`` and the page, and ``daemon.json``.

The loop publishes a snapshot at the end of every cycle (and after an operator's
command); live values (tasks, running actions, the config error, the worker) are
read from their owners at request time. Nothing here changes the watch.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from talon import __version__
from talon.clock import Clock
from talon.core import CoreState
from talon.node import NodeIdentity
from talon.report import CycleReport, report_json
from talon.store import StateStore, StoreError, atomic_write

RECENT_INCIDENTS = 5  # closed incidents on the status page


@dataclass(frozen=True)
class Snapshot:
    state: CoreState = field(default_factory=CoreState)
    report: CycleReport | None = None
    cycle_started: float | None = None  # Talon's clock
    cycle_finished: float | None = None
    interval_s: float = 60.0
    stale_after_s: float = 135.0
    unhealthy_status: int = 503  # [health] unhealthy_status: 200 answers as the original did
    storage_failing_status: int | None = None  # [health] storage_failing_status; None: as above
    last_command: dict[str, Any] | None = None  # the last operator command, as answered


@dataclass
class Live:
    """Read at request time, from whoever owns each value."""

    tasks: Callable[[], dict[str, str]]
    running_actions: Callable[[], list[dict[str, Any]]]
    config_error: Callable[[], str | None]
    worker: Callable[[], dict[str, Any] | None]
    write_errors: Callable[[], list[str]]
    notify_pending: Callable[[], int]
    stopped: Callable[[], bool]
    extra: dict[str, Any] = field(default_factory=dict)  # mode, config path
    storage: Callable[[], dict[str, Any]] | None = None  # StorageHealth's view (F24)


class Surface:
    def __init__(
        self,
        *,
        identity: NodeIdentity,
        clock: Clock,
        store: StateStore,
        live: Live,
        shadow: bool,
    ) -> None:
        self.identity = identity
        self.clock = clock
        self.store = store
        self.live = live
        self.shadow = shadow
        self.started_at = clock.wall()
        self.snapshot = Snapshot()

    def publish(self, **changes: Any) -> None:
        self.snapshot = replace(self.snapshot, **changes)

    def health(self) -> tuple[int, dict[str, Any]]:
        from talon.web.health import health_payload

        s, live = self.snapshot, self.live
        finished = s.cycle_finished
        restarts = (live.worker() or {}).get("restarts")
        code, payload = health_payload(
            state=s.state,
            identity=self.identity,
            now=self.clock.now(),
            last_cycle_started=s.cycle_started,
            last_cycle_finished=finished,
            stale_after_s=s.stale_after_s,
            shadow=self.shadow,
            config_error=live.config_error(),
            tasks=live.tasks(),
            running_actions=live.running_actions(),
            version=__version__,
            probes=[(r.key, r.state) for r in s.report.results] if s.report else (),
            worker_restarts=restarts if isinstance(restarts, int) else 0,
            updated_at_unix=None if finished is None else int(self.clock.to_wall(finished)),
            unhealthy_status=s.unhealthy_status,
            storage=None if live.storage is None else live.storage(),
            storage_failing_status=s.storage_failing_status,
        )
        payload["operator"] = {"last_command": s.last_command}
        return code, payload

    def status(self) -> dict[str, Any]:
        """The status view (``talon.status/v1``) from memory, for /status.json and the page."""
        from talon.host import read_resources
        from talon.status_view import status_view

        s, now = self.snapshot, self.clock.now()
        error = self.live.config_error()
        warnings = [] if error is None else [f"config rejected: {error}"]
        dirs = [self.identity.state_dir, self.identity.log_dir]
        view = status_view(
            s.state,
            None if s.report is None else report_json(s.report),
            self.identity,
            now,
            wall=self.clock.wall(),
            warnings=warnings + self.live.write_errors()[-3:],
            daemon={"pid": os.getpid(), "started_at": self.started_at, "shadow": self.shadow},
            resources=read_resources(dirs, self.clock.wall()),
            recent_incidents=self.store.recent_incidents(RECENT_INCIDENTS),
        )
        view["worker"] = self.live.worker()
        view["health"] = self.health()[1]
        return view

    def write_daemon_file(self) -> str | None:
        """``daemon.json``: what ``talon status`` shows about the daemon; an error, if any."""
        s, live = self.snapshot, self.live
        data = {
            "pid": os.getpid(),
            "started_at": self.started_at,
            "shadow": self.shadow,
            "config_error": live.config_error(),
            "tasks": live.tasks(),
            "last_cycle": {"started_at": s.cycle_started, "finished_at": s.cycle_finished},
            "interval_s": s.interval_s,
            "write_errors": live.write_errors(),
            "storage": None if live.storage is None else live.storage(),
            "running_actions": live.running_actions(),
            "notify_pending": live.notify_pending(),
            "stopped": live.stopped(),
            "worker": live.worker(),
            "last_command": s.last_command,
            "clock": self.clock.stamp().as_dict(),
            **live.extra,
        }
        try:
            atomic_write(
                self.identity.state_dir / "daemon.json", json.dumps(data, indent=2).encode()
            )
        except StoreError as exc:
            return str(exc)
        return None

    async def serve(
        self, bind: str, token: str | None, metrics: Callable[[], tuple[bytes, str]], log: Any
    ) -> None:
        """The web task: serve until cancelled (a return would read as a death)."""
        from talon.web.server import WebServer, WebSources

        server = WebServer(bind, WebSources(self.health, metrics, status=self.status), token)
        await server.start()
        log.info("web.listening", bind=bind, port=server.bound_port)
        try:
            await asyncio.Event().wait()
        finally:
            await server.stop()
