"""``talon fleet targets``: the fleet as Prometheus ``file_sd`` JSON (see talon.fleet.sd).

Every peer is asked for its ``/health`` at once (each bounded, as in ``talon
fleet status``) only to learn what it says about itself; a peer that does not
answer keeps its entry with the labels the config gives it. Written
atomically, so Prometheus never reads half a file. Exit 0: written (or
printed). 1: the file could not be written. 2: an invalid config, or no peer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from talon.config import LoadedConfig


def run_fleet_targets(loaded: LoadedConfig, *, output: Path | None) -> int:
    from talon.cli.fleet import ask_fleet
    from talon.fleet import sd, view
    from talon.store.files import StoreError, atomic_write

    answers = ask_fleet(loaded, "no target to write")
    if answers is None:
        return 2
    identity = loaded.identity
    own = {"node_id": identity.node_id, "platform": identity.platform, "arch": identity.arch}
    text = json.dumps(sd.file_sd(answers, own), indent=2) + "\n"
    if output is None:
        click.echo(text, nl=False)
        return 0
    try:
        atomic_write(output, text.encode())
    except StoreError as exc:
        click.echo(f"error: {exc}", err=True)
        return 1
    down = [a.target.name for a in answers if not view.read_answer(a).reachable]
    note = f" ({len(down)} unreachable: {', '.join(down)})" if down else ""
    click.echo(f"wrote {len(answers)} targets to {output}{note}", err=True)
    return 0
