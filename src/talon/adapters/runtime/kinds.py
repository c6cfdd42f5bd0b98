"""The runtime kinds a configuration may name; importing this costs nothing.

Each maps to the module and class that implements it, imported only when built.
"""

from __future__ import annotations

RUNTIME_KINDS: dict[str, str] = {
    "null": "talon.adapters.runtime.null:NullRuntime",
    "static": "talon.adapters.runtime.null:StaticRuntime",
    "lab": "talon.lab.runtime:LabRuntime",
    "colima": "talon.adapters.runtime.colima:ColimaRuntime",
    "lima": "talon.adapters.runtime.lima:LimaRuntime",
    "docker": "talon.adapters.runtime.engine:EngineRuntime",
    "remote": "talon.adapters.runtime.remote:RemoteRuntime",
}
