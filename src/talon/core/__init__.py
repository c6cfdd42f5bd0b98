"""The decision core: pure functions of (state, report, time, config) that return actions as data.

Nothing in this package reads a clock, touches a file or a socket, or draws a
random number; the daemon is a thin loop around ``step``.
"""

from talon.core.diagnose import Diagnosis, diagnose
from talon.core.model import (
    Action,
    ActionKind,
    CoreState,
    Decision,
    Facts,
    Hold,
    Incident,
    NodeState,
    Report,
    Signal,
    Verification,
)
from talon.core.settings import CoreConfig, ProbePolicy, from_config
from talon.core.step import clear_hold, step

__all__ = [
    "Action",
    "ActionKind",
    "CoreConfig",
    "CoreState",
    "Decision",
    "Diagnosis",
    "Facts",
    "Hold",
    "Incident",
    "NodeState",
    "ProbePolicy",
    "Report",
    "Signal",
    "Verification",
    "clear_hold",
    "diagnose",
    "from_config",
    "step",
]
