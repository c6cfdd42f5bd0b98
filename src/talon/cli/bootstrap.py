"""`talon init`, `talon install`, `talon uninstall`: a host from nothing to a guarded node.

Every failure is one line on stderr and an exit code, never a traceback:
2 when the configuration or the missing process manager must be fixed first,
1 when the process manager (or the disk) said no.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import tomllib
from collections.abc import Mapping
from pathlib import Path

import click

from talon.adapters.command import exec_env
from talon.adapters.inventory import detect_inventory
from talon.adapters.process.base import ProcessManager
from talon.adapters.process.factory import build_process_manager, detect_kind
from talon.bootstrap import install as plans
from talon.bootstrap.starter import StarterFiles, starter_config
from talon.config.loader import default_config_path, load
from talon.config.models import TalonConfig
from talon.errors import ConfigError, TalonError
from talon.node import NodeIdentity
from talon.probes.context import children_env

HOST_MANAGERS = ("launchd", "systemd", "supervisord")
NO_MANAGER_FIX = (
    "fix: set [process_manager] kind in {path} to the host's process manager, or use a "
    'supervisord: kind = "supervisord" with supervisord_url and supervisord_conf_dir'
)


def _fail(message: str, code: int) -> int:
    click.echo(f"error: {message}", err=True)
    return code


def _found(lines: tuple[str, ...]) -> None:
    click.echo("Found on this host:")
    for line in lines:
        click.echo(f"  - {line}")


def _show(path: Path, text: str) -> None:
    click.echo(f"\n--- {path} ---")
    click.echo(text.rstrip("\n"))
    click.echo(f"--- end of {path.name} ---")


def _starter(identity: NodeIdentity) -> StarterFiles:
    inventory = detect_inventory(exec_env())
    _found(inventory.found)
    return starter_config(inventory, identity)


def run_init(config: Path | None, *, path: Path | None, print_only: bool, force: bool) -> int:
    """Write a starter config for this host; never over an existing one without --force."""
    identity = NodeIdentity.detect()
    target = (path or config or default_config_path(identity, os.environ)).absolute()
    files = _starter(identity)
    services = target.parent / files.services_name
    if print_only:
        _show(target, files.config)
        _show(services, files.services)
        click.echo("\nNothing was written (--print).")
        return 0
    existing = [p for p in (target, services) if p.exists()]
    if existing and not force:
        names = " and ".join(map(str, existing))
        one = len(existing) == 1
        return _fail(
            f"{names} already exist{'s' if one else ''}: not overwritten (fix: --force "
            f"replaces {'it' if one else 'them'}, --path writes elsewhere, --print shows the "
            "starter)",
            1,
        )
    try:
        plans.write_private(target, files.config)
        plans.write_private(services, files.services)
    except OSError as exc:
        return _fail(f"cannot write the configuration: {exc}", 1)
    click.echo(f"\nWrote {target} and {services}.")
    click.echo("Next: `talon validate`, `talon check`, then `talon install`.")
    return 0


def _manager(
    config: TalonConfig, config_path: Path, *, exists: bool
) -> tuple[ProcessManager, str] | int:
    env = children_env(config)
    settings = config.process_manager.model_dump()
    kind = detect_kind(settings, env)
    if kind not in HOST_MANAGERS:
        where = (
            str(config_path) if exists else f"the config (or run `talon init` first: {config_path})"
        )
        return _fail(
            f"no process manager to install Talon into ([process_manager] kind = "
            f"{config.process_manager.kind!r} resolves to {kind!r} here); "
            + NO_MANAGER_FIX.format(path=where),
            2,
        )
    return build_process_manager({**settings, "kind": kind}, env), kind  # detected once


def _load(
    config_path: Path, identity: NodeIdentity, allow_insecure: bool
) -> tuple[TalonConfig, Path] | int:
    try:
        loaded = load(config_path, identity=identity, allow_insecure=allow_insecure)
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(f"error: {problem.render()}", err=True)
        return 2
    return loaded.config, loaded.services_path


def run_install(
    config: Path | None, allow_insecure: bool, *, print_only: bool, label: str | None
) -> int:
    """Install Talon as a service; with no config yet, the starter one is written first."""
    identity = NodeIdentity.detect()
    env: Mapping[str, str] = os.environ
    config_path = (config or default_config_path(identity, env)).absolute()
    starter: StarterFiles | None = None
    if config_path.exists():
        loaded = _load(config_path, identity, allow_insecure)
        if isinstance(loaded, int):
            return loaded
        settings = loaded[0]
    else:
        starter = _starter(identity)
        settings = TalonConfig.model_validate(tomllib.loads(starter.config))
    built = _manager(settings, config_path, exists=starter is None)
    if isinstance(built, int):
        return built
    pm, kind = built
    try:
        plan = plans.install_plan(
            config_path,
            identity,
            pm,
            starter=starter,
            label=label or plans.default_label(kind),
            env=env,
            allow_insecure=allow_insecure,
        )
    except (TalonError, ValueError) as exc:  # e.g. a label the manager cannot hold
        return _fail(str(exc), 1)
    click.echo(f"Talon as {plan.label!r} in {kind} ({plan.service_file.domain}):")
    click.echo(f"  command: {shlex.join(plan.spec.argv)}")
    click.echo(f"  config:  {config_path}" + (" (exists: used as it is)" if not starter else ""))
    for path, text in plan.writes:
        _show(path, text)
    _show(plan.service_file.path, plan.service_file.text)
    click.echo("\nSteps:")
    for number, step in enumerate(plan.steps(), start=1):
        click.echo(f"  {number}. {step}")
    if print_only:
        _notes(plan.notes)
        click.echo("\nNothing was written (--print).")
        return 0
    try:
        asyncio.run(plans.install(plan, pm))
    except (TalonError, OSError) as exc:
        return _fail(f"install failed: {exc}", 1)
    click.echo(
        f"\nInstalled: {kind} runs Talon as {plan.label!r}; its output goes to "
        f"{Path(plan.spec.stdout_path or '').parent}."
    )
    _notes(plan.notes)
    return 0


def _notes(notes: tuple[str, ...]) -> None:
    for note in notes:
        click.echo(f"\nNote: {note}")


def run_uninstall(
    config: Path | None,
    allow_insecure: bool,
    *,
    print_only: bool,
    purge: bool,
    label: str | None,
) -> int:
    """Remove the service; the config, state and logs stay unless --purge."""
    identity = NodeIdentity.detect()
    env: Mapping[str, str] = os.environ
    config_path = (config or default_config_path(identity, env)).absolute()
    settings, services = TalonConfig(), None
    if config_path.exists():
        loaded = _load(config_path, identity, allow_insecure)
        if isinstance(loaded, int):
            return loaded
        settings, services = loaded
    built = _manager(settings, config_path, exists=config_path.exists())
    if isinstance(built, int):
        return built
    pm, kind = built
    try:
        plan = plans.uninstall_plan(
            config_path,
            services,
            identity,
            pm,
            label=label or plans.default_label(kind),
            env=env,
            purge=purge,
        )
    except (TalonError, ValueError) as exc:  # e.g. a label the manager cannot hold
        return _fail(str(exc), 1)
    click.echo(f"Talon as {plan.label!r} in {kind} ({plan.service_file.domain}):")
    for number, step in enumerate(plan.steps(), start=1):
        click.echo(f"  {number}. {step}")
    if print_only:
        click.echo("\nNothing was changed (--print).")
        return 0
    try:
        asyncio.run(plans.uninstall(plan, pm))
    except (TalonError, OSError) as exc:
        return _fail(f"uninstall failed: {exc}", 1)
    click.echo(f"\nUninstalled {plan.label!r}.")
    return 0
