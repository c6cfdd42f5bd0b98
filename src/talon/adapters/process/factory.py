"""Build the configured ProcessManager from plain values, or detect the host's.

Detection (``kind = "auto"``, registered as the ``auto`` entry of the
``talon.process_managers`` group), first match wins:

1. ``supervisord_url`` is set: supervisord (the operator named its socket).
2. macOS with ``launchctl`` on the children's PATH: launchd.
3. systemd is PID 1 (``/run/systemd/system`` exists, systemd's own test) and
   ``systemctl`` is on PATH: systemd.
4. otherwise: null (Talon supervises its worker itself and restarts nothing else).

Each builder takes ``[process_manager]`` as a plain dict
(``ProcessManagerConfig.model_dump()``), the children's environment, the call
timeout and the runtime already built (a stand-in manager may serve the
runtime's services); a kind's module is imported only when it is built.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from talon.adapters.process.base import ProcessManager
from talon.adapters.process.null import NullProcessManager
from talon.errors import AdapterUnavailable
from talon.kinds import AUTO, PROCESS_MANAGER_GROUP, UnknownKind, builder

SYSTEMD_RUNNING = Path("/run/systemd/system")

Settings = Mapping[str, Any]
Env = Mapping[str, str]


def detect_kind(
    settings: Settings,
    env: Env,
    *,
    platform: str = sys.platform,
    systemd_marker: Path = SYSTEMD_RUNNING,
) -> str:
    """The kind ``auto`` stands for on this host (see the module docstring)."""
    kind = str(settings.get("kind") or AUTO)
    if kind != AUTO:
        return kind
    path = env.get("PATH", "")
    if settings.get("supervisord_url"):
        return "supervisord"
    if platform == "darwin" and shutil.which("launchctl", path=path):
        return "launchd"
    if systemd_marker.is_dir() and shutil.which("systemctl", path=path):
        return "systemd"
    return "null"


def null(settings: Settings, env: Env, *, timeout_s: float, runtime: object) -> ProcessManager:
    return NullProcessManager()


def launchd(settings: Settings, env: Env, *, timeout_s: float, runtime: object) -> ProcessManager:
    from talon.adapters.process.launchd import LaunchdProcessManager

    domain, uid = str(settings.get("launchd_domain") or AUTO), settings.get("launchd_uid")
    return LaunchdProcessManager(env, domain=domain, uid=uid, timeout_s=timeout_s)


def systemd(settings: Settings, env: Env, *, timeout_s: float, runtime: object) -> ProcessManager:
    from talon.adapters.process.systemd import SystemdProcessManager

    scope = str(settings.get("systemd_scope") or AUTO)
    return SystemdProcessManager(env, scope=scope, timeout_s=timeout_s)


def supervisord(
    settings: Settings, env: Env, *, timeout_s: float, runtime: object
) -> ProcessManager:
    from talon.adapters.process.supervisord import SupervisordProcessManager

    return SupervisordProcessManager(
        env,
        url=str(settings.get("supervisord_url") or ""),
        conf_dir=str(settings.get("supervisord_conf_dir") or ""),
        timeout_s=timeout_s,
    )


def build_process_manager(
    settings: Settings,
    env: Env,
    *,
    runtime: object = None,
    platform: str = sys.platform,
    systemd_marker: Path = SYSTEMD_RUNNING,
) -> ProcessManager:
    """The adapter for ``[process_manager]`` (as a dict); ``env`` is the children's environment."""
    kind = detect_kind(settings, env, platform=platform, systemd_marker=systemd_marker)
    timeout_s = float(settings.get("timeout_secs") or 10)
    try:
        build = builder(PROCESS_MANAGER_GROUP, kind)
    except UnknownKind as exc:
        raise AdapterUnavailable(f"[process_manager] {exc}") from None
    return cast(ProcessManager, build(settings, env, timeout_s=timeout_s, runtime=runtime))
