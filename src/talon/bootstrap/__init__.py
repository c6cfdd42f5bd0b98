"""Getting Talon onto a host: a starter configuration (`talon init`) and Talon as a
service of the host's process manager (`talon install`, `talon uninstall`).

What the host has is detected in ``talon.adapters.inventory``; this package only
ever sees neutral facts, so it names no platform tool.
"""

from talon.bootstrap.install import InstallPlan, install_plan, uninstall_plan
from talon.bootstrap.starter import StarterFiles, starter_config

__all__ = ["InstallPlan", "StarterFiles", "install_plan", "starter_config", "uninstall_plan"]
