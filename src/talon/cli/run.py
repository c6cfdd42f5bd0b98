"""``talon run``: the daemon, in the foreground (a process manager keeps it running)."""

from __future__ import annotations

import click

from talon.config import LoadedConfig

EXIT_ALREADY_RUNNING = 3


def run_daemon(loaded: LoadedConfig, *, shadow: bool, worker_only: bool, no_worker: bool) -> int:
    from talon.daemon.lock import AlreadyRunning
    from talon.daemon.loop import Daemon
    from talon.probes.aio import run as run_async

    if worker_only and no_worker:
        click.echo("error: --worker-only and --no-worker exclude each other", err=True)
        return 2
    if worker_only and (loaded.config.worker is None or not loaded.config.worker.command):
        click.echo(
            f"error: --worker-only needs a [worker] section with a command in {loaded.config_path}",
            err=True,
        )
        return 2
    daemon = Daemon(
        loaded,
        config_path=loaded.config_path,
        shadow=shadow,
        worker="worker-only" if worker_only else "no-worker" if no_worker else "both",
    )
    try:
        return run_async(daemon.run(), loaded.config.event_loop)
    except AlreadyRunning as exc:
        click.echo(f"error: {exc}", err=True)
        return EXIT_ALREADY_RUNNING
