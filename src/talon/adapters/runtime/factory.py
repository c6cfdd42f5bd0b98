"""Build the configured ContainerRuntime from plain values; a kind's module loads only when built.

The kind's builder comes from the registry (``talon.kinds``, entry points in
the ``talon.runtimes`` group). Each builder below takes ``[runtime]`` as a
plain dict (``RuntimeConfig.model_dump()``), the children's environment and
the probe timeout, so nothing here imports the config.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from talon.adapters.runtime.base import ContainerRuntime
from talon.adapters.runtime.null import NullRuntime, StaticRuntime
from talon.errors import AdapterUnavailable
from talon.kinds import RUNTIME_GROUP, UnknownKind, builder

Settings = Mapping[str, Any]
Env = Mapping[str, str]


def null(settings: Settings, env: Env, *, timeout_s: float) -> ContainerRuntime:
    return NullRuntime()


def static(settings: Settings, env: Env, *, timeout_s: float) -> ContainerRuntime:
    address = settings.get("vm_address")
    return StaticRuntime(str(address)) if address else NullRuntime()


def colima(settings: Settings, env: Env, *, timeout_s: float) -> ContainerRuntime:
    from talon.adapters.runtime.colima import ColimaRuntime

    return ColimaRuntime(
        env,
        profile=str(settings.get("profile") or "default"),
        socket=str(settings.get("socket") or ""),
        timeout_s=timeout_s,
    )


def lima(settings: Settings, env: Env, *, timeout_s: float) -> ContainerRuntime:
    from talon.adapters.runtime.lima import LimaRuntime

    return LimaRuntime(
        env,
        instance=str(settings.get("profile") or "default"),
        timeout_s=timeout_s,
        address=settings.get("vm_address"),
    )


def engine(settings: Settings, env: Env, *, timeout_s: float) -> ContainerRuntime:
    from talon.adapters.runtime.engine import EngineRuntime

    return cast(
        ContainerRuntime,
        EngineRuntime(env, socket=str(settings.get("socket") or ""), timeout_s=timeout_s),
    )


def remote(settings: Settings, env: Env, *, timeout_s: float) -> ContainerRuntime:
    from talon.adapters.runtime.remote import RemoteRuntime

    return RemoteRuntime(
        env,
        host=str(settings.get("remote_host") or ""),
        ssh_options=tuple(settings.get("ssh_options") or ()),
        timeout_s=timeout_s,
        address=settings.get("vm_address"),
    )


def build_runtime(settings: Settings, env: Env, *, timeout_s: float) -> ContainerRuntime:
    """The adapter for ``[runtime]`` (as a dict); ``env`` is the children's environment."""
    kind = str(settings.get("kind") or "null")
    try:
        build = builder(RUNTIME_GROUP, kind)
    except UnknownKind as exc:
        raise AdapterUnavailable(f"[runtime] {exc}") from None
    return cast(ContainerRuntime, build(settings, env, timeout_s=timeout_s))
