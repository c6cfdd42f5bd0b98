"""``talon incidents`` and ``talon incidents show ID``: what happened, and why Talon acted."""

from __future__ import annotations

import datetime
import json
from typing import Any

import click

from talon.clock import Clock
from talon.core import Incident
from talon.evidence.bundle import Bundles
from talon.node import NodeIdentity
from talon.store import StateStore
from talon.store.lines import lines_warning

LIST_SCHEMA = "talon.incidents/v1"
SHOW_SCHEMA = "talon.incident/v1"


def _summary(incident: Incident, open_: bool) -> dict[str, Any]:
    return {**incident.summary(), "open": open_}


def _known(store: StateStore) -> dict[str, tuple[Incident, bool]]:
    found: dict[str, tuple[Incident, bool]] = {i.id: (i, False) for i in store.closed_incidents()}
    state = store.load(Clock(), quarantine=False).state
    if state.incident is not None:
        found[state.incident.id] = (state.incident, True)
    return found


def incidents_json(store: StateStore, bundles: Bundles) -> dict[str, Any]:
    known = _known(store)
    rows = {id_: _summary(i, o) for id_, (i, o) in known.items()}
    for b in bundles.list():
        row = rows.setdefault(
            b.incident_id,
            {
                "id": b.incident_id,
                "open": b.closed_at is None,
                "opened_at": b.opened_at,
                "closed_at": b.closed_at,
                "outcome": b.outcome,
                "root_cause": b.root_cause,
                "faults": [],
                "healed": None,
                "attempts": {},
            },
        )
        row["evidence"] = b.evidence_count
        row["actions"] = b.action_count
        row["bundle"] = str(bundles.bundle(b.incident_id).path)
    ordered = sorted(rows.values(), key=lambda r: r["opened_at"] or 0, reverse=True)
    return {"schema": LIST_SCHEMA, "incidents": ordered}


def incident_json(store: StateStore, bundles: Bundles, incident_id: str) -> dict[str, Any] | None:
    known = _known(store)
    bundle = bundles.bundle(incident_id)
    meta = bundle.meta()
    if incident_id not in known and meta is None:
        return None
    summary = _summary(*known[incident_id]) if incident_id in known else {**(meta or {})}
    summary["id"] = incident_id
    timeline = bundle.timeline()
    if not timeline and incident_id in known:  # no bundle (written by an older Talon)
        timeline = [{"kind": "decision", **d.as_dict()} for d in known[incident_id][0].trail]
    return {
        "schema": SHOW_SCHEMA,
        "incident": summary,
        "bundle": str(bundle.path),
        "timeline": timeline,
        "journal": store.journal().for_incident(incident_id),
        "evidence": [
            {"file": name, "moment": data.get("moment"), "hypothesis": data.get("hypothesis")}
            for name, data in bundle.evidence()
        ],
    }


def _open_store() -> tuple[StateStore, Bundles]:
    identity = NodeIdentity.detect()
    return StateStore(identity.state_dir), Bundles(identity.state_dir / "incidents")


def _warn_damaged(store: StateStore) -> None:
    """Damaged lines of incidents.jsonl are skipped; say so on stderr (F25)."""
    read = store.incidents_read()
    if read.error is not None:
        click.echo(f"warning: {store.incidents_path} is unreadable ({read.error})", err=True)
    elif read.damaged:
        click.echo(f"warning: {lines_warning(store.incidents_path, read, 'not shown')}", err=True)


def run_list(as_json: bool) -> int:
    store, bundles = _open_store()
    _warn_damaged(store)
    data = incidents_json(store, bundles)
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title="incidents")
    for column in ("id", "opened", "root cause", "outcome", "evidence", "actions"):
        table.add_column(column)
    for r in data["incidents"]:
        table.add_row(
            r["id"],
            _clock(r["opened_at"]),
            r["root_cause"] or "-",
            "open" if r["open"] else (r["outcome"] or "-"),
            str(r.get("evidence", 0)),
            str(r.get("actions", 0)),
        )
    Console().print(table if data["incidents"] else "no incidents")
    return 0


def run_show(incident_id: str, as_json: bool) -> int:
    store, bundles = _open_store()
    _warn_damaged(store)
    try:
        data = incident_json(store, bundles, incident_id)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if data is None:
        click.echo(f"error: no incident {incident_id!r}; `talon incidents` lists them", err=True)
        return 1
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
        return 0
    for line in timeline_lines(data):
        click.echo(line)
    return 0


def timeline_lines(data: dict[str, Any]) -> list[str]:
    i = data["incident"]
    state = "open" if i.get("open") else f"closed: {i.get('outcome')}"
    faults = i.get("faults")
    faults = ", ".join(map(str, faults)) if isinstance(faults, list) else _text(faults)
    lines = [
        f"incident {i['id']} ({state}) — root cause {i.get('root_cause') or '-'}; "
        f"faults {faults or '-'}",
        f"evidence bundle: {data['bundle']}",
        "",
    ]
    for e in data["timeline"]:
        lines.append(f"{_clock(e.get('at'))}  {_describe(e)}")
    return lines


def _text(value: Any) -> str:
    return "-" if value is None else str(value)


def _describe(e: dict[str, Any]) -> str:
    kind = e.get("kind")
    if kind == "decision":
        said = _text(e.get("outcome"))
        verb = {"acted": "ACTED", "blocked": "BLOCKED"}.get(said, said)
        return f"{verb:<8} [{e.get('rule')}] {e.get('reason')}"
    if kind == "state":
        return f"STATE    {e.get('before')} → {e.get('after')}"
    if kind in ("action.begin", "action.shadow"):
        tag = "WOULD" if kind == "action.shadow" else "RUN"
        return f"{tag:<8} {e.get('action')} {e.get('target') or ''} — {e.get('reason')}"
    if kind == "action.end":
        outcome = str(e.get("outcome")).upper()
        return f"{outcome:<8} {e.get('action')}: {e.get('detail')} ({e.get('duration_s')}s)"
    if kind == "action.interrupted":
        return f"INTERRUPTED {e.get('key')}: {e.get('detail')}"
    if kind == "evidence":
        return f"EVIDENCE {e.get('moment') or ''} {e.get('file') or ''}"
    if kind == "hypothesis":  # seed 004's, named by a failed recovery's evidence
        return f"HYPOTHESIS {e.get('name')} — {e.get('why')}"
    rest = {k: v for k, v in e.items() if k not in ("kind", "at")}
    return f"{str(kind).upper():<8} {json.dumps(rest, default=str)}"


def _clock(at: Any) -> str:
    if not isinstance(at, int | float):
        return "--:--:--"
    try:
        return datetime.datetime.fromtimestamp(at).strftime("%Y-%m-%d %H:%M:%S")
    except (ValueError, OverflowError, OSError):  # a damaged record's time
        return "--:--:--"
