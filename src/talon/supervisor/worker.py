"""Keep the worker process alive: spawn, watch, poll health, restart with backoff, defer.

The worker is Talon's child, in its own process group, with ``[worker] env``,
the env file and the leased ``[worker] secrets`` merged into Talon's subprocess
environment (``workerenv``), its working directory, and its stdout/stderr
appended to log files. One ``run()`` loop owns it:

- single owner (F9, R23): when ``external_label`` is loaded in any domain of
  the process manager, Talon does not supervise (and stops its own copy). The
  check runs before every start and on every ``poke()`` (each daemon cycle);
- before a start, an orphan listener on the worker's port is killed by pid;
  anything else holding the port blocks the start and is reported (F8, R22);
- an exit restarts it: at once after a stable run and after the first quick
  exit, else after 1, 2, 4 ... s (``policy.restart_delay``); the quick exits in
  a row are the core's crash loop fact (F7). The exit is an event (the loop's
  child watcher: a pidfd, or a thread blocked in waitpid), never a poll. What
  is left of a dead worker's process group is killed with it (R21), so a
  forked child cannot keep its port;
- health: GET every ``health_interval_secs`` (every 0.5 s until the first
  success after a start); ``health_failures_before_restart`` failures in a row
  restart it; ``startup_sync_delay_secs`` after the first success, one PUT to
  the sync endpoint;
- stop: SIGTERM to the group, ``drain_timeout_secs``, then SIGKILL of the group.

Every start attempt, exit, restart, kill and deferral is written to the action
journal as a ``worker`` entry, so attempt times can be checked against the backoff.
Entries carry the time of the event; they, the log lines and ``worker.json`` are
written before the supervisor next waits, so an fsync never delays a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from talon.adapters.process import ProcessManager, ServiceState
from talon.config.models import WorkerConfig
from talon.errors import TalonError
from talon.node import expand_path
from talon.store import StoreError, atomic_write
from talon.supervisor import policy, ports
from talon.supervisor.workerenv import build_env

if TYPE_CHECKING:
    import aiohttp

    from talon.actions.secrets import Secrets
    from talon.store.journal import Journal

STARTUP_POLL_S = 0.5
OWNER_RECHECK_S = 5.0
PORT_RETRY_S = 2.0
GROUP_GONE_S = 1.0  # at most this long for a dead worker's killed group to release its port
GROUP_POLL_S = 0.005
OWNER_TIMEOUT_S = 10.0
LOADED = (ServiceState.RUNNING, ServiceState.CHANGING, ServiceState.STOPPED, ServiceState.FAILED)


class WorkerSupervisor:
    def __init__(
        self,
        config: WorkerConfig,
        *,
        env: Mapping[str, str],
        process_manager: Callable[[], ProcessManager],
        log_dir: Path,
        status_path: Path | None = None,
        journal: Journal | None = None,
        log: Any = None,
        clock: Callable[[], float] = time.time,
        secrets: Secrets | None = None,
    ) -> None:
        self.config = config
        self.env = dict(env)
        self.secrets = secrets  # None: leased with the default [secrets] timeout
        self.lease_failures: list[dict[str, str]] = []  # at the last start
        self._pm = process_manager
        self.log_dir = log_dir
        self.status_path = status_path
        self.journal = journal
        self.log = log
        self.clock = clock
        self.state = "starting"
        self.pid: int | None = None
        self.started_at: float | None = None
        self.attempts = 0
        self.restarts = 0
        self.quick_exits = 0
        self.last_exit: dict[str, Any] | None = None
        self.owner: dict[str, Any] | None = None
        self.owner_error: str | None = None
        self.blocked_by: dict[str, Any] | None = None
        self.killed: list[dict[str, Any]] = []
        self.error: str | None = None
        self.health: dict[str, Any] = {"ok": None, "failures": 0, "at": None, "message": ""}
        self.sync: dict[str, Any] | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._exited: asyncio.Task[int] | None = None
        self._started_mono = 0.0
        self._next_start = 0.0
        self._next_health = 0.0
        self._healthy_once = False
        self._sync_task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._stopping = False
        self._deferring: bool | None = None  # the last owner decision (None: not checked yet)
        self._poke = asyncio.Event()
        self._last_group: int | None = None  # the process group of the worker that just exited
        self._unwritten: list[tuple[float, str, dict[str, Any]]] = []  # journal entries
        self._unsaid: list[tuple[str, dict[str, Any]]] = []  # log lines
        self._status_dirty = False

    # ------------------------------------------------------------ surface
    @property
    def port_holder_pid(self) -> int | None:
        """A listener on the worker's port that Talon may not kill: for the core."""
        pid = (self.blocked_by or {}).get("pid")
        return pid if isinstance(pid, int) else None

    def status(self) -> dict[str, Any]:
        cfg = self.config
        return {
            "state": self.state,
            "pid": self.pid,
            "command": cfg.command,
            "port": cfg.port,
            "started_at": self.started_at,
            "attempts": self.attempts,
            "restarts": self.restarts,
            "quick_exits": self.quick_exits,
            "next_start_in_s": self._next_start_in(),
            "last_exit": self.last_exit,
            "external_label": cfg.external or None,
            "owner": self.owner,
            "owner_error": self.owner_error,
            "blocked_by": self.blocked_by,
            "killed_port_holders": self.killed[-5:],
            "health": self.health,
            "sync": self.sync,
            "error": self.error,
            "secrets_not_leased": self.lease_failures,
            "updated_at": self.clock(),
        }

    def _next_start_in(self) -> float | None:
        if self._proc is not None or self.state not in ("backoff", "port_blocked"):
            return None
        return round(max(0.0, self._next_start - time.monotonic()), 3)

    def poke(self) -> None:
        """Re-check the owner and the schedule now (the daemon calls this every cycle)."""
        self._poke.set()

    def reconfigure(
        self, config: WorkerConfig, env: Mapping[str, str], secrets: Secrets | None = None
    ) -> None:
        """A reloaded config: used from the next start on; the running worker is left alone."""
        self.config = config
        self.env = dict(env)
        self.secrets = secrets or self.secrets
        self.poke()

    def forward(self, sig: signal.Signals) -> None:
        """Pass a signal Talon received on to the worker's whole group."""
        if self._proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._proc.pid, sig)
            self._note("signal", signal=sig.name, pid=self._proc.pid)
            self._flush()

    # --------------------------------------------------------------- loop
    async def run(self) -> None:
        """The supervised task. Safe to call again after a crash: the child is kept."""
        while not self._stopping:
            if await self._owned_elsewhere():
                await self._stop_child("an external supervisor owns the worker")
                self._set_state("deferring")
                await self._idle(OWNER_RECHECK_S)
                continue
            if self._proc is None:
                wait = self._next_start - time.monotonic()
                if wait > 0:
                    self._set_state("port_blocked" if self.blocked_by else "backoff")
                    await self._idle(wait)
                    continue
                if not await self._clear_port():
                    self._next_start = time.monotonic() + PORT_RETRY_S
                    continue
                await self._spawn()
                continue
            await self._watch()

    async def shutdown(self, sig: signal.Signals = signal.SIGTERM) -> None:
        """Stop supervising and drain the worker: ``sig`` (Talon's own), drain timeout, SIGKILL."""
        self._stopping = True
        self._poke.set()
        await self._stop_child("Talon is stopping", sig)
        self._set_state("stopped")
        self._flush()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _idle(self, seconds: float) -> None:
        self._flush()
        self._poke.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, seconds)):
                await self._poke.wait()

    # -------------------------------------------------------------- owner
    async def _owned_elsewhere(self) -> bool:
        label = self.config.external
        if not label:
            self.owner = self.owner_error = None
            self._deferring = False
            return False
        pm = self._pm()
        try:
            async with asyncio.timeout(OWNER_TIMEOUT_S):
                status = await pm.inspect(label)
        except (TalonError, TimeoutError, OSError) as exc:
            status = None
            self.owner_error = f"{pm.name}: {exc or type(exc).__name__}"
        if status is not None and status.state in LOADED:
            self.owner = {
                "manager": pm.name,
                "label": label,
                "domain": status.domain,
                "state": status.state.value,
                "pid": status.pid,
            }
            self.owner_error = None
            decision = True
        elif status is not None and status.state is ServiceState.NOT_FOUND:
            self.owner = self.owner_error = None
            decision = False
        elif pm.name == "null":  # no manager to ask: Talon owns it, and says it cannot check
            self.owner = None
            self.owner_error = f"external_label {label!r} set, but no process manager to check"
            decision = False
        else:  # the manager could not tell: keep the last decision; at first, do not fight
            if status is not None:
                self.owner_error = f"{pm.name}: {status.detail or 'state unknown'}"
            decision = True if self._deferring is None else self._deferring
        if decision != self._deferring:
            self._note("defer" if decision else "own", label=label, owner=self.owner)
            self._say("worker.defer" if decision else "worker.own", label=label, owner=self.owner)
        self._deferring = decision
        return decision

    # --------------------------------------------------------------- port
    async def _clear_port(self) -> bool:
        port = self.config.port
        group, self._last_group = self._last_group, None
        answers = await asyncio.to_thread(ports.answers_on_loopback, port)
        if answers and group is not None and await self._group_gone(group):
            answers = await asyncio.to_thread(ports.answers_on_loopback, port)  # it let go
        if not answers:
            self.blocked_by = None
            return True
        holders = await asyncio.to_thread(ports.listeners, port)
        if not holders:
            self.blocked_by = None
            return True
        own = {os.getpid(), os.getppid()}
        external = {p for p in [(self.owner or {}).get("pid")] if isinstance(p, int)}
        for holder in holders:
            verdict = policy.judge_holder(holder, own=own, external=external)
            if not verdict.kill or holder.pid is None:
                self.blocked_by = {**holder.as_dict(), "why": verdict.why}
                self._say("worker.port_blocked", port=port, **self.blocked_by)
                return False
            self._note("kill_port_holder", phase="begin", port=port, **holder.as_dict())
            try:
                result = await asyncio.to_thread(ports.kill_listener, holder.pid, port)
            except Exception as exc:
                result = f"failed: {exc}"
            record = {**holder.as_dict(), "port": port, "at": self.clock(), "result": result}
            self.killed.append(record)
            self._note("kill_port_holder", phase="end", **record)
            self._say("worker.port_holder_killed", why=verdict.why, **record)
        self.blocked_by = None
        return not await asyncio.to_thread(ports.listeners, port)

    @staticmethod
    async def _group_gone(pgid: int) -> bool:
        """Wait (bounded) for the killed group of the worker that just died to be gone.

        The worker's own sockets are closed before its exit is reported, so a
        plain crash never waits here; a child it forked that shared its listener
        was SIGKILLed with the group and takes a moment to die. No event tells
        when a group is empty (pidfds are per process), so this polls, 5 ms apart.
        """
        deadline = time.monotonic() + GROUP_GONE_S
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return True
            except PermissionError:
                return False
            await asyncio.sleep(GROUP_POLL_S)
        return False

    # -------------------------------------------------------------- spawn
    async def _spawn(self) -> None:
        cfg = self.config
        self.attempts += 1
        self.error = None
        delay = self.last_exit.get("delay_s") if self.last_exit else None
        self._note("start", attempt=self.attempts, delay_s=delay, command=cfg.command)
        try:
            env = await self._env()
            with (
                self._log_file(cfg.log_stdout, "out") as out,
                self._log_file(cfg.log_stderr, "err") as err,
            ):  # the child keeps its own copies of the descriptors
                self._proc = await asyncio.create_subprocess_exec(
                    *cfg.command,
                    cwd=str(expand_path(cfg.dir, self.env)) if cfg.dir else None,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    start_new_session=True,  # its own group: stopped and signalled as one
                )
        except (OSError, TalonError, ValueError) as exc:
            self.error = str(exc)
            self._say("worker.spawn_failed", error=self.error)
            self._exit_recorded(code=None, ran_s=0.0, why=f"could not start: {exc}")
            return
        self.pid = self._proc.pid
        self.started_at = self.clock()
        self._started_mono = time.monotonic()
        self._exited = asyncio.ensure_future(self._proc.wait())
        self._healthy_once = False
        self._next_health = self._started_mono + STARTUP_POLL_S
        self.health = {"ok": None, "failures": 0, "at": None, "message": "starting"}
        self._set_state("running")
        self._say("worker.started", pid=self.pid, attempt=self.attempts)

    async def _env(self) -> dict[str, str]:
        """The worker's env; each failed lease is logged (name and fix, never a value)."""
        if self.secrets is None:
            from talon.actions.secrets import Secrets
            from talon.config.outputs import SecretsConfig

            self.secrets = Secrets(SecretsConfig(), self.env)
        env, failed = await build_env(self.config, self.env, self.secrets)
        self.lease_failures = [failure.as_dict() for failure in failed]
        for failure in failed:
            self._say("worker.secret_not_leased", **failure.as_dict())
        return env

    def _log_file(self, configured: str, stream: str) -> BinaryIO:
        path = (
            expand_path(configured, self.env)
            if configured
            else self.log_dir / f"worker.{stream}.log"
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        return path.open("ab")

    # -------------------------------------------------------------- watch
    async def _watch(self) -> None:
        assert self._exited is not None
        self._flush()
        self._poke.clear()
        poke = asyncio.ensure_future(self._poke.wait())
        try:
            await asyncio.wait(
                {self._exited, poke},
                timeout=max(0.0, self._next_health - time.monotonic()),
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            poke.cancel()
        if self._exited.done():
            if self._proc is None:  # stopped meanwhile: _stop_child recorded it
                return
            ran = time.monotonic() - self._started_mono
            self._last_group = self._proc.pid
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._last_group, signal.SIGKILL)  # what it left behind (R21)
            self._forget_child()
            self._exit_recorded(code=self._exited.result(), ran_s=ran, why="exited")
            return
        if not self._stopping and time.monotonic() >= self._next_health:
            await self._check_health()

    def _exit_recorded(self, *, code: int | None, ran_s: float, why: str) -> None:
        self.quick_exits = policy.quick_exits_after(
            self.quick_exits, ran_s, self.config.stable_secs
        )
        delay = policy.restart_delay(self.quick_exits, self.config.restart_backoff_max_secs)
        self._next_start = time.monotonic() + delay
        self.restarts += 1
        self.last_exit = {
            "at": self.clock(),
            "code": code,
            "signal": signal.Signals(-code).name if code is not None and code < 0 else None,
            "ran_s": round(ran_s, 3),
            "why": why,
            "delay_s": delay,
        }
        self._note("exit", **self.last_exit, quick_exits=self.quick_exits)
        self._say("worker.exited", **self.last_exit, quick_exits=self.quick_exits)
        self._set_state("backoff" if delay else "starting")

    def _forget_child(self) -> None:
        self._proc = None
        self.pid = None
        if self._sync_task is not None:
            self._sync_task.cancel()
            self._sync_task = None

    async def _stop_child(self, why: str, sig: signal.Signals = signal.SIGTERM) -> None:
        proc, exited = self._proc, self._exited
        if proc is None or exited is None:
            return
        self._set_state("stopping")
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            async with asyncio.timeout(self.config.drain_timeout_secs):
                await asyncio.shield(exited)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            await exited
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # what is left of its group
        self._last_group = proc.pid
        ran = time.monotonic() - self._started_mono
        self._forget_child()
        self.last_exit = {
            "at": self.clock(),
            "code": exited.result(),
            "signal": None,
            "ran_s": round(ran, 3),
            "why": f"stopped: {why}",
            "delay_s": 0.0,
        }
        self._note("stop", why=why, code=exited.result())
        self._say("worker.stopped", why=why, code=exited.result())

    # ------------------------------------------------------------- health
    def _url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.config.port}{path}"  # the worker is local: loopback

    async def _request(self, method: str, path: str) -> tuple[bool, str]:
        import aiohttp

        if self._session is None:
            self._session = aiohttp.ClientSession()
        try:
            async with (
                asyncio.timeout(self.config.http_timeout_secs),
                self._session.request(method, self._url(path)) as response,
            ):
                await response.read()
                return response.status < 400, f"HTTP {response.status}"
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return False, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__

    async def _check_health(self) -> None:
        cfg = self.config
        ok, message = await self._request("GET", cfg.health_endpoint)
        now = time.monotonic()
        failures = self.health["failures"]
        if ok:
            failures = 0
            if not self._healthy_once:
                self._healthy_once = True
                self._say(
                    "worker.healthy", pid=self.pid, after_s=round(now - self._started_mono, 3)
                )
                self._sync_task = asyncio.create_task(self._sync_after_delay())
            self._next_health = now + cfg.health_interval_secs
        elif self._healthy_once or now - self._started_mono >= cfg.health_interval_secs:
            failures += 1
            self._next_health = now + cfg.health_interval_secs
        else:
            self._next_health = now + STARTUP_POLL_S  # still starting: not a failure yet
        self.health = {"ok": ok, "failures": failures, "at": self.clock(), "message": message}
        if failures >= cfg.health_failures_before_restart:
            self._note("restart", why=f"{failures} failed health checks: {message}")
            await self._stop_child(f"unhealthy: {failures} failed health checks ({message})")
            self.restarts += 1
            self._next_start = time.monotonic()
            self._set_state("starting")

    async def _sync_after_delay(self) -> None:
        await asyncio.sleep(self.config.startup_sync_delay_secs)
        ok, message = await self._request("PUT", self.config.sync_endpoint)
        self.sync = {"at": self.clock(), "ok": ok, "message": message, "pid": self.pid}
        self._note("sync", ok=ok, message=message)
        self._say("worker.synced" if ok else "worker.sync_failed", message=message)
        self._flush()

    # ------------------------------------------------------------ records
    def _set_state(self, state: str) -> None:
        self.state = state
        self._status_dirty = True

    def _flush(self) -> None:
        """Write what happened since the last wait: journal entries, log lines, worker.json."""
        notes, self._unwritten = self._unwritten, []
        if self.journal is not None:
            for at, what, fields in notes:
                with contextlib.suppress(StoreError, OSError):
                    self.journal.note("worker", at, what=what, **fields)
        said, self._unsaid = self._unsaid, []
        if self.log is not None:
            for event, fields in said:
                self.log.info(event, **fields)
        if self._status_dirty:
            self._status_dirty = False
            self.write_status()

    def write_status(self) -> None:
        if self.status_path is None:
            return
        with contextlib.suppress(StoreError, OSError):
            data = json.dumps(self.status(), indent=2, default=str).encode()
            atomic_write(self.status_path, data)

    def _note(self, what: str, **fields: Any) -> None:
        if self.journal is not None:
            fields.pop("at", None)  # the entry's own time: now
            self._unwritten.append((self.clock(), what, fields))

    def _say(self, event: str, **fields: Any) -> None:
        if self.log is not None:
            self._unsaid.append((event, fields))
