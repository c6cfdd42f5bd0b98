"""Build the configured ContainerRuntime; a kind's module is imported only when chosen."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, cast

from talon.adapters.runtime.base import ContainerRuntime
from talon.adapters.runtime.kinds import RUNTIME_KINDS
from talon.adapters.runtime.null import NullRuntime, StaticRuntime
from talon.errors import AdapterUnavailable

if TYPE_CHECKING:
    from talon.config.models import ProbesConfig, RuntimeConfig

# Probe kinds that ask the runtime (or its engine) and share its default timeout.
RUNTIME_PROBE_KINDS = ("runtime", "container")


def probe_timeout_secs(probes: ProbesConfig) -> int:
    """Default timeout of the runtime-layer probes: the original format's VM-runtime key."""
    return probes.colima_timeout_secs


def _vm(config: RuntimeConfig, timeout_s: float) -> dict[str, Any]:
    return {"profile": config.profile, "socket": config.socket, "timeout_s": timeout_s}


def _lima(config: RuntimeConfig, timeout_s: float) -> dict[str, Any]:
    return {"instance": config.profile, "timeout_s": timeout_s, "address": config.vm_address}


def _engine(config: RuntimeConfig, timeout_s: float) -> dict[str, Any]:
    return {"socket": config.socket, "timeout_s": timeout_s}


def _remote(config: RuntimeConfig, timeout_s: float) -> dict[str, Any]:
    return {
        "host": config.remote_host,
        "ssh_options": tuple(config.ssh_options),
        "timeout_s": timeout_s,
        "address": config.vm_address,
    }


# kind -> the keyword arguments its class takes from [runtime]; every one also gets env.
_ARGUMENTS: dict[str, Callable[[RuntimeConfig, float], dict[str, Any]]] = {
    "colima": _vm,
    "lima": _lima,
    "docker": _engine,
    "remote": _remote,
}


def _load(target: str) -> Callable[..., Any]:
    module, _, attr = target.partition(":")
    return cast(Callable[..., Any], getattr(importlib.import_module(module), attr))


def build_runtime(
    config: RuntimeConfig, env: Mapping[str, str], *, timeout_s: float
) -> ContainerRuntime:
    """The adapter for ``[runtime]``; ``env`` is the children's environment (explicit PATH)."""
    kind = config.kind
    if kind == "null":
        return NullRuntime()
    if kind == "static":
        return StaticRuntime(config.vm_address) if config.vm_address else NullRuntime()
    if kind == "lab":
        if not config.lab_dir:
            return NullRuntime()
        from talon.lab.runtime import LabRuntime
        from talon.node import expand_path

        return LabRuntime(expand_path(config.lab_dir, env), profile=config.profile)
    if kind not in RUNTIME_KINDS or kind not in _ARGUMENTS:
        raise AdapterUnavailable(
            f"unknown runtime kind {kind!r}: use one of {', '.join(RUNTIME_KINDS)}"
        )
    cls = _load(RUNTIME_KINDS[kind])
    return cast(ContainerRuntime, cls(env, **_ARGUMENTS[kind](config, timeout_s)))
