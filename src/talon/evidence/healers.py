"""Talon's own recent runtime actions, from the journal's tail: facts for healer churn.

The journal (``journal.jsonl``) says when each action began and ended, on the wall
clock; the evidence keeps how long ago, so no reader has to know which clock it was.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from talon.core.model import CONTROL_PATH_HEALS
from talon.evidence.collect import log_tail

# The actions on the runtime's life: the VM, its bridge, its engine.
RUNTIME_ACTIONS = frozenset(k.value for k in CONTROL_PATH_HEALS)
TAIL_LINES = 400  # enough for the churn window; read from the file's end
KEPT = 20


def journal_actions(journal: Path, now: float) -> list[dict[str, Any]]:
    """The last runtime actions in ``journal`` (``now``: the wall clock); [] when unreadable."""
    return recent_runtime_actions(log_tail(journal, TAIL_LINES), now)[-KEPT:]


def recent_runtime_actions(lines: Iterable[str], now: float) -> list[dict[str, Any]]:
    """Talon's runtime actions in journal lines (``journal.jsonl``; ``at`` on the wall
    clock, like ``now``), oldest first, each with how long ago it began and ended."""
    actions: dict[str, dict[str, Any]] = {}
    for line in lines:
        try:
            entry = json.loads(line)
        except (ValueError, RecursionError):
            continue  # a torn line
        if not isinstance(entry, dict) or not isinstance(entry.get("key"), str):
            continue
        at = _at(entry.get("at"))
        event, key, kind = entry.get("event"), entry["key"], entry.get("kind")
        if (
            event == "begin"
            and isinstance(kind, str)
            and kind in RUNTIME_ACTIONS
            and at is not None
        ):
            actions[key] = {
                "kind": kind,
                "key": key,
                "outcome": None,
                "began_ago_s": round(now - at, 1),
                "ended_ago_s": None,
            }
        elif event in ("end", "interrupted") and key in actions:
            outcome = entry.get("outcome", "interrupted") if event == "end" else "interrupted"
            actions[key]["outcome"] = outcome if isinstance(outcome, str) else None
            actions[key]["ended_ago_s"] = None if at is None else round(now - at, 1)
    return list(actions.values())


def _at(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None
