"""Talon as a service of the host's process manager: plan (pure), then carry out.

The plan is everything `talon install --print` shows: the config files that
would be created (only those that do not exist: an operator's file is never
overwritten here), the service Talon runs as, and the file the process manager
would get. Carrying it out writes the files and calls ``pm.enable``; uninstall
calls ``pm.disable`` and, like a package manager, leaves the configuration,
state and logs in place unless purged.

Choices:

- The label is ``talon``; on launchd, whose labels are reverse-DNS by
  convention, ``dev.talon.node`` (one Talon per node). ``--label`` overrides.
- The command is this interpreter with ``-m talon`` (a venv's python keeps its
  venv), so it runs the Talon that was installed, wherever its entry point is.
- The service gets the TALON_*_DIR, NODE_ID and TALON_ALLOW_INSECURE_CONFIG
  variables it was installed with, so it uses the same directories (and reads
  the config the same way) as the shell that installed it; nothing else of
  that shell's environment is copied.
- systemd: as root a system unit (/etc/systemd/system, started at boot by the
  system manager); as another user a user unit, which starts at boot only if
  that user's manager does: ``loginctl enable-linger USER``, said in the plan's
  ``notes``. The unit says ``KillMode=process``: a SIGKILLed Talon is restarted
  by systemd while a heal script it started keeps running and holding the
  runtime lock, so the next Talon waits for it rather than heal twice (F14;
  the adapter's docstring and docs/systemd.md say why the default cannot).
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from talon.adapters.process.base import ProcessManager, ServiceFile, ServiceSpec
from talon.adapters.process.steps import disable_commands, enable_commands
from talon.bootstrap.starter import StarterFiles
from talon.node import NodeIdentity

DEFAULT_LABEL = "talon"
LABELS = {"launchd": "dev.talon.node"}
PASSED_ON = (
    "TALON_CONFIG_DIR",
    "TALON_STATE_DIR",
    "TALON_LOG_DIR",
    "NODE_ID",
    "TALON_ALLOW_INSECURE_CONFIG",
)
DESCRIPTION = "Talon: infrastructure watchdog and self-healing supervisor"
CONFIG_MODE = 0o600  # never group/other-writable: the loader refuses such files
DIR_MODE = 0o700


def default_label(kind: str) -> str:
    return LABELS.get(kind, DEFAULT_LABEL)


def talon_command(
    config_path: Path, *, allow_insecure: bool = False, python: str = sys.executable
) -> tuple[str, ...]:
    """``python -m talon --config PATH run``: --config belongs to the group, before ``run``."""
    insecure = ("--allow-insecure-config",) if allow_insecure else ()
    return (python, "-m", "talon", "--config", str(config_path), *insecure, "run")


def service_spec(
    label: str,
    config_path: Path,
    identity: NodeIdentity,
    env: Mapping[str, str],
    *,
    allow_insecure: bool = False,
    argv: Sequence[str] | None = None,
) -> ServiceSpec:
    """Talon itself as a service: cwd the state dir, output appended in the log dir."""
    command = tuple(argv) if argv else talon_command(config_path, allow_insecure=allow_insecure)
    return ServiceSpec(
        label=label,
        argv=command,
        cwd=str(identity.state_dir),
        env={key: env[key] for key in PASSED_ON if env.get(key, "").strip()},
        stdout_path=str(identity.log_dir / "service.out.log"),
        stderr_path=str(identity.log_dir / "service.err.log"),
        description=DESCRIPTION,
    )


@dataclass(frozen=True)
class InstallPlan:
    label: str
    manager: str  # the process manager's name
    spec: ServiceSpec
    service_file: ServiceFile
    config_path: Path
    writes: tuple[tuple[Path, str], ...]  # config files to create: none of them exists yet
    keeps: tuple[Path, ...]  # config files already there: left exactly as they are
    dirs: tuple[Path, ...]  # created if missing: the service's cwd and log directory
    notes: tuple[str, ...] = ()  # what the operator must still do (e.g. enable lingering)

    def steps(self) -> list[str]:
        """What carrying it out does, in order, for `--print` and for the log."""
        out = [f"write {path} (mode {CONFIG_MODE:o})" for path, _ in self.writes]
        out += [f"keep {path} as it is" for path in self.keeps]
        out.append("create " + ", ".join(map(str, self.dirs)) + " if missing")
        out.append(f"write {self.service_file.path}")
        out += enable_commands(self.manager, self.service_file, self.label)
        return out


def boot_notes(manager: str, file: ServiceFile, user: str) -> tuple[str, ...]:
    """What else it takes for the service to start at boot, in plain words."""
    if manager == "systemd" and file.domain == "user":
        return (
            f"This is a user unit: it runs in {user}'s systemd user manager, which starts at "
            f"boot only with lingering on. Run `loginctl enable-linger {user}` once (as root "
            f"or {user}); without it Talon starts only when {user} logs in and stops at "
            "logout. (As root, with systemd_scope = 'auto', `talon install` writes a system "
            "unit instead.)",
        )
    return ()


def install_plan(
    config_path: Path,
    identity: NodeIdentity,
    pm: ProcessManager,
    *,
    starter: StarterFiles | None,
    label: str,
    env: Mapping[str, str],
    allow_insecure: bool = False,
    argv: Sequence[str] | None = None,
    user: str | None = None,
) -> InstallPlan:
    """What `talon install` would do; reads only whether the config files exist.

    ``starter`` is the configuration to create when there is none (None: the
    config exists and is used as it is). Raises what ``pm.service_file``
    raises (AdapterUnavailable) when the manager cannot hold this service.
    ``user``: who runs it, for the notes (default: this process's user).
    """
    config_path = config_path.absolute()
    spec = service_spec(label, config_path, identity, env, allow_insecure=allow_insecure, argv=argv)
    writes: list[tuple[Path, str]] = []
    keeps: list[Path] = []
    if starter is not None:
        files = (
            (config_path, starter.config),
            (config_path.parent / starter.services_name, starter.services),
        )
        for path, text in files:
            if path.exists():
                keeps.append(path)
            else:
                writes.append((path, text))
    service_file = pm.service_file(spec)
    return InstallPlan(
        label=label,
        manager=pm.name,
        spec=spec,
        service_file=service_file,
        config_path=config_path,
        writes=tuple(writes),
        keeps=tuple(keeps),
        dirs=(identity.state_dir, identity.log_dir),
        notes=boot_notes(pm.name, service_file, user or getpass.getuser()),
    )


def write_private(path: Path, text: str) -> None:
    """Write atomically, readable and writable by this user only (the loader's trust check)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, CONFIG_MODE)
    try:
        os.fchmod(fd, CONFIG_MODE)  # the umask must not loosen it, nor an old tmp file
        with os.fdopen(fd, "w", encoding="utf-8", closefd=False) as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
    finally:
        os.close(fd)
    os.replace(tmp, path)


async def install(plan: InstallPlan, pm: ProcessManager) -> None:
    """Create the missing config files and directories, then enable the service."""
    for path, text in plan.writes:
        write_private(path, text)
    for directory in plan.dirs:
        directory.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    await pm.enable(plan.label, plan.spec)


@dataclass(frozen=True)
class UninstallPlan:
    label: str
    manager: str
    service_file: ServiceFile  # where enable put it (disable looks in every domain)
    removes: tuple[Path, ...]  # with --purge: config files and directories Talon owns
    leaves: tuple[tuple[Path, str], ...]  # and what stays, with the reason

    def steps(self) -> list[str]:
        out = disable_commands(self.manager, self.service_file, self.label)
        out += [f"remove {path}" for path in self.removes]
        out += [f"leave {path}: {why}" for path, why in self.leaves]
        return out


def _talons(path: Path) -> bool:
    """A directory is wiped only when its own name says it is Talon's: a TALON_STATE_DIR
    pointed at something shared must never cost the operator that directory."""
    return "talon" in path.name.lower()


def uninstall_plan(
    config_path: Path,
    services_path: Path | None,
    identity: NodeIdentity,
    pm: ProcessManager,
    *,
    label: str,
    env: Mapping[str, str],
    purge: bool,
) -> UninstallPlan:
    """What `talon uninstall` would do; without ``purge`` it leaves config, state and logs."""
    spec = service_spec(label, config_path.absolute(), identity, env)
    service_file = pm.service_file(spec)
    files = [p for p in (config_path, services_path) if p is not None]
    dirs = [identity.state_dir, identity.log_dir]
    removes: list[Path] = []
    leaves: list[tuple[Path, str]] = []
    if not purge:
        why = "kept, as package managers do (--purge removes it)"
        leaves = [(p, why) for p in (*files, *dirs) if p.exists()]
    else:
        removes = [p for p in files if p.exists()]
        for directory in dirs:
            inside = any(directory.is_relative_to(r) for r in removes)
            if not directory.exists() or inside:
                continue
            if _talons(directory):
                removes.append(directory)
            else:
                leaves.append(
                    (directory, "its name does not say it is Talon's: remove it yourself")
                )
    return UninstallPlan(label, pm.name, service_file, tuple(removes), tuple(leaves))


async def uninstall(plan: UninstallPlan, pm: ProcessManager) -> None:
    """Disable the service first (it may be writing to the state), then purge."""
    await pm.disable(plan.label)
    for path in plan.removes:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    for parent in {path.parent for path in plan.removes}:
        with contextlib.suppress(OSError):  # Talon's emptied config directory goes too
            if _talons(parent) and not any(parent.iterdir()):
                parent.rmdir()


__all__ = [
    "InstallPlan",
    "UninstallPlan",
    "boot_notes",
    "default_label",
    "install",
    "install_plan",
    "service_spec",
    "talon_command",
    "uninstall",
    "uninstall_plan",
]
