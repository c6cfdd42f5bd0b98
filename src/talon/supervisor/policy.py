"""The supervisor's decisions, as pure functions: restart delay, crash count, port holders.

- A worker that ran at least ``stable_secs`` had a good start: it is restarted at
  once when it dies and its quick-exit count starts over.
- Exits before that are quick. The first quick exit in a row is restarted at once
  too (a worker killed a few seconds after a start is still a first crash, as
  supervisord and systemd's ``RestartSec=100ms`` treat it); the n-th, n >= 2,
  waits 2**(n-2) s, capped (0, 1, 2, 4 ... 30 s, F7). The count is what the core
  sees as a crash loop.
- A process holding the worker's port is killed only when it is an orphan (its
  parent is init or gone), is not Talon's own and not the external supervisor's,
  and only by its pid: never the port's clients (R22).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass


def quick_exits_after(previous: int, ran_s: float, stable_s: float) -> int:
    return previous + 1 if ran_s < stable_s else 0


def restart_delay(quick_exits: int, max_s: float) -> float:
    """Seconds to wait before the next start, given the quick exits in a row: 0, 0, 1, 2, 4 ..."""
    if quick_exits <= 1:
        return 0.0
    return float(min(2 ** min(quick_exits - 2, 30), max_s))


@dataclass(frozen=True, slots=True)
class Holder:
    """A process listening on the worker's port, as the host reports it."""

    pid: int | None  # None: the host would not say (another user's process)
    ppid: int | None = None
    parent_alive: bool = True
    cmdline: str = ""

    def as_dict(self) -> dict[str, object]:
        return {"pid": self.pid, "ppid": self.ppid, "cmdline": self.cmdline}


@dataclass(frozen=True, slots=True)
class Verdict:
    kill: bool
    why: str


def judge_holder(holder: Holder, *, own: Collection[int], external: Collection[int]) -> Verdict:
    """May Talon kill this listener before starting the worker? (F8, R22)"""
    pid = holder.pid
    if pid is None:
        return Verdict(False, "held by a process the host will not name (another user's?)")
    if pid in own:
        return Verdict(False, f"pid {pid} is Talon's own process")
    if pid in external:
        return Verdict(False, f"pid {pid} belongs to the external supervisor of the worker")
    if pid == 1:
        return Verdict(False, "pid 1 is init")
    if holder.ppid in (0, 1) or not holder.parent_alive:
        return Verdict(True, f"pid {pid} is an orphan listener (parent {holder.ppid})")
    return Verdict(False, f"pid {pid} has a live parent ({holder.ppid}): not an orphan")
