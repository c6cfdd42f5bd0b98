"""The original Rust Talon's command line: ``talon --check`` and ``talon --status``.

Its people run ``talon`` (the daemon) under their service manager, and scripts
read ``--check`` and ``--status``: these print the original's JSON shapes, made
from Talon's own cycle and state (``talon check --json`` and ``talon status
--json`` keep Talon's richer schemas).

- ``--check``: one cycle; a JSON array ``[{name, passed, output, duration_ms}]``,
  exit 0 whatever the probes said (an invalid config still exits 2).
- ``--status``: the original's ``state.json`` shape: ``{current_state,
  consecutive_failures, last_heal_time, last_agent_time, last_sos_time,
  last_probe_results, worker_restarts}``, exit 0.

Probe names are the original's ``kind:name`` (``http:worker``); states are
capitalised as the original wrote them (``Healthy``, ``SOS``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import click

from talon.config import LoadedConfig
from talon.core import ActionKind, CoreState, NodeState
from talon.core.model import HEALS
from talon.web.health import original_probe_name

AGENTS = frozenset({ActionKind.AGENT_CLOUD, ActionKind.AGENT_LOCAL})
STATE_NAMES = {NodeState.SOS: "SOS"}  # the rest: capitalised (Healthy, Degraded, ...)


def state_name(node: NodeState) -> str:
    """The node state as the original wrote it (Talon's own states the same way)."""
    return STATE_NAMES.get(node, node.value.capitalize())


def probe_results(report: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """A ``talon.check/v1`` report's probes as the original's results. ``passed`` is
    Talon's (ok on the path users take); skipped probes did not run and are left out."""
    return [
        {
            "name": original_probe_name(str(p["key"])),
            "passed": bool(p["passed"]),
            "output": str(p.get("message") or "ok"),
            "duration_ms": round(float(p.get("latency_ms") or 0.0)),
        }
        for p in (report.get("probes", []) if isinstance(report, Mapping) else [])
        if isinstance(p, dict) and p.get("status") != "skipped"
    ]


def _last(
    state: CoreState, kinds: Iterable[ActionKind], to_wall: Callable[[float], float]
) -> int | None:
    names = {k.value for k in kinds}
    times = [t for slot, t in state.last_action_at.items() if slot.split(":", 1)[0] in names]
    return round(to_wall(max(times))) if times else None


def status_doc(
    state: CoreState,
    report: Mapping[str, Any] | None,
    worker_restarts: int,
    to_wall: Callable[[float], float],
) -> dict[str, Any]:
    """The original's state.json, from Talon's state (times: unix seconds, or null)."""
    return {
        "current_state": state_name(state.node),
        "consecutive_failures": max(state.counters.values(), default=0),
        "last_heal_time": _last(state, HEALS, to_wall),
        "last_agent_time": _last(state, AGENTS, to_wall),
        "last_sos_time": _last(state, (ActionKind.SOS,), to_wall),
        "last_probe_results": probe_results(report),
        "worker_restarts": worker_restarts,
    }


async def _one_cycle(loaded: LoadedConfig) -> dict[str, Any]:
    from talon.probes import ProbeContext, run_cycle
    from talon.report import report_json

    ctx = ProbeContext.from_config(loaded.config, loaded.identity)
    try:
        report = await run_cycle(list(loaded.probes), ctx, bulkheads=loaded.config.bulkheads)
    finally:
        await ctx.aclose()
    return report_json(report)


def run_check(loaded: LoadedConfig) -> int:
    from talon.probes.aio import run as run_async

    report = run_async(_one_cycle(loaded), loaded.config.event_loop)
    click.echo(json.dumps(probe_results(report), indent=2))
    return 0


def run_status() -> int:
    from talon.clock import Clock
    from talon.node import NodeIdentity
    from talon.store import StateStore

    store = StateStore(NodeIdentity.detect().state_dir)
    clock = Clock()
    state = store.load(clock, quarantine=False).state
    restarts = _worker_restarts(store.dir / "daemon.json")
    doc = status_doc(state, store.last_report(), restarts, clock.to_wall)
    click.echo(json.dumps(doc, indent=2))
    return 0


def _worker_restarts(daemon_file: Path) -> int:
    """The worker's restarts as the running (or last) daemon reported them; 0 if none."""
    try:
        worker = json.loads(daemon_file.read_bytes()).get("worker") or {}
    except (OSError, ValueError, AttributeError):
        return 0
    restarts = worker.get("restarts") if isinstance(worker, dict) else None
    return restarts if isinstance(restarts, int) else 0
