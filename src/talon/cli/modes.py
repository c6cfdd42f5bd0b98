"""What ``talon`` does without a command: the original Rust Talon's flags.

The original ran ``talon`` as its daemon under the service manager (KeepAlive),
and took ``validate``, ``--dry-run``, ``--status``, ``--check`` and
``--worker-only`` instead of commands; given together, the first of that list
wins (its order). No flag: the daemon.
"""

from __future__ import annotations

import enum


class Mode(enum.Enum):
    VALIDATE = "--validate"
    DRY_RUN = "--dry-run"
    STATUS = "--status"
    CHECK = "--check"
    WORKER_ONLY = "--worker-only"


def pick_mode(
    *, validate: bool, dry_run: bool, status: bool, check: bool, worker_only: bool
) -> Mode | None:
    """The flag that wins, in the original's precedence; None: the daemon."""
    given = (
        (validate, Mode.VALIDATE),
        (dry_run, Mode.DRY_RUN),
        (status, Mode.STATUS),
        (check, Mode.CHECK),
        (worker_only, Mode.WORKER_ONLY),
    )
    return next((mode for on, mode in given if on), None)


def bare_notice(stderr_is_tty: bool, *, worker_only: bool = False) -> str | None:
    """What a person at a terminal is told before the daemon starts; a service manager
    (stderr a file or a pipe) gets nothing."""
    if not stderr_is_tty:
        return None
    what = "the daemon (= talon run)"
    if worker_only:
        what = "the worker supervisor (= talon run --worker-only)"
    return (
        f"talon: running {what} in the foreground; stop it with Ctrl-C.\n"
        "talon: `talon --help` lists the commands (check, status, validate, ...)."
    )
