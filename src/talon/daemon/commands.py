"""Operator commands to a running daemon: messages, never a race on its files (F28).

``talon hold clear``, ``talon pause`` and ``talon resume`` write a command file
into ``commands/`` of the state directory (a pause with its duration and probe;
a file without them, from an older Talon, still reads). The running daemon owns
state.json: it takes the command at its next cycle boundary (a command cuts its
sleep short), applies it through the core, records it like any step (state,
trail, bundle, log, events), and answers in ``commands/done/ID.json``, which the
CLI waits for; /health shows the last one. Without a daemon, the CLI applies
the same core function to the files itself, under the state lock
(``pause_step`` and ``resume_step`` are shared, so both answer alike).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from talon.clock import Clock, unique_name
from talon.core import CoreState, Pause, Step, clear_hold, pause, resume
from talon.durations import exact
from talon.store import StoreError, atomic_write

if TYPE_CHECKING:
    from talon.daemon.cycle import Watch

VERBS = ("hold-clear", "pause", "resume")
DONE_KEPT = 50  # answers kept for the CLI and for evidence
POLL_S = 0.2
MAX_PAUSE_S = 7 * 86400.0  # a pause always ends by itself, and not in a month


@dataclass(frozen=True)
class Command:
    id: str
    verb: str
    by: str  # who asked: user@host (pid)
    at: float  # wall time it was asked
    duration_s: float | None = None  # pause: how long
    probe: str | None = None  # pause, resume: only this probe's (None: the whole node)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Command:
        """Raises ValueError, KeyError or TypeError on a malformed command."""
        duration, probe = raw.get("duration_s"), raw.get("probe")
        if probe is not None and not isinstance(probe, str):
            raise TypeError(f"probe must be a string, not {type(probe).__name__}")
        return cls(
            str(raw["id"]),
            str(raw["verb"]),
            str(raw["by"]),
            float(raw["at"]),
            None if duration is None else float(duration),
            probe,
        )


def asker() -> str:
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()} (pid {os.getpid()})"


class Inbox:
    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir / "commands"
        self.done = self.dir / "done"

    # the CLI's side -------------------------------------------------------------------
    def submit(
        self, verb: str, by: str, *, duration_s: float | None = None, probe: str | None = None
    ) -> Command:
        now = time.time()
        command = Command(unique_name(now), verb, by, now, duration_s, probe)
        atomic_write(self.dir / f"{command.id}.json", json.dumps(command.as_dict()).encode())
        return command

    def answer_of(self, command_id: str) -> dict[str, Any] | None:
        try:
            data = json.loads((self.done / f"{command_id}.json").read_bytes())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def wait(self, command_id: str, timeout: float) -> dict[str, Any] | None:
        deadline = time.monotonic() + timeout
        while True:
            answer = self.answer_of(command_id)
            if answer is not None or time.monotonic() >= deadline:
                return answer
            time.sleep(POLL_S)

    # the daemon's side ----------------------------------------------------------------
    def pending(self) -> list[Command]:
        """Commands not answered yet, oldest first; an unreadable one is answered as such."""
        out = []
        for path in self._files():
            try:
                out.append(Command.from_dict(json.loads(path.read_bytes())))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                bad = Command(path.stem, "?", "?", 0.0)
                self.answer(bad, {"ok": False, "said": f"unreadable command {path.name}: {exc}"})
        return out

    def waiting(self) -> bool:
        return bool(self._files())

    def _files(self) -> list[Path]:
        """The command files, oldest first (a temp file being written starts with '.')."""
        try:
            return sorted(p for p in self.dir.glob("*.json") if not p.name.startswith("."))
        except OSError:
            return []

    def answer(self, command: Command, result: dict[str, Any]) -> None:
        """Write the answer, then drop the command; a failed write leaves it for a retry."""
        answer = {**result, "command": command.as_dict(), "answered_at": time.time()}
        try:
            atomic_write(self.done / f"{command.id}.json", json.dumps(answer).encode())
        except StoreError:
            return
        with contextlib.suppress(OSError):
            (self.dir / f"{command.id}.json").unlink()
        self._prune()

    def _prune(self) -> None:
        with contextlib.suppress(OSError):
            done = sorted(self.done.glob("*.json"))
            for old in done[:-DONE_KEPT]:
                old.unlink()


Answer = dict[str, Any]


def apply_command(command: Command, watch: Watch, clock: Clock) -> Answer:
    """Apply one command at a cycle boundary, through the core; the answer the CLI reads."""
    handler = _HANDLERS.get(command.verb)
    if handler is None:
        return {"ok": False, "applied": False, "said": f"unknown command {command.verb!r}"}
    return handler(command, watch, clock)


def _hold_clear(command: Command, watch: Watch, clock: Clock) -> Answer:
    state = watch.state
    if state.hold is None and not state.held_heals:
        return {"ok": True, "applied": False, "said": "no hold is active"}
    done = _apply(watch, clear_hold(state, clock.now(), who=command.by))
    said = f"hold cleared by the running daemon; node is {done.state.node.value}"
    return {"ok": True, "applied": True, "said": said}


def _pause(command: Command, watch: Watch, clock: Clock) -> Answer:
    known = None if watch.last_report is None else {r.key for r in watch.last_report.results}
    done, answer = pause_step(
        watch.state,
        clock.now(),
        clock.wall(),
        command.duration_s,
        command.probe,
        command.by,
        known=known,
    )
    if done is not None:
        _apply(watch, done)
    return answer


def _resume(command: Command, watch: Watch, clock: Clock) -> Answer:
    done, answer = resume_step(watch.state, clock.now(), command.probe, command.by)
    if done is not None:
        _apply(watch, done)
    return answer


def _apply(watch: Watch, done: Step) -> Step:
    """Record the step like any other; its notices go out beside the loop."""
    done = watch.apply(done)
    for action in done.actions:
        watch.in_background(action)
    return done


_HANDLERS: dict[str, Callable[[Command, Watch, Clock], Answer]] = {
    "hold-clear": _hold_clear,
    "pause": _pause,
    "resume": _resume,
}


# What a pause and a resume do to a state: pure, shared by the daemon and the CLI's
# offline path (no daemon runs), so both say the same. -----------------------------------
def pause_step(
    state: CoreState,
    now: float,
    wall: float,
    duration_s: float | None,
    probe: str | None,
    by: str,
    *,
    known: Collection[str] | None = None,
) -> tuple[Step | None, Answer]:
    """The core's ``pause`` for ``duration_s`` from ``now`` (Talon's clock), and the answer;
    no step when the request is refused. ``known``: the probe keys, when known."""
    if duration_s is None or not 0 < duration_s <= MAX_PAUSE_S:
        said = f"a pause lasts more than 0s and at most {exact(MAX_PAUSE_S)}"
        return None, {"ok": False, "applied": False, "said": said}
    if probe is not None and known is not None and probe not in known:
        said = f"no probe {probe!r} on this node (pause not applied)"
        return None, {"ok": False, "applied": False, "said": said}
    done = pause(state, now, now + duration_s, who=by, probe=probe)
    said = (
        f"{_scope(probe)} paused until {wall_clock(wall + duration_s, wall)} "
        f"({exact(duration_s)}) by {by}"
    )
    return done, {"ok": True, "applied": True, "said": said, "until": now + duration_s}


def resume_step(
    state: CoreState, now: float, probe: str | None, by: str
) -> tuple[Step | None, Answer]:
    """The core's ``resume`` and the answer; no step when no such pause is running."""
    running = active_pauses(state, now)
    ended = [p for p in running if probe is None or p.probe == probe]
    if not ended:
        said = "no pause is active" if probe is None else f"no pause of {probe} is active"
        if probe is not None and any(p.probe is None for p in running):
            said += " (the whole node is paused: `talon resume` without --probe ends that)"
        return None, {"ok": True, "applied": False, "said": said}
    done = resume(state, now, who=by, probe=probe)
    said = f"{_scope(probe)} resumed by {by}"
    if probe is None and any(p.probe is not None for p in ended):
        said += f" (ended {len(ended)} pauses)"
    return done, {"ok": True, "applied": True, "said": said}


def active_pauses(state: CoreState, now: float) -> list[Pause]:
    """The pauses not yet over at ``now`` (one that ran out is gone at the next step)."""
    return [p for p in state.pauses if p.until > now]


def _scope(probe: str | None) -> str:
    return "healing and SOS" if probe is None else f"healing of {probe}"


def wall_clock(at: float, now: float) -> str:
    """``14:05`` (local time) today; with the date on another day."""
    moment, today = time.localtime(at), time.localtime(now)
    same_day = moment[:3] == today[:3]
    return time.strftime("%H:%M" if same_day else "%Y-%m-%d %H:%M", moment)
