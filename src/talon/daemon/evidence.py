"""What an evidence capture keeps (R25, principle 6): the snapshot of one moment.

Probe history around the fault, every path's outcome, the classification and
its repair hints, runtime facts, configured command outputs, log
tails, and for AOF damage the read-only ``redis-check-aof`` report (R27).
Each part is bounded and a failing part is recorded as such; a capture never
fails as a whole because one source did.

A failed recovery or a recurrence also names the seed-004 hypothesis its facts
support (``talon.evidence.hypotheses``): the VM's boots, Talon's own recent
runtime actions (the journal's tail) and whether another healer held the lock
go into the snapshot for that.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from talon.clock import Clock
from talon.core import Action, CoreState
from talon.core.policy import REPAIR_HINTS
from talon.daemon.view import CycleView
from talon.daemon.wiring import Wiring
from talon.evidence.collect import aof_evidence, command_outputs, log_tail
from talon.evidence.healers import journal_actions
from talon.evidence.hypotheses import Hypothesis, hypothesize, unclassified
from talon.faults import Fault
from talon.node import expand_path

PART_TIMEOUT_S = 20.0
# The notices that name a hypothesis (keys from talon.core.verify and the breaker, F29).
HYPOTHESIS_NOTICES = ("notify:failed-recovery-", "notify:recurrence")


async def _bounded(coro: Any, what: str) -> Any:
    try:
        async with asyncio.timeout(PART_TIMEOUT_S):
            return await coro
    except Exception as exc:
        return {"error": f"{what}: {type(exc).__name__}: {exc}"}


def tells_hypothesis(key: str) -> bool:
    """Does this notice name the hypothesis (a failed recovery, a recurrence)?"""
    return any(n in key for n in HYPOTHESIS_NOTICES)


def named_hypothesis(facts: Mapping[str, Any]) -> Hypothesis:
    """``hypothesize``, which never raises; should a bug make it, the notice still goes out."""
    try:
        return hypothesize(facts)
    except Exception as exc:
        return unclassified(f"the facts could not be weighed: {type(exc).__name__}: {exc}")


def base_facts(view: CycleView, clock: Clock, journal: Path | None) -> dict[str, Any]:
    """What needs no call to the runtime: the probes, the core's reading, the journal."""
    state = view.state
    return {
        "classification": [
            {"probe": p, "fault": f.value, "explained": e} for p, f, e in state.last_faults
        ],
        "probes": [] if view.report is None else [r.as_dict() for r in view.report.results],
        "boots": _boots(state, clock.now()),
        "healers": _healers(state, journal, clock.wall()),
    }


def _boots(state: CoreState, now: float) -> dict[str, Any]:
    boot_at = state.runtime_boot_at
    uptime = None if boot_at is None else round(now - boot_at, 1)
    return {"vm_uptime_s": uptime, "short_boots": state.short_boots}


def _healers(state: CoreState, journal: Path | None, wall: float) -> dict[str, Any]:
    actions = journal_actions(journal, wall) if journal is not None else []
    return {"others_busy": state.others_busy, "actions": actions}


async def snapshot(
    action: Action,
    view: CycleView,
    w: Wiring,
    *,
    own_log: Path | None,
    clock: Clock,
    journal: Path | None = None,
) -> dict[str, Any]:
    config = w.loaded.config
    state = view.state
    incident = state.incident
    faults = set(incident.faults) if incident else set()
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
        **base_facts(view, clock, journal),
        "hypotheses": {f.value: REPAIR_HINTS[f] for f in faults if f in REPAIR_HINTS},
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
