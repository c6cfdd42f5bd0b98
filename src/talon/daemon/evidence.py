"""What an evidence capture keeps (R25, principle 6): the snapshot of one moment.

Probe history around the fault, every path's outcome, the classification and
the hypothesis it points to, runtime facts, configured command outputs, log
tails, and for AOF damage the read-only ``redis-check-aof`` report (R27).
Each part is bounded and a failing part is recorded as such; a capture never
fails as a whole because one source did.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from talon.core import Action
from talon.core.policy import REPAIR_HINTS
from talon.daemon.view import CycleView
from talon.daemon.wiring import Wiring
from talon.evidence.collect import aof_evidence, command_outputs, log_tail
from talon.faults import Fault
from talon.node import expand_path

PART_TIMEOUT_S = 20.0


async def _bounded(coro: Any, what: str) -> Any:
    try:
        async with asyncio.timeout(PART_TIMEOUT_S):
            return await coro
    except Exception as exc:
        return {"error": f"{what}: {type(exc).__name__}: {exc}"}


async def snapshot(
    action: Action, view: CycleView, w: Wiring, *, own_log: Path | None
) -> dict[str, Any]:
    config = w.loaded.config
    state = view.state
    incident = state.incident
    faults = set(incident.faults) if incident else set()
    report = view.report
    out: dict[str, Any] = {
        "moment": action.reason,
        "node": w.loaded.identity.as_dict(),
        "state": state.node.value,
        "signal": state.signal.value,
        "incident": None
        if incident is None
        else {
            "id": incident.id,
            "root_cause": incident.root_cause and incident.root_cause.value,
            "faults": sorted(f.value for f in faults),
            "attempts": incident.attempts,
        },
        "classification": [
            {"probe": p, "fault": f.value, "explained": e} for p, f, e in state.last_faults
        ],
        "hypotheses": {f.value: REPAIR_HINTS[f] for f in faults if f in REPAIR_HINTS},
        "probes": [] if report is None else [r.as_dict() for r in report.results],
        "history": list(view.history),
    }
    parts: dict[str, Any] = {
        "runtime": _bounded(w.ctx.runtime.facts(), "runtime facts"),
        "commands": _bounded(
            command_outputs(config.evidence.commands, env=w.ctx.env, timeout=10.0), "commands"
        ),
    }
    if Fault.REDIS_AOF_CORRUPT in faults and config.evidence.redis_aof:
        aof = expand_path(config.evidence.redis_aof, w.ctx.env)
        parts["redis_aof"] = _bounded(aof_evidence(aof, env=w.ctx.env, timeout=8.0), "aof")
    values = await asyncio.gather(*parts.values())
    out.update(dict(zip(parts, values, strict=True)))
    out["logs"] = _tails(
        [*(expand_path(p, w.ctx.env) for p in config.evidence.log_files), *_own(own_log)],
        config.evidence.tail_lines,
    )
    return out


def _own(path: Path | None) -> Sequence[Path]:
    return [path] if path is not None else []


def _tails(paths: Sequence[Path], lines: int) -> dict[str, list[str]]:
    return {str(p): log_tail(p, lines) for p in paths}
