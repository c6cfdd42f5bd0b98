"""The lab's `talon run` driver, under the names the end-to-end tests use."""

from talon.lab.daemon import FAST, merged
from talon.lab.daemon import LabDaemon as TalonRun
from talon.lab.daemon import lab_daemon as talon_run

__all__ = ["FAST", "TalonRun", "merged", "talon_run"]
