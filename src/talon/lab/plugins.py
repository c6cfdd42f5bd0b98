"""The lab registers its stand-ins as any plug-in would (entry points in pyproject.toml).

``[runtime] kind = "lab"`` and ``[process_manager] kind = "lab"`` are built
here, from plain values; the product's registries and factories do not know
the lab exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from talon.adapters.process.base import ProcessManager
from talon.adapters.process.null import NullProcessManager
from talon.adapters.runtime.base import ContainerRuntime
from talon.adapters.runtime.null import NullRuntime


def runtime(
    settings: Mapping[str, Any], env: Mapping[str, str], *, timeout_s: float
) -> ContainerRuntime:
    """The lab's VM at ``lab_dir`` (none configured: no VM to watch)."""
    from talon.lab.runtime import LabRuntime
    from talon.node import expand_path

    lab_dir = settings.get("lab_dir")
    if not lab_dir:
        return NullRuntime()
    profile = str(settings.get("profile") or "")
    return LabRuntime(expand_path(str(lab_dir), env), profile=profile, env=env, timeout_s=timeout_s)


def process_manager(
    settings: Mapping[str, Any], env: Mapping[str, str], *, timeout_s: float, runtime: object
) -> ProcessManager:
    """The lab VM's services: those of the lab runtime already built (none: nothing to serve)."""
    from talon.lab.runtime import LabRuntime
    from talon.lab.services import LabProcessManager

    if isinstance(runtime, LabRuntime):
        return LabProcessManager(runtime.lab.dir)
    return NullProcessManager()
