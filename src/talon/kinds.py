"""Which builder stands behind each configured kind: a registry of entry points.

Runtimes register under the entry-point group ``talon.runtimes``, process
managers under ``talon.process_managers`` (see pyproject.toml): Talon's own
adapters, and the lab, which registers its stand-ins the same way any plug-in
would. Nothing here names a platform or the lab, and nothing here imports
config or an adapter: the config validates a kind's name with this module,
the adapters' factories load a kind's builder with it, and neither imports the
other. A builder takes plain values (a section of the config as a dict, the
children's environment, a timeout) and is imported only when its kind is built.

In ``talon.process_managers`` the entry named ``auto`` is not a manager but
the detector that tells which manager ``auto`` stands for on this host.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, cast

RUNTIME_GROUP = "talon.runtimes"
PROCESS_MANAGER_GROUP = "talon.process_managers"
AUTO = "auto"

# Probe kinds that ask the runtime (or its engine) and share its default timeout.
RUNTIME_PROBE_KINDS = ("runtime", "container")


class UnknownKind(LookupError):
    """No builder is registered under this kind (a typo, or a plug-in not installed)."""


@functools.cache
def _registered(group: str) -> dict[str, str]:
    from importlib.metadata import entry_points

    return {entry.name: entry.value for entry in entry_points(group=group)}


def runtime_kinds() -> tuple[str, ...]:
    return tuple(sorted(_registered(RUNTIME_GROUP)))


def process_manager_kinds() -> tuple[str, ...]:
    """Every kind ``[process_manager] kind`` accepts, ``auto`` included."""
    return tuple(sorted(_registered(PROCESS_MANAGER_GROUP)))


def builder(group: str, kind: str) -> Callable[..., Any]:
    """The builder registered for ``kind`` in ``group``, imported now."""
    import importlib

    target = _registered(group).get(kind)
    if target is None:
        known = ", ".join(sorted(_registered(group)))
        raise UnknownKind(f"unknown kind {kind!r}: use one of {known}")
    module, _, attr = target.partition(":")
    return cast(Callable[..., Any], getattr(importlib.import_module(module), attr.strip()))


def detect_process_manager(settings: Mapping[str, Any], env: Mapping[str, str]) -> str:
    """The process-manager kind ``settings`` names, or the one ``auto`` finds on this host."""
    kind = str(settings.get("kind", AUTO))
    if kind != AUTO:
        return kind
    return str(builder(PROCESS_MANAGER_GROUP, AUTO)(settings, env))
