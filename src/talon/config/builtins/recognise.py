"""Is this config in the original Rust Talon's format? Then it gets the original's built-ins.

The original gave its built-in probes to every config. Talon gives them to a
config that is the original's: config.toml holds only the original's keys
(``[stack]`` aside) and sets ``[probes] colima_timeout_secs`` (the timeout of the
original's built-in VM probe: every config.toml the original wrote has it), and
the services file has only the original's three kinds. Any other config asks by
name. Talon's own minimal configs (``examples/config.toml``) use only keys the
original had too; the VM-probe key is what tells them apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ORIGINAL_KEYS: Mapping[str, frozenset[str]] = {
    "": frozenset({"check_interval_secs", "heal_script", "heal_timeout_secs", "services_file"}),
    "worker": frozenset(
        {
            "dir",
            "command",
            "external_launchd_label",
            "port",
            "health_endpoint",
            "sync_endpoint",
            "log_stdout",
            "log_stderr",
            "env_file",
            "drain_timeout_secs",
            "health_interval_secs",
            "health_failures_before_restart",
            "restart_backoff_max_secs",
            "startup_sync_delay_secs",
            "http_timeout_secs",
        }
    ),
    "escalation": frozenset(
        {
            "agent_cooldown_secs",
            "sos_cooldown_secs",
            "sos_recipient",
            "sos_telegram_chat_id",
            "sos_telegram_secret_name",
            "critical_threshold_secs",
        }
    ),
    "agent": frozenset({"cloud_command", "local_command", "timeout_secs"}),
    "probes": frozenset(
        {
            "colima_timeout_secs",
            "k8s_timeout_secs",
            "service_timeout_secs",
            "critical_after_consecutive_failures",
            "consecutive_failures_before_escalate",
        }
    ),
    "health": frozenset({"enabled", "bind"}),
}
ORIGINAL_KINDS = frozenset({"http", "launchd", "script"})
MARKER = ("probes", "colima_timeout_secs")


def talon_only(config: Mapping[str, Any]) -> list[str]:
    """What in config.toml the original did not have (``[stack]`` aside)."""
    found: list[str] = []
    for key, value in config.items():
        if key == "stack":
            continue
        allowed = ORIGINAL_KEYS.get(key) if isinstance(value, dict) else None
        if isinstance(value, dict) and allowed is None:
            found.append(f"[{key}]")
        elif isinstance(value, dict) and allowed is not None:
            found += [f"{key}.{k}" for k in value if k not in allowed]
        elif key not in ORIGINAL_KEYS[""]:
            found.append(key)
    return found


def talon_kinds(services: Mapping[str, Any]) -> list[str]:
    """The services file's kinds the original did not have."""
    return [kind for kind in services if kind not in ORIGINAL_KINDS]


def marked(config: Mapping[str, Any]) -> bool:
    """config.toml sets the original's built-in VM probe's timeout."""
    section, key = MARKER
    table = config.get(section)
    return isinstance(table, dict) and key in table


def is_original(config: Mapping[str, Any], services: Mapping[str, Any]) -> bool:
    return marked(config) and not talon_only(config) and not talon_kinds(services)
