"""What a platform can do for Talon: the vocabulary adapters declare and the core reads.

Stdlib only, so the adapters and the pure core can both import it. An adapter
declares its capabilities as plain data (a class attribute); the wiring
hands the set to the core, which chooses heals from it (DESIGN.md principle 8).
A declaration can be wrong: a heal the platform refuses at run time comes
back as a ``refused`` outcome and the core moves to the next heal.
"""

from __future__ import annotations

import enum


class Capability(enum.StrEnum):
    RESTART_FORWARDING = "restart_forwarding"  # the bridge alone, the VM left running
    FORCE_CYCLE = "force_cycle"  # stop and start the VM (or runtime)
    RESTART_SERVICE = "restart_service"  # the process manager restarts a service
    RESTART_CONTAINER = "restart_container"  # the engine's API restarts one container
    VM_SHELL = "vm_shell"  # run a command inside the VM (witnesses, in_vm scripts)
    UPTIME = "uptime"  # the VM's uptime (crash-loop detection, F11)


ALL = frozenset(Capability)
NONE: frozenset[Capability] = frozenset()
