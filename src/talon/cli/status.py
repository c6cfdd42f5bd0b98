"""``talon status`` and ``talon hold clear``: the persisted state, read and acted on."""

from __future__ import annotations

import json
import time
from typing import Any

import click

from talon.core import CoreState, NodeState, Signal, clear_hold
from talon.node import NodeIdentity
from talon.store import StateStore

SCHEMA = "talon.status/v1"
EXIT = {Signal.STABLE: 0, Signal.RECOVERING: 1, Signal.FAILED_RECOVERY: 2, Signal.DEGRADED_HOLD: 2}


def status_json(
    state: CoreState,
    report: dict[str, Any] | None,
    identity: NodeIdentity,
    now: float,
    warnings: list[str],
    daemon: dict[str, Any] | None = None,
) -> dict[str, Any]:
    incident = state.incident
    classified = {probe: (fault.value, explained) for probe, fault, explained in state.last_faults}
    failures = []
    for probe in (report or {}).get("probes", []):
        if probe["status"] in ("ok", "skipped") and probe["key"] not in classified:
            continue
        fault, explained = classified.get(probe["key"], (None, False))
        failures.append(
            {
                "key": probe["key"],
                "status": probe["status"],
                "error_kind": probe["error_kind"],
                "endpoint_class": probe["endpoint_class"],
                "message": probe["message"],
                "classification": fault,
                "explained": explained,
            }
        )
    failures += [
        {
            "key": key,
            "status": None,
            "error_kind": None,
            "endpoint_class": None,
            "message": "",
            "classification": fault.value,
            "explained": explained,
        }
        for key, fault, explained in state.last_faults
        if key.startswith("fact:") or key == "network"
    ]
    return {
        "schema": SCHEMA,
        "node": {"node_id": identity.node_id, "platform": identity.platform, "arch": identity.arch},
        "state": state.node.value,
        "signal": state.signal.value,
        "incident": None if incident is None else incident.as_dict(last=10),
        "hold": None
        if state.hold is None
        else {
            "reason": state.hold.reason.value,
            "since": state.hold.since,
            "until": state.hold.until,
            "remaining_s": max(0.0, state.hold.until - now),
        },
        "failed_recovery_at": state.failed_recovery_at,
        "verifying": state.verification is not None,
        "last_cycle": None
        if report is None
        else {
            "started_at": report.get("started_at"),
            "finished_at": report.get("finished_at"),
            "failures": failures,
        },
        "daemon": daemon,
        "warnings": warnings,
    }


def run_status(as_json: bool) -> int:
    identity = NodeIdentity.detect()
    store = StateStore(identity.state_dir)
    now = time.time()
    loaded = store.load(now, quarantine=False)
    daemon = _daemon(store)
    warnings = [loaded.warning] if loaded.warning else []
    if daemon and daemon.get("config_error"):
        warnings.append(f"the running daemon rejected a config change: {daemon['config_error']}")
    data = status_json(loaded.state, store.last_report(), identity, now, warnings, daemon)
    data["worker"] = (daemon or {}).get("worker") or _worker_only(store)
    if as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        _print(data)
    return EXIT[loaded.state.signal]


def _daemon(store: StateStore) -> dict[str, Any] | None:
    """What the running (or last) `talon run` wrote about itself."""
    try:
        data: dict[str, Any] = json.loads((store.dir / "daemon.json").read_bytes())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return data


def _worker_only(store: StateStore) -> dict[str, Any] | None:
    """The status a running ``talon run --worker-only`` keeps, when no full daemon reports it."""
    from talon.daemon.lock import is_held

    if not is_held(store.dir / "worker.lock"):
        return None
    try:
        data: dict[str, Any] = json.loads((store.dir / "worker.json").read_bytes())
    except (FileNotFoundError, json.JSONDecodeError):
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
    if worker.get("supervised_by") and worker["supervised_by"] != "this instance":
        parts.append(f"by {worker['supervised_by']}")
    return ", ".join(parts)


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
    cycle = data["last_cycle"]
    if cycle and cycle["failures"]:
        table = Table(title="last cycle's failures")
        for column in ("probe", "status", "classification", "path", "message"):
            table.add_column(column, overflow="fold")
        for f in cycle["failures"]:
            cls = (f["classification"] or "-") + (" (explained)" if f["explained"] else "")
            table.add_row(
                f["key"], f["status"] or "-", cls, f["endpoint_class"] or "-", escape(f["message"])
            )
        console.print(table)
    elif cycle is None:
        console.print("no cycle recorded yet")
    if (worker := data.get("worker")) is not None:
        console.print(escape(worker_line(worker)))
    for warning in data["warnings"]:
        console.print(f"[yellow]warning:[/] {escape(warning)}")


def run_hold_clear() -> int:
    identity = NodeIdentity.detect()
    store = StateStore(identity.state_dir)
    now = time.time()
    with store.lock():
        loaded = store.load(now)
        if loaded.state.hold is None:
            click.echo("no hold is active")
            return 0
        state, actions = clear_hold(loaded.state, now)
        journal = store.journal()
        for action in actions:  # the running daemon sends them (it reads queued entries)
            journal.queue(action, now)
        store.save(state)
    click.echo(
        f"hold cleared; node is {state.node.value}"
        + ("" if state.node is NodeState.HEALTHY else " and healing may resume")
    )
    return 0
