"""The decision core: pure functions of (state, report, outcomes, time, config) that
return actions as data.

Nothing in this package reads a clock, touches a file or a socket, or draws a
random number, and it imports neither the configuration nor pydantic (a test
checks the modules ``import talon.core`` loads); the daemon is a thin loop
around ``step``.
"""

from talon.core.diagnose import Diagnosis, diagnose
from talon.core.model import (
    Action,
    ActionKind,
    ActionOutcome,
    ActionStatus,
    Changes,
    CoreState,
    Decision,
    Facts,
    Finding,
    Hold,
    Incident,
    NodeState,
    Report,
    Signal,
    Step,
    Verification,
)
from talon.core.rebase import rebase
from talon.core.settings import CoreConfig, Healing, Platform, ProbePolicy
from talon.core.step import clear_hold, step

__all__ = [
    "Action",
    "ActionKind",
    "ActionOutcome",
    "ActionStatus",
    "Changes",
    "CoreConfig",
    "CoreState",
    "Decision",
    "Diagnosis",
    "Facts",
    "Finding",
    "Healing",
    "Hold",
    "Incident",
    "NodeState",
    "Platform",
    "ProbePolicy",
    "Report",
    "Signal",
    "Step",
    "Verification",
    "clear_hold",
    "diagnose",
    "rebase",
    "step",
]
