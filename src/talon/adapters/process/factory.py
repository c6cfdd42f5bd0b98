"""Build the configured ProcessManager, or detect the host's; a kind is imported only when built.

Detection (``kind = "auto"``), first match wins:

1. ``supervisord_url`` is set: supervisord (the operator named its socket).
2. macOS with ``launchctl`` on the children's PATH: launchd.
3. systemd is PID 1 (``/run/systemd/system`` exists, systemd's own test) and
   ``systemctl`` is on PATH: systemd.
4. otherwise: null (Talon supervises its worker itself and restarts nothing else).
"""

from __future__ import annotations

import importlib
import shutil
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from talon.adapters.process.base import ProcessManager
from talon.adapters.process.kinds import PROCESS_MANAGER_KINDS
from talon.adapters.process.null import NullProcessManager

if TYPE_CHECKING:
    from talon.config.models import ProcessManagerConfig

SYSTEMD_RUNNING = Path("/run/systemd/system")


def detect_kind(
    config: ProcessManagerConfig,
    env: Mapping[str, str],
    *,
    platform: str = sys.platform,
    systemd_marker: Path = SYSTEMD_RUNNING,
) -> str:
    """The kind ``auto`` stands for on this host (see the module docstring)."""
    if config.kind != "auto":
        return config.kind
    path = env.get("PATH", "")
    if config.supervisord_url:
        return "supervisord"
    if platform == "darwin" and shutil.which("launchctl", path=path):
        return "launchd"
    if systemd_marker.is_dir() and shutil.which("systemctl", path=path):
        return "systemd"
    return "null"


def _load(target: str) -> Callable[..., Any]:
    module, _, attr = target.partition(":")
    return cast(Callable[..., Any], getattr(importlib.import_module(module), attr))


def build_process_manager(
    config: ProcessManagerConfig,
    env: Mapping[str, str],
    *,
    lab_dir: Path | None = None,
    platform: str = sys.platform,
    systemd_marker: Path = SYSTEMD_RUNNING,
) -> ProcessManager:
    """The adapter for ``[process_manager]``; ``env`` is the children's environment."""
    kind = detect_kind(config, env, platform=platform, systemd_marker=systemd_marker)
    timeout_s = float(config.timeout_secs)
    if kind == "null":
        return NullProcessManager()
    if kind == "lab":
        return _load(PROCESS_MANAGER_KINDS["lab"])(lab_dir) if lab_dir else NullProcessManager()
    cls = _load(PROCESS_MANAGER_KINDS[kind])
    if kind == "launchd":
        return cast(
            ProcessManager,
            cls(env, domain=config.launchd_domain, uid=config.launchd_uid, timeout_s=timeout_s),
        )
    if kind == "systemd":
        return cast(ProcessManager, cls(env, scope=config.systemd_scope, timeout_s=timeout_s))
    return cast(
        ProcessManager,
        cls(
            env,
            url=config.supervisord_url,
            conf_dir=config.supervisord_conf_dir,
            timeout_s=timeout_s,
        ),
    )
