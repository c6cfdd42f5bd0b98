"""``talon``: the entry point. Commands import what they need when they run."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from talon import __version__
from talon.cli.pause import pause, resume
from talon.lab.profiles import PROFILES as LAB_PROFILES

if TYPE_CHECKING:
    from talon.config import LoadedConfig


class Options:
    def __init__(self, config: Path | None, allow_insecure: bool) -> None:
        self.config = config
        self.allow_insecure = allow_insecure

    def load(self) -> LoadedConfig:
        """Load the configuration, or print every problem and exit 2."""
        from talon.config import load
        from talon.errors import ConfigError
        from talon.node import NodeIdentity

        try:
            return load(
                self.config, identity=NodeIdentity.detect(), allow_insecure=self.allow_insecure
            )
        except ConfigError as exc:
            for problem in exc.problems:
                click.echo(f"error: {problem.render()}", err=True)
            sys.exit(2)


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "-c",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="TALON_CONFIG",
    help="config.toml to use (default: $TALON_CONFIG, else config.toml in the config directory).",
)
@click.option(
    "--allow-insecure-config",
    is_flag=True,
    help="Accept config files writable by others (for containers whose files are root-owned 0666).",
)
@click.option(
    "--dry-run", is_flag=True, help="Print the effective configuration and exit (= talon config)."
)
@click.option(
    "--check",
    "check_once",
    is_flag=True,
    help="As the original Talon: one cycle, its JSON array of results; exit 0 "
    "(`talon check` has Talon's report and exit codes).",
)
@click.option(
    "--status",
    "status_once",
    is_flag=True,
    help="As the original Talon: the state in its state.json shape; exit 0 "
    "(`talon status` has Talon's view and exit codes).",
)
@click.option(
    "--worker-only", is_flag=True, help="Only supervise the worker (= talon run --worker-only)."
)
@click.option("--validate", "validate_flag", is_flag=True, hidden=True, help="= talon validate.")
@click.version_option(__version__, prog_name="talon")
@click.pass_context
def cli(
    ctx: click.Context,
    config: Path | None,
    allow_insecure_config: bool,
    dry_run: bool,
    check_once: bool,
    status_once: bool,
    worker_only: bool,
    validate_flag: bool,
) -> None:
    """Talon: infrastructure watchdog and self-healing supervisor.

    Without a command, Talon runs the daemon (= talon run), as the original
    Talon did under its service manager. The original's flags work too:
    --check, --status, --dry-run, --worker-only (and validate); given together,
    the first of validate, --dry-run, --status, --check, --worker-only wins.
    """
    from talon.cli.modes import Mode, bare_notice, pick_mode

    ctx.obj = Options(config, allow_insecure_config)
    mode = pick_mode(
        validate=validate_flag,
        dry_run=dry_run,
        status=status_once,
        check=check_once,
        worker_only=worker_only,
    )
    if ctx.invoked_subcommand is not None:
        if mode is not None:
            raise click.UsageError(f"{mode.value} is a command of its own: drop it or the command")
        return
    if mode is Mode.VALIDATE:
        ctx.invoke(validate)
    elif mode is Mode.DRY_RUN:
        ctx.invoke(show_config)
    elif mode is Mode.STATUS:
        from talon.cli.original import run_status as run_original_status

        sys.exit(run_original_status())
    elif mode is Mode.CHECK:
        from talon.cli.original import run_check as run_original_check

        sys.exit(run_original_check(ctx.obj.load()))
    else:
        notice = bare_notice(sys.stderr.isatty(), worker_only=mode is Mode.WORKER_ONLY)
        if notice:
            click.echo(notice, err=True)
        ctx.invoke(run, worker_only=mode is Mode.WORKER_ONLY)
    ctx.exit(0)


@cli.command()
@click.option(
    "--json", "as_json", is_flag=True, help="Print the documented JSON (schema talon.check/v1)."
)
@click.option(
    "--only", multiple=True, metavar="KEY", help="Run only these probes (kind.name); repeatable."
)
@click.pass_obj
def check(opts: Options, as_json: bool, only: tuple[str, ...]) -> None:
    """Run every probe once and report.

    Exit 0: all passed. 1: only non-critical failures. 2: a critical probe failed
    (or the configuration is invalid).
    """
    from talon.cli.check import run_check

    sys.exit(run_check(opts.load(), as_json=as_json, only=only))


@cli.command()
@click.pass_obj
def validate(opts: Options) -> None:
    """Check the configuration; print a JSON summary; exit 1 on errors."""
    from talon.cli.validate import run_validate

    sys.exit(run_validate(opts.config, allow_insecure=opts.allow_insecure))


@cli.command("config")
@click.pass_obj
def show_config(opts: Options) -> None:
    """Print the effective configuration (defaults filled in) as JSON."""
    from talon.cli.validate import effective_config

    click.echo(effective_config(opts.load()))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON (schema talon.status/v1).")
def status(as_json: bool) -> None:
    """This node's state, signal, open incident, hold and last failures.

    Exit 0: stable. 1: recovering. 2: failed recovery or degraded hold.
    """
    from talon.cli.status import run_status

    sys.exit(run_status(as_json))


@cli.command()
@click.option(
    "--shadow",
    is_flag=True,
    help="Decide and journal everything, execute nothing: see what Talon would do.",
)
@click.option(
    "--worker-only",
    is_flag=True,
    help="Only supervise the worker (no probes); pairs with a --no-worker instance.",
)
@click.option(
    "--no-worker",
    is_flag=True,
    help="Probe and heal; a --worker-only instance (or nobody) runs the worker.",
)
@click.pass_obj
def run(opts: Options, shadow: bool, worker_only: bool, no_worker: bool) -> None:
    """The daemon: probe, decide, heal, verify, keep the evidence, tell a human.

    Stops cleanly on SIGTERM or SIGINT; reloads the configuration on SIGHUP and
    when either file changes (an invalid file keeps the last good one running).
    Exit 3: another `talon run` already guards this node (or supervises its worker).
    """
    from talon.cli.run import run_daemon

    loaded = opts.load()
    sys.exit(run_daemon(loaded, shadow=shadow, worker_only=worker_only, no_worker=no_worker))


@cli.command()
@click.option("--print", "print_only", is_flag=True, help="Show the starter config; write nothing.")
@click.option("--force", is_flag=True, help="Overwrite an existing config.toml / services.toml.")
@click.option(
    "--path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write config.toml (default: --config, else the config directory).",
)
@click.pass_obj
def init(opts: Options, print_only: bool, force: bool, path: Path | None) -> None:
    """Write a starter config for this host: only probes for what it has.

    Prints what it found. Exit 1: a config exists (use --force) or cannot be written.
    """
    from talon.cli.bootstrap import run_init

    sys.exit(run_init(opts.config, path=path, print_only=print_only, force=force))


@cli.command()
@click.option(
    "--print",
    "print_only",
    is_flag=True,
    help="Show the config, service file and steps it would write and run; change nothing.",
)
@click.option("--label", help="The service's label (default: talon; dev.talon.node on launchd).")
@click.pass_obj
def install(opts: Options, print_only: bool, label: str | None) -> None:
    """Run Talon as a service of this host's process manager (starts now and at boot).

    Writes the starter config first when there is none. Exit 2: no process
    manager or an invalid config. Exit 1: the process manager refused.
    """
    from talon.cli.bootstrap import run_install

    sys.exit(run_install(opts.config, opts.allow_insecure, print_only=print_only, label=label))


@cli.command()
@click.option("--print", "print_only", is_flag=True, help="Show what it would do; change nothing.")
@click.option(
    "--purge", is_flag=True, help="Also remove the config files and Talon's state and log dirs."
)
@click.option("--label", help="The label it was installed under (default as for install).")
@click.pass_obj
def uninstall(opts: Options, print_only: bool, purge: bool, label: str | None) -> None:
    """Stop Talon's service, unload it and remove its service file.

    The config, state and logs stay (as package managers leave them) unless --purge.
    """
    from talon.cli.bootstrap import run_uninstall

    sys.exit(
        run_uninstall(
            opts.config, opts.allow_insecure, print_only=print_only, purge=purge, label=label
        )
    )


@cli.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (schema talon.incidents/v1).")
@click.pass_context
def incidents(ctx: click.Context, as_json: bool) -> None:
    """Incidents, newest first: id, when, root cause, outcome, evidence kept."""
    if ctx.invoked_subcommand is None:
        from talon.cli.incidents import run_list

        sys.exit(run_list(as_json))


@incidents.command("show")
@click.argument("incident_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (schema talon.incident/v1).")
def incidents_show(incident_id: str, as_json: bool) -> None:
    """One incident's timeline: every decision (why it healed, or why not), action, evidence."""
    from talon.cli.incidents import run_show

    sys.exit(run_show(incident_id, as_json))


@cli.group()
def hold() -> None:
    """The failed-recovery hold."""


@hold.command("clear")
@click.option(
    "--wait",
    type=float,
    default=30.0,
    show_default=True,
    help="Seconds to wait for a running daemon to confirm.",
)
def hold_clear(wait: float) -> None:
    """End the hold now (an operator decision; it is journalled).

    With a daemon running, it is asked to do it at its next cycle boundary and
    confirms; without one, the state files are changed directly. Exit 1: the
    running daemon did not confirm in time (it still will).
    """
    from talon.cli.status import run_hold_clear

    sys.exit(run_hold_clear(wait))


cli.add_command(pause)  # talon pause, talon resume: talon.cli.pause
cli.add_command(resume)


@cli.group()
def fleet() -> None:
    """The fleet: every peer's /health ([fleet] in config.toml)."""


@fleet.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (schema talon.fleet/v1).")
@click.pass_obj
def fleet_status(opts: Options, as_json: bool) -> None:
    """Every peer's state, signal, pass rate and staleness, read at once.

    Exit 0: all reachable, fresh and stable. 1: a peer is recovering, stale or
    unreachable. 2: a peer is in failed recovery or a degraded hold (or no peer).
    """
    from talon.cli.fleet import run_fleet_status

    sys.exit(run_fleet_status(opts.load(), as_json=as_json))


@fleet.command("targets")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write here, atomically (default: print to stdout).",
)
@click.pass_obj
def fleet_targets(opts: Options, output: Path | None) -> None:
    """Prometheus file_sd JSON: one target per peer, labelled by its /health.

    Exit 0: written. 1: the file could not be written. 2: an invalid config, or no peer.
    """
    from talon.cli.fleet_targets import run_fleet_targets

    sys.exit(run_fleet_targets(opts.load(), output=output))


@cli.group()
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    help="Lab directory (default: $TALON_LAB_DIR, else lab/ in the state directory).",
)
@click.pass_context
def lab(ctx: click.Context, directory: Path | None) -> None:
    """The lab: a real-process copy of the guarded stack on loopback."""
    ctx.obj = directory


@lab.command("up")
@click.option(
    "--profile",
    type=click.Choice(LAB_PROFILES),
    default=None,
    help=f"What the lab imitates (docs/lab-profiles.md): {LAB_PROFILES[0]} (the default, a "
    "Mac's VM runtime: the forwards live in the VM's host agent, only a force-cycle restarts "
    "them; the engine socket moves at each boot; Talon drives it with its product adapter "
    f"through a stand-in of that tool), {LAB_PROFILES[1]} (forwards are separate "
    f"processes, restartable alone) or {LAB_PROFILES[2]} (no VM: a real systemd user manager "
    "runs the worker and a real container engine whose containers are the services; needs "
    "root). Chosen at the first up.",
)
@click.pass_obj
def lab_up(directory: Path | None, profile: str | None) -> None:
    """Start the VM (127.0.0.2), the forwarders and the worker; write Talon's config."""
    from talon.cli.lab import run_up

    run_up(directory, profile)


@lab.command("down")
@click.pass_obj
def lab_down(directory: Path | None) -> None:
    """Stop every process the lab started, by pid, and nothing else."""
    from talon.cli.lab import run_down

    run_down(directory)


@lab.command("status")
@click.pass_obj
def lab_status(directory: Path | None) -> None:
    """The lab's processes, ports and VM boots, as JSON."""
    from talon.cli.lab import run_status

    run_status(directory)


@cli.command()
@click.option("--keep", is_flag=True, help="Leave the lab running afterwards.")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    help="Lab directory (default: a new temporary directory).",
)
def demo(keep: bool, directory: Path | None) -> None:
    """Bring the lab up, inject faults, and narrate what Talon sees and decides."""
    from talon.lab.demo import run_demo

    run_demo(keep, directory)


# verb -> the FAULTS.md row it injects (the verbs live in talon.lab.faults)
FAULTS = {
    "kill-forwarders": "F1",
    "flap": "F2",
    "service-down": "F3",
    "runtime-down": "F4",
    "regress": "F5",
    "slow-boot": "F21",
    "drop-rbac": "F6",
    "corrupt-aof": "F10",
    "crashloop": "F11",
    "hang": "F12",
    "network-down": "F17",
    "socket-drift": "F19",  # the default profile: the engine socket moves, the old file stays
    "engine-down": "F19",  # its neighbour: the engine stops, its socket stays (linux: F4)
    "container-unhealthy": "F31",  # linux: a container runs, its HEALTHCHECK fails
}


@lab.command(
    "inject",
    help="Inject one fault of FAULTS.md into the lab (undo with heal-all).\n\n\b\n"
    + "\n".join(f"{verb:<16} {row}" for verb, row in FAULTS.items()),
)
@click.argument("fault", type=click.Choice(list(FAULTS)))
@click.option(
    "--service",
    default=None,
    help="redis, inngest, typesense or kubeapi (where it applies); on the linux profile a "
    "container (redis, inngest, typesense) or the worker's unit (worker).",
)
@click.option(
    "--seconds",
    type=float,
    default=5.0,
    show_default=True,
    help="flap: pause length; regress, crashloop: how long a boot lives; slow-boot: how long "
    "a boot takes.",
)
@click.pass_obj
def lab_inject(directory: Path | None, fault: str, service: str | None, seconds: float) -> None:
    from talon.cli.lab import run_inject

    run_inject(directory, fault, service, seconds)


@lab.command("heal-all")
@click.pass_obj
def lab_heal_all(directory: Path | None) -> None:
    """Undo every injected fault."""
    from talon.cli.lab import run_heal_all

    run_heal_all(directory)


def main() -> None:
    """The console script: a reader that closes the pipe early changes no exit code and
    prints no traceback (``talon --check | head -1``; talon.cli.pipes)."""
    from talon.cli.pipes import flush_quietly, guard_std_streams

    guards = guard_std_streams()
    try:
        cli(prog_name="talon")
    finally:
        flush_quietly(*guards)
