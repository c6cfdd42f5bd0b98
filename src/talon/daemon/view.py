"""What the cycle that emitted an action saw: for evidence and the agent's prompt."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from talon.core import CoreState
from talon.report import CycleReport


@dataclass(frozen=True)
class CycleView:
    state: CoreState
    report: CycleReport | None
    history: tuple[dict[str, Any], ...] = ()
