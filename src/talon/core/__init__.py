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
    HealRecord,
    Hold,
    Incident,
    NodeState,
    Pause,
    Report,
    Signal,
    Step,
    Verification,
)
from talon.core.operator import clear_hold, pause, resume
from talon.core.rebase import rebase
from talon.core.settings import CoreConfig, Healing, Platform, ProbePolicy
from talon.core.step import step

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
    "HealRecord",
    "Healing",
    "Hold",
    "Incident",
    "NodeState",
    "Pause",
    "Platform",
    "ProbePolicy",
    "Report",
    "Signal",
    "Step",
    "Verification",
    "clear_hold",
    "diagnose",
    "pause",
    "rebase",
    "resume",
    "step",
]
