"""The process-manager kinds a configuration may name; importing this costs nothing.

Each maps to the module and class that implements it, imported only when built.
"""

from __future__ import annotations

PROCESS_MANAGER_KINDS: dict[str, str] = {
    "null": "talon.adapters.process.null:NullProcessManager",
    "lab": "talon.lab.services:LabProcessManager",
    "launchd": "talon.adapters.process.launchd:LaunchdProcessManager",
    "systemd": "talon.adapters.process.systemd:SystemdProcessManager",
    "supervisord": "talon.adapters.process.supervisord:SupervisordProcessManager",
}
