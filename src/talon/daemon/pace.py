"""The loop's pace: how long it sleeps between cycles, and when a cycle is overdue."""

from __future__ import annotations

from collections.abc import Sequence

from talon.config.models import TalonConfig
from talon.config.probes import ProbeSpec
from talon.core import CoreState

SLACK_S = 15.0


def interval(config: TalonConfig, state: CoreState) -> float:
    """``check_interval_secs``, or ``durability_interval_secs`` while an incident is open
    and not held (verifying a heal, confirming a failure)."""
    fast = state.verification is not None or (state.incident is not None and state.hold is None)
    return float(config.healing.durability_interval_secs if fast else config.check_interval_secs)


def stale_after(
    config: TalonConfig, probes: Sequence[ProbeSpec], interval_s: float, healing: bool
) -> float:
    """Overdue after two intervals, the slowest probe and some slack, plus a running heal."""
    slowest = max((p.timeout_secs for p in probes), default=0.0)
    budget = 2 * interval_s + slowest + SLACK_S
    if healing:
        h = config.healing
        budget += max(
            h.force_cycle_timeout_secs,
            config.heal_timeout_secs,
            h.bridge_timeout_secs,
            h.restart_timeout_secs,
            h.rbac_timeout_secs,
        )
    return budget
