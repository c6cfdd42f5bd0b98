"""``talon fleet status``: every peer of ``[fleet]`` at a glance, as a table or JSON.

Exit 0: every peer answered, is fresh and stable. 1: a peer is recovering,
stale or unreachable. 2: a peer is in failed recovery or a degraded hold, or
there is no peer to ask (or the configuration is invalid).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from rich.console import Console

    from talon.config import LoadedConfig
    from talon.fleet.view import Answer, FleetView, PeerView


def ask_fleet(loaded: LoadedConfig, none: str) -> list[Answer] | None:
    """Every target's /health at once, each bounded; None (said, with the fix) when
    there is no target. ``none``: what there is no target for."""
    from talon.actions.secrets import Secrets
    from talon.adapters.command import exec_env
    from talon.fleet import fetch, view

    config = loaded.config
    health = config.health
    targets = view.targets(
        config.fleet,
        node_id=loaded.identity.node_id,
        health_enabled=health.enabled,
        health_bind=health.bind,
        health_token=health.token,
    )
    if not targets:
        click.echo(
            f"error: {none}: add [[fleet.peers]] tables (name, url) to "
            f"{loaded.config_path}, or enable [health] with [fleet] include_self = true",
            err=True,
        )
        return None
    secrets = Secrets(
        config.secrets, exec_env(config.exec.path, inherit_path=config.exec.inherit_path)
    )
    return asyncio.run(fetch.fetch_all(targets, secrets=secrets))


def run_fleet_status(loaded: LoadedConfig, *, as_json: bool) -> int:
    from talon.fleet import fetch, view

    config = loaded.config
    answers = ask_fleet(loaded, "no peer to ask")
    if answers is None:
        return 2
    fleet = view.fleet_view(answers, stale_after_s=config.fleet.stale_after_secs)
    if as_json:
        doc = view.as_json(
            fleet,
            now=time.time(),
            asked_by=loaded.identity.node_id,
            timeout_s=fetch.bound([a.target for a in answers]),
        )
        click.echo(json.dumps(doc, indent=2))
    else:
        print_fleet(fleet)
    return fleet.exit_code


_SIGNAL_STYLE = {
    "stable": "green",
    "recovering": "yellow",
    "degraded hold": "bold red",
    "failed recovery": "bold red",
}


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 120:
        return f"{value:.0f}s"
    return f"{value / 60:.0f}m" if value < 7200 else f"{value / 3600:.1f}h"


def _rate(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.0%}"


def _row(peer: PeerView) -> list[str]:
    from rich.markup import escape

    name = escape(peer.name) + (" (self)" if peer.is_self else "")
    if not peer.reachable:
        return [name, f"[bold red]no: {peer.error}[/]", "-", "-", "-", "-", "-", "-", "-"]
    signal = peer.signal or "-"
    style = _SIGNAL_STYLE.get(signal, "magenta")
    probes = f"{_rate(peer.pass_rate)} ({peer.passed}/{peer.counted}" + (
        f", {peer.degraded} degraded)" if peer.degraded else ")"
    )
    stale = "[yellow]stale[/]" if peer.stale else "fresh"
    hold = "-" if peer.hold_reason is None else f"{_seconds(peer.hold_remaining_s)} left"
    incident = "-" if peer.incident_id is None else escape(peer.incident_id)
    if peer.root_cause:
        incident += f" ({escape(peer.root_cause)})"
    return [
        name,
        f"yes ({peer.elapsed_s * 1000:.0f} ms)",
        escape(peer.state or "-"),
        f"[{style}]{escape(signal)}[/]",
        probes,
        _seconds(peer.last_cycle_age_s),
        stale,
        hold,
        incident,
    ]


def print_fleet(fleet: FleetView, console: Console | None = None) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = console or Console()
    table = Table(title="talon fleet status")
    columns = ("peer", "reachable", "state", "signal", "pass rate", "last cycle", "stale", "hold")
    for column in (*columns, "incident"):
        table.add_column(column, overflow="fold")
    for peer in fleet.peers:
        table.add_row(*_row(peer))
    console.print(table)
    for peer in fleet.peers:  # the why, below the table: it does not fit a narrow column
        if not peer.reachable:
            console.print(f"[bold red]{escape(peer.name)}[/]: {peer.error}: {escape(peer.detail)}")
        elif peer.stale:
            console.print(f"[yellow]{escape(peer.name)}[/]: stale: {escape(peer.stale_why or '')}")
    reachable = len(fleet.peers) - len(fleet.unreachable)
    worst = fleet.worst_signal or "unknown"
    style = _SIGNAL_STYLE.get(worst, "magenta")
    parts = [f"{len(fleet.peers)} peers: {reachable} reachable"]
    if fleet.unreachable:
        parts.append(f"[bold red]{len(fleet.unreachable)} unreachable[/]")
    if fleet.stale:
        parts.append(f"[yellow]{len(fleet.stale)} stale[/]")
    degraded = f", {fleet.degraded} degraded" if fleet.degraded else ""
    console.print(
        ", ".join(parts)
        + f" — worst signal: [{style}]{worst}[/]"
        + (f" ({escape(', '.join(fleet.worst_peers))})" if fleet.worst_peers else "")
        + f" — probes passed: {_rate(fleet.pass_rate)} ({fleet.passed}/{fleet.counted}{degraded})"
        + f" — exit {fleet.exit_code}"
    )
