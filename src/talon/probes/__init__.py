"""Probes: kinds, the endpoint resolver and the concurrent runner."""

from talon.probes.context import ProbeContext
from talon.probes.result import (
    CycleReport,
    ErrorKind,
    Observation,
    PathOutcome,
    ProbeResult,
    Status,
)
from talon.probes.runner import run_cycle

__all__ = [
    "CycleReport",
    "ErrorKind",
    "Observation",
    "PathOutcome",
    "ProbeContext",
    "ProbeResult",
    "Status",
    "run_cycle",
]
