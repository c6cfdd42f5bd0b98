"""The daemon's view of the worker: its own supervisor, or another instance's status file.

``talon run`` supervises the worker itself; ``--no-worker`` leaves that to a
``talon run --worker-only`` instance and reads the ``worker.json`` it writes,
for as long as that instance holds ``worker.lock``. Either way, the core gets
the same facts (quick exits, an unkillable port holder) and status shows the
same fields.
"""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from talon.daemon.lock import is_held

if TYPE_CHECKING:
    from talon.daemon.wiring import Wiring
    from talon.store.journal import Journal
    from talon.supervisor.worker import WorkerSupervisor


class WorkerLink:
    def __init__(self, status_path: Path, *, supervise: bool) -> None:
        self.status_path = status_path
        self.supervise = supervise
        self.sup: WorkerSupervisor | None = None
        self.why_not = ""
        self._w: Wiring | None = None

    def start(
        self,
        w: Wiring,
        journal: Journal,
        log: Any,
        log_dir: Path,
        clock: Callable[[], float],
    ) -> bool:
        """Build the supervisor when this instance owns the worker; False says why not."""
        from talon.supervisor.worker import WorkerSupervisor

        self._w = w
        config = w.loaded.config.worker
        if not self.supervise:
            self.why_not = "--no-worker: a `talon run --worker-only` instance supervises it"
        elif config is None:
            self.why_not = "no [worker] section"
        elif not config.command:
            self.why_not = "[worker] command is empty"
        else:
            self.sup = WorkerSupervisor(
                config,
                env=w.ctx.env,
                process_manager=lambda: self._wiring().ctx.process_manager,
                log_dir=log_dir,
                status_path=self.status_path,
                journal=journal,
                log=log,
                clock=clock,
                secrets=w.secrets,  # leases its [worker] secrets; remembered for redaction
            )
            return True
        return False

    def _wiring(self) -> Wiring:
        assert self._w is not None
        return self._w

    async def run(self) -> None:
        assert self.sup is not None
        await self.sup.run()  # returns only after shutdown() ...
        await asyncio.Event().wait()  # ... so wait for the cancel: a return reads as a death

    def reconfigure(self, w: Wiring) -> None:
        self._w = w
        config = w.loaded.config.worker
        if self.sup is not None and config is not None and config.command:
            self.sup.reconfigure(config, w.ctx.env, w.secrets)

    def poke(self) -> None:
        if self.sup is not None:
            self.sup.poke()

    def forward(self, sig: signal.Signals) -> None:
        if self.sup is not None:
            self.sup.forward(sig)

    async def shutdown(self, sig: signal.Signals) -> None:
        if self.sup is not None:
            await self.sup.shutdown(sig)

    def _other(self) -> dict[str, Any] | None:
        """The status a live ``--worker-only`` instance wrote, if one holds the worker lock."""
        if self.sup is not None or not is_held(self.status_path.with_name("worker.lock")):
            return None
        try:
            data = json.loads(self.status_path.read_bytes())
        except (OSError, json.JSONDecodeError):
            return None
        return data if isinstance(data, dict) else None

    def quick_exits(self, now: float) -> int:
        if self.sup is not None:
            return self.sup.quick_exits
        value = (self._other() or {}).get("quick_exits", 0)
        return value if isinstance(value, int) else 0

    def port_holder_pid(self, now: float) -> int | None:
        if self.sup is not None:
            return self.sup.port_holder_pid
        pid = ((self._other() or {}).get("blocked_by") or {}).get("pid")
        return pid if isinstance(pid, int) else None

    def view(self, now: float) -> dict[str, Any] | None:
        """What status and /health show about the worker."""
        if self.sup is not None:
            return {"supervised_by": "this instance", **self.sup.status()}
        if (other := self._other()) is not None:
            return {"supervised_by": "a --worker-only instance", **other}
        if self._w is None or self._w.loaded.config.worker is None:
            return None
        return {"supervised_by": None, "state": "not supervised", "why": self.why_not}
