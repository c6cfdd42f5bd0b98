"""``talon validate`` and ``talon config``: what Talon would run, without running it."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import click

from talon.config import LoadedConfig, load
from talon.errors import ConfigError
from talon.node import NodeIdentity
from talon.redact import redact_config


def summary(loaded: LoadedConfig) -> dict[str, Any]:
    from talon.actions.sos import host_warnings
    from talon.config.builtins import builtin_keys

    kinds = Counter(p.kind for p in loaded.probes)
    # Keys valid anywhere that this host cannot honour (the SOS and notify ones).
    on_host = host_warnings(loaded.config, loaded.identity, os.environ)
    return {
        "ok": True,
        # the original Rust Talon's keys, for what reads them (`talon validate` there)
        "config_path": str(loaded.config_path),
        "services_path": str(loaded.services_path),
        "http_probe_count": kinds["http"],
        "launchd_probe_count": kinds["service"] + kinds["launchd"] + kinds["systemd"],
        # the original's built-in VM witnesses were not script probes there
        "script_probe_count": sum(
            p.kind == "script" and p.key not in builtin_keys() for p in loaded.probes
        ),
        "files": {"config": str(loaded.config_path), "services": str(loaded.services_path)},
        "node": loaded.identity.as_dict(),
        "check_interval_secs": loaded.config.check_interval_secs,
        "probes": {
            "total": len(loaded.probes),
            "enabled": sum(p.enabled for p in loaded.probes),
            "critical": sum(p.critical for p in loaded.probes),
            "by_kind": dict(sorted(kinds.items())),
        },
        "warnings": redact_config([*loaded.warnings, *on_host]),
        "errors": [],
    }


def run_validate(config: Path | None, *, allow_insecure: bool) -> int:
    identity = NodeIdentity.detect()
    try:
        loaded = load(config, identity=identity, allow_insecure=allow_insecure)
    except ConfigError as exc:
        click.echo(
            json.dumps(
                {"ok": False, "warnings": [], "errors": [p.as_dict() for p in exc.problems]},
                indent=2,
            )
        )
        for problem in exc.problems:
            click.echo(f"error: {problem.render()}", err=True)
        return 1
    click.echo(json.dumps(summary(loaded), indent=2))
    return 0


def effective_config(loaded: LoadedConfig) -> str:
    """The config as Talon reads it, every secret in a URL, a command or a value masked
    (references like ``env:NAME`` stay: they name where a secret lives)."""
    data = loaded.config.model_dump(mode="json", by_alias=True)
    data["services"] = [p.model_dump(mode="json", by_alias=True) for p in loaded.probes]
    data["_files"] = {"config": str(loaded.config_path), "services": str(loaded.services_path)}
    data["_node"] = loaded.identity.as_dict()
    return json.dumps(redact_config(data), indent=2)
