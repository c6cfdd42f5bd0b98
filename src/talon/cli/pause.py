"""``talon pause`` and ``talon resume``: an operator working on the box (F28).

While paused, probes keep running and reporting, but nothing is healed and no
agent or SOS goes out for what the pause covers (the whole node, or one probe);
the pause always ends by itself. Like ``talon hold clear``: a running daemon is
asked (a command it applies at its next cycle boundary and answers); without
one, the state file is changed directly, under the state lock.

Imported by ``talon.cli.main`` to register the commands, so only click and the
standard library are imported at the top.
"""

from __future__ import annotations

import difflib
import re
import sys
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from talon.clock import Clock
    from talon.core import Step
    from talon.store import StateStore

MAX_PAUSE_S = 7 * 86400.0  # = talon.daemon.commands.MAX_PAUSE_S (a test keeps them equal)
_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_UNITS = (86400, 3600, 60, 1)


def parse_duration(text: str) -> float:
    """``90s``, ``30m``, ``2h``, ``1d``, ``1h30m`` → seconds; ValueError saying what is wrong."""
    word = text.strip().lower()
    match = _DURATION.fullmatch(word)
    if not word or match is None:
        hint = f" (seconds? write {word}s)" if word.isdigit() else ""
        raise ValueError(
            f"{text!r} is not a duration{hint}: use a number and a unit, e.g. 90s, 30m, 2h, "
            "1d or 1h30m"
        )
    seconds = float(sum(int(n or 0) * size for n, size in zip(match.groups(), _UNITS, strict=True)))
    if seconds <= 0:
        raise ValueError(f"{text!r}: a pause must last more than 0s")
    if seconds > MAX_PAUSE_S:
        raise ValueError(
            f"{text!r} is longer than the longest pause, 7d: a pause always ends by itself; "
            "pause again later to extend it"
        )
    return seconds


class Duration(click.ParamType[float]):
    name = "DURATION"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, float):
            return value
        try:
            return parse_duration(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def unknown_probe(key: str, known: Collection[str], where: str) -> str | None:
    """Why ``key`` is not a probe of this node, with the close matches; None if it is one."""
    if key in known:
        return None
    close = difflib.get_close_matches(key, sorted(known), n=3, cutoff=0.5)
    if close:
        hint = "did you mean " + " or ".join(repr(c) for c in close) + "?"
    elif known:
        listed = sorted(known)
        hint = "configured: " + ", ".join(listed[:10]) + (" ..." if len(listed) > 10 else "")
    else:
        hint = "no probe is configured"
    return f"no probe {key!r} in {where} ({hint})"


def _checked_probe(opts: Any, probe: str | None) -> str | None:
    """A --probe must name a configured probe: exit 2 with the close matches otherwise."""
    if probe is None:
        return None
    loaded = opts.load()
    why = unknown_probe(probe, {p.key for p in loaded.probes}, str(loaded.services_path))
    if why is not None:
        raise click.BadParameter(why, param_hint="'--probe'")
    return probe


_WAIT = click.option(
    "--wait",
    type=float,
    default=30.0,
    show_default=True,
    help="Seconds to wait for a running daemon to confirm.",
)


@click.command()
@click.option(
    "--for",
    "duration",
    type=Duration(),
    default="1h",
    show_default=True,
    help="How long: 90s, 30m, 2h, 1d, 1h30m (at most 7d); it always ends by itself.",
)
@click.option(
    "--probe",
    metavar="KIND.NAME",
    help="Pause only this probe's heals (default: the whole node, SOS included).",
)
@_WAIT
@click.pass_obj
def pause(opts: Any, duration: float, probe: str | None, wait: float) -> None:
    """Pause healing while you work on the box.

    Probes keep running and reporting, but no heal, no agent and no SOS for what
    the pause covers, until it ends by itself or `talon resume`; shown in `talon
    status`, /health, the status page and /metrics. With a daemon running, it
    applies the pause at its next cycle boundary and confirms; without one, the
    state file is changed directly. Exit 0: paused. 1: the running daemon did not
    confirm in time (it still will) or refused. 2: a bad duration or an unknown probe.
    """
    sys.exit(run_pause(duration, _checked_probe(opts, probe), wait))


@click.command()
@click.option(
    "--probe", metavar="KIND.NAME", help="End only this probe's pause (default: every pause)."
)
@_WAIT
@click.pass_obj
def resume(opts: Any, probe: str | None, wait: float) -> None:
    """End a pause now: healing (and SOS) resume at the next cycle.

    Exit 0: resumed, or no pause was active. 1: the running daemon did not confirm
    in time. 2: an unknown probe.
    """
    sys.exit(run_resume(_checked_probe(opts, probe), wait))


def run_pause(duration_s: float, probe: str | None, wait: float) -> int:
    """0: paused; 1: a running daemon did not confirm in ``wait`` s (or refused)."""
    from talon.cli.status import ask_daemon_or
    from talon.clock import Clock
    from talon.daemon.commands import asker, pause_step

    def offline(store: StateStore) -> int:
        clock = Clock()
        state = store.load(clock).state
        done, answer = pause_step(state, clock.now(), clock.wall(), duration_s, probe, asker())
        return _offline_answer(store, clock, done, answer)

    what = "pause healing" + ("" if probe is None else f" of {probe}")
    return ask_daemon_or(offline, "pause", what, wait, duration_s=duration_s, probe=probe)


def run_resume(probe: str | None, wait: float) -> int:
    """0: resumed, or no such pause; 1: a running daemon did not confirm in ``wait`` s."""
    from talon.cli.status import ask_daemon_or
    from talon.clock import Clock
    from talon.daemon.commands import asker, resume_step

    def offline(store: StateStore) -> int:
        clock = Clock()
        state = store.load(clock).state
        done, answer = resume_step(state, clock.now(), probe, asker())
        return _offline_answer(store, clock, done, answer)

    what = "resume healing" + ("" if probe is None else f" of {probe}")
    return ask_daemon_or(offline, "resume", what, wait, probe=probe)


def _offline_answer(
    store: StateStore, clock: Clock, done: Step | None, answer: dict[str, Any]
) -> int:
    """No daemon runs: save the step (its notices are queued for the next daemon)."""
    if done is not None:
        journal = store.journal()
        for action in done.actions:
            journal.queue(action, clock.wall())
        store.save(done.state, clock)
    said = str(answer["said"]) + (" (no daemon runs)" if answer.get("applied") else "")
    click.echo(said, err=not answer["ok"])
    return 0 if answer["ok"] else 1
