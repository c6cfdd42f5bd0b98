"""``talon run``: the daemon, in the foreground (a process manager keeps it running)."""

from __future__ import annotations

import asyncio

import click

from talon.config import LoadedConfig

EXIT_ALREADY_RUNNING = 3


def run_daemon(loaded: LoadedConfig, *, shadow: bool, worker_only: bool, no_worker: bool) -> int:
    from talon.daemon.lock import AlreadyRunning
    from talon.daemon.loop import Daemon

    if worker_only:
        click.echo(
            "error: --worker-only needs the worker supervisor, which is not built yet "
            "(issue 6); run `talon run --no-worker` to probe and heal without it",
            err=True,
        )
        return 2
    del no_worker  # the daemon does not supervise the worker yet: --no-worker is what it does
    daemon = Daemon(
        loaded,
        config_path=loaded.config_path,
        shadow=shadow,
    )
    try:
        return asyncio.run(daemon.run())
    except AlreadyRunning as exc:
        click.echo(f"error: {exc}", err=True)
        return EXIT_ALREADY_RUNNING
