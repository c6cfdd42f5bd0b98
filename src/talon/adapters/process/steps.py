"""The commands ``enable`` and ``disable`` run, spelled out for `talon install --print`.

A description for a human, kept beside the adapters it describes: the
adapters themselves are the truth (tests compare these lines with what the
fake tools were really called with). A manager not listed here is described
in words only.
"""

from __future__ import annotations

import shlex

from talon.adapters.process.base import ServiceFile


def _systemctl(domain: str, *args: str) -> str:
    scope = ["--user"] if domain == "user" else []
    return shlex.join(["systemctl", *scope, *args])


def enable_commands(manager: str, file: ServiceFile, label: str) -> list[str]:
    """What ``enable(label, spec)`` runs after writing ``file``."""
    if manager == "systemd":
        unit = label if label.endswith(".service") else f"{label}.service"
        return [
            _systemctl(file.domain, "daemon-reload", "--no-ask-password"),
            _systemctl(file.domain, "enable", "--no-ask-password", "--now", unit),
        ]
    if manager == "launchd":
        target = f"{file.domain}/{label}"
        return [
            f"launchctl bootout {target}   (a copy already loaded, if any)",
            f"launchctl enable {target}",
            shlex.join(["launchctl", "bootstrap", file.domain, str(file.path)]),
            f"launchctl kickstart {target}",
        ]
    if manager == "supervisord":
        return [
            f"XML-RPC {file.domain}: supervisor.reloadConfig()",
            f"XML-RPC {file.domain}: supervisor.addProcessGroup({label!r})",
            f"XML-RPC {file.domain}: supervisor.startProcess({label!r}), then wait for RUNNING",
        ]
    return [f"{manager}: load {label!r} and start it"]


def disable_commands(manager: str, file: ServiceFile, label: str) -> list[str]:
    """What ``disable(label)`` runs; ``file`` is where ``enable`` would have put it."""
    if manager == "systemd":
        unit = label if label.endswith(".service") else f"{label}.service"
        return [
            _systemctl(file.domain, "disable", "--no-ask-password", "--now", unit),
            shlex.join(["rm", "-f", str(file.path)]),
            _systemctl(file.domain, "daemon-reload", "--no-ask-password"),
        ]
    if manager == "launchd":
        target = f"{file.domain}/{label}"
        return [
            f"launchctl bootout {target}",
            f"launchctl disable {target}",
            shlex.join(["rm", "-f", str(file.path)]),
        ]
    if manager == "supervisord":
        return [
            f"XML-RPC {file.domain}: supervisor.stopProcessGroup({label!r})",
            f"XML-RPC {file.domain}: supervisor.removeProcessGroup({label!r})",
            shlex.join(["rm", "-f", str(file.path)]),
            f"XML-RPC {file.domain}: supervisor.reloadConfig()",
        ]
    return [f"{manager}: stop {label!r}, unload it and remove {file.path}"]
