"""Probes: kinds, the endpoint resolver and the concurrent runner."""

from talon.probes.context import ProbeContext
from talon.probes.runner import run_cycle
from talon.report import (
    CycleReport,
    ErrorKind,
    Observation,
    PathOutcome,
    ProbeResult,
    Status,
)

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
