"""Operator commands to a running daemon: messages, never a race on its files (F28).

``talon hold clear`` writes a command file into ``commands/`` of the state
directory. The running daemon owns state.json: it takes the command at its next
cycle boundary (a command cuts its sleep short), applies it through the core,
records it like any step (state, trail, bundle, log, events), and answers in
``commands/done/ID.json``, which the CLI waits for; /health shows the last one.
Without a daemon, the CLI applies the same core function to the files itself,
under the state lock.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from talon.clock import Clock, unique_name
from talon.core import clear_hold
from talon.store import StoreError, atomic_write

if TYPE_CHECKING:
    from talon.daemon.cycle import Watch

VERBS = ("hold-clear",)
DONE_KEPT = 50  # answers kept for the CLI and for evidence
POLL_S = 0.2


@dataclass(frozen=True)
class Command:
    id: str
    verb: str
    by: str  # who asked: user@host (pid)
    at: float  # wall time it was asked

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


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
    def submit(self, verb: str, by: str) -> Command:
        now = time.time()
        command = Command(unique_name(now), verb, by, now)
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
                raw = json.loads(path.read_bytes())
                out.append(
                    Command(str(raw["id"]), str(raw["verb"]), str(raw["by"]), float(raw["at"]))
                )
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


def apply_command(command: Command, watch: Watch, clock: Clock) -> dict[str, Any]:
    """Apply one command at a cycle boundary, through the core; the answer the CLI reads."""
    if command.verb != "hold-clear":
        return {"ok": False, "applied": False, "said": f"unknown command {command.verb!r}"}
    state = watch.state
    if state.hold is None:
        return {"ok": True, "applied": False, "said": "no hold is active"}
    done = watch.apply(clear_hold(state, clock.now(), who=command.by))
    for action in done.actions:  # the hold-cleared notice
        watch.in_background(action)
    said = f"hold cleared by the running daemon; node is {done.state.node.value}"
    return {"ok": True, "applied": True, "said": said}
