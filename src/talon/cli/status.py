"""``talon status`` and ``talon hold clear``: the persisted state, read and acted on.

The view itself is ``talon.status_view.status_view`` (shared with the daemon's
status page); this module reads the state directory and the host, and prints.
A hold is cleared by the running daemon when there is one (a command it applies
at its next cycle boundary and confirms); only without one are the files edited.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import click

from talon.clock import Clock
from talon.core import NodeState, Signal, clear_hold
from talon.node import NodeIdentity
from talon.store import StateStore
from talon.store.aside import DAEMON, daemon_problem, worker_problem
from talon.store.lines import read_json

RECENT_INCIDENTS = 5
EXIT = {Signal.STABLE: 0, Signal.RECOVERING: 1, Signal.FAILED_RECOVERY: 2, Signal.DEGRADED_HOLD: 2}


def run_status(as_json: bool) -> int:
    identity = NodeIdentity.detect()
    store = StateStore(identity.state_dir)
    clock = Clock()
    loaded = store.load(clock, quarantine=False)
    now, wall = clock.now(), clock.wall()
    daemon, daemon_warning = _daemon(store)
    report, report_warning = store.read_report()
    warnings = [w for w in (loaded.warning, report_warning, daemon_warning) if w]
    if damaged := store.incidents_read().damaged:
        warnings.append(
            f"{store.incidents_path}: {len(damaged)} damaged line(s) not shown "
            "(the daemon copies them to incidents.jsonl.damaged at its start)"
        )
    if daemon and daemon.get("config_error"):
        warnings.append(f"the running daemon rejected a config change: {daemon['config_error']}")
    from talon.host import read_resources
    from talon.status_view import status_view

    data = status_view(
        loaded.state,
        report,
        identity,
        now,
        wall=wall,
        warnings=warnings,
        daemon=daemon,
        resources=read_resources([identity.state_dir, identity.log_dir], wall),
        recent_incidents=store.recent_incidents(RECENT_INCIDENTS),
    )
    data["worker"] = (daemon or {}).get("worker") or _worker_only(store)
    if as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        _print(data)
    return EXIT[loaded.state.signal]


def _daemon(store: StateStore) -> tuple[dict[str, Any] | None, str | None]:
    """What the running (or last) `talon run` wrote about itself; why it is not shown."""
    path = store.dir / DAEMON
    data, why = read_json(path)
    if why is None and data is not None:
        why = daemon_problem(data)
    if why is not None:
        return None, f"{path} is unreadable ({why}); the daemon's own status is not shown"
    return data, None


def _worker_only(store: StateStore) -> dict[str, Any] | None:
    """The status a running ``talon run --worker-only`` keeps, when no full daemon reports it."""
    from talon.daemon.lock import is_held

    if not is_held(store.dir / "worker.lock"):
        return None
    data, why = read_json(store.dir / "worker.json")
    if why is not None or worker_problem(data) is not None:
        return None
    return {"supervised_by": "a --worker-only instance", **data}


def worker_line(worker: dict[str, Any]) -> str:
    """One line on the worker: who owns it, its state, and why when it is not running."""
    state = worker.get("state")
    if state == "deferring":
        owner = worker.get("owner") or {}
        where = f" in {owner['domain']}" if owner.get("domain") else ""
        pid = f", pid {owner['pid']}" if owner.get("pid") else ""
        return (
            f"worker: not supervised by Talon — {owner.get('manager')} owns "
            f"{owner.get('label')!r}{where} ({owner.get('state')}{pid}); single owner (R23)"
        )
    if state == "not supervised":
        return f"worker: not supervised ({worker.get('why')})"
    parts = [f"worker: {state}"]
    if worker.get("pid"):
        parts.append(f"pid {worker['pid']}")
    if worker.get("quick_exits"):
        parts.append(f"{worker['quick_exits']} quick exits in a row")
    if worker.get("next_start_in_s") is not None:
        parts.append(f"next start in {worker['next_start_in_s']:.1f}s")
    if (blocked := worker.get("blocked_by")) is not None:
        parts.append(f"port {worker.get('port')} held: {blocked.get('why')}")
    if worker.get("owner_error"):
        parts.append(f"owner check: {worker['owner_error']}")
    if missing := worker.get("secrets_not_leased"):
        names = ", ".join(f"{m.get('env')} ({m.get('secret')})" for m in missing)
        parts.append(f"started without secrets {names}: see the log")
    if worker.get("supervised_by") and worker["supervised_by"] != "this instance":
        parts.append(f"by {worker['supervised_by']}")
    return ", ".join(parts)


# anything else: red; degraded: ok, but only through a fallback path
STATUS_STYLE = {"ok": "green", "skipped": "dim", "warning": "yellow", "degraded": "yellow"}


def pause_lines(paused: list[dict[str, Any]]) -> list[str]:
    """One line per running pause: what it covers, who, until when (local time), how long."""
    from talon.daemon.commands import wall_clock
    from talon.durations import exact

    wall = time.time()
    out = []
    for p in paused:
        remaining = float(p.get("remaining_s") or 0.0)
        what = (
            "the whole node (no heal, no agent, no SOS)"
            if p.get("probe") is None
            else (f"{p['probe']} (no heal for it)")
        )
        out.append(
            f"{what} by {p.get('by')} until {wall_clock(wall + remaining, wall)} "
            f"({exact(remaining)} left); `talon resume` ends it"
        )
    return out


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def resources_lines(resources: dict[str, Any]) -> list[str]:
    """Memory, load and disks in three short lines."""
    memory, load = resources["memory"], resources["load"]
    disks = ", ".join(
        f"{d['path']} {d['used_percent']:.0f}% used ({_size(d['free_bytes'])} free)"
        for d in resources["disks"]
    )
    return [
        f"memory: {_size(memory['available_bytes'])} available of {_size(memory['total_bytes'])}"
        f" ({memory['available_percent']:.0f}%)",
        f"load: {load['1m']:.2f} {load['5m']:.2f} {load['15m']:.2f} on {resources['cpus']} CPUs",
        f"disk: {disks or '-'}",
    ]


def path_cell(probe: dict[str, Any]) -> str:
    """Which path answered, and where: ``vm 127.0.0.2:8080``."""
    if probe["endpoint_class"] is None:
        return "-"
    return " ".join(x for x in (probe["endpoint_class"], probe["answered_by"]) if x)


def _print(data: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    console.print(
        f"[bold]{data['node']['node_id']}[/]: {data['state']} — signal: [bold]{data['signal']}[/]"
    )
    if (incident := data["incident"]) is not None:
        console.print(
            f"incident {incident['id']}: root cause {incident['root_cause']}, "
            f"faults {', '.join(incident['faults']) or '-'}"
        )
    if (hold := data["hold"]) is not None:
        console.print(f"hold ({hold['reason']}): {hold['remaining_s']:.0f}s remaining")
    for held in data.get("held_heals") or []:
        console.print(
            f"held (recurrence): {escape(held['heal'])}, {held['remaining_s']:.0f}s remaining "
            "(`talon hold clear` ends it)"
        )
    for line in pause_lines(data.get("paused") or []):
        console.print(f"[yellow]paused:[/] {escape(line)}")
    if (v := data["verification"]) is not None:
        console.print(
            f"verifying a heal: {v['greens']} green checks, warmup "
            f"{v['warmup_remaining_s']:.0f}s remaining"
        )
    cycle = data["last_cycle"]
    if cycle is None:
        console.print("no cycle recorded yet")
    else:
        summary = data["summary"]
        age = cycle["age_s"]
        table = Table(
            title=f"probes: {summary['passed']} passed, {summary.get('degraded', 0)} degraded, "
            f"{summary['failed']} failed, {summary['skipped']} skipped"
            + ("" if age is None else f" — {age:.0f}s ago")
        )
        for column in ("layer", "probe", "status", "path", "ms", "message"):
            table.add_column(column, overflow="fold")
        for probe in data["probes"]:
            shown = "degraded" if probe.get("degraded") else probe["status"]
            style = STATUS_STYLE.get(shown, "red")
            message = probe["message"]
            if probe["classification"]:
                note = " (explained)" if probe["explained"] else ""
                message = f"{probe['classification']}{note}: {message}"
            latency = probe["latency_ms"]
            table.add_row(
                probe["layer"],
                probe["key"],
                f"[{style}]{shown}[/]",
                escape(path_cell(probe)),
                "-" if latency is None else f"{latency:.0f}",
                escape(message),
            )
        console.print(table)
        facts = [f for f in cycle["failures"] if f["status"] is None]
        for fact in facts:
            console.print(f"fact {fact['key']}: {fact['classification']}")
    if (resources := data["resources"]) is not None:
        for line in resources_lines(resources):
            console.print(escape(line))
    for finding in data["findings"]:
        console.print(f"[yellow]host:[/] {escape(finding)}")
    if (worker := data.get("worker")) is not None:
        console.print(escape(worker_line(worker)))
    for warning in data["warnings"]:
        console.print(f"[yellow]warning:[/] {escape(warning)}")


def run_hold_clear(wait: float) -> int:
    """0: cleared, or no hold to clear; 1: a running daemon did not confirm in ``wait`` s."""
    return ask_daemon_or(_clear_offline, "hold-clear", "clear the hold", wait)


def ask_daemon_or(
    offline: Callable[[StateStore], int],
    verb: str,
    what: str,
    wait: float,
    **args: Any,
) -> int:
    """An operator's command (F28): a running daemon applies it at its next cycle boundary
    and answers (1 when no answer came in ``wait`` s, or it refused); without one,
    ``offline`` changes the files itself, under the state lock a starting daemon takes."""
    from talon.daemon.commands import Inbox, asker
    from talon.daemon.lock import is_held

    identity = NodeIdentity.detect()
    store = StateStore(identity.state_dir)
    lock = identity.state_dir / "talon.lock"
    if not is_held(lock):
        with store.lock():  # a daemon starting now loads the state under this lock
            if not is_held(lock):
                return offline(store)
    inbox = Inbox(identity.state_dir)
    command = inbox.submit(verb, asker(), **args)
    click.echo(f"asked the running daemon to {what} (command {command.id})")
    answer = inbox.wait(command.id, wait)
    if answer is None:
        click.echo(
            f"not confirmed within {wait:g}s: the daemon applies it at its next cycle "
            "boundary (a long heal may be running); `talon status` shows when",
            err=True,
        )
        return 1
    click.echo(str(answer.get("said")), err=not answer.get("ok"))
    return 0 if answer.get("ok") else 1


def _clear_offline(store: StateStore) -> int:
    """No daemon runs: clear the hold in the files; the next daemon sends the notice."""
    clock = Clock()
    loaded = store.load(clock)
    if loaded.state.hold is None and not loaded.state.held_heals:
        click.echo("no hold is active")
        return 0
    done = clear_hold(loaded.state, clock.now())
    journal = store.journal()
    for action in done.actions:  # the next daemon sends them (it reads queued entries)
        journal.queue(action, clock.wall())
    store.save(done.state, clock)
    node = done.state.node
    click.echo(
        f"hold cleared (no daemon runs); node is {node.value}"
        + ("" if node is NodeState.HEALTHY else " and healing may resume")
    )
    return 0
