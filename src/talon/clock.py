"""Talon's clock: monotonic time for every decision, the wall clock only to show and record.

``Clock.now()`` is the monotonic clock shifted to read like the wall clock at
the moment Talon started: warmups, durability windows, holds, cooldowns, the
confirmation window, the SOS threshold and the loop's sleep all run on it, so
an NTP step or a VM resume (a wall-clock jump, F22) changes no decision. Wall
time is read only for display and for records (the journal, bundles, logs).

A file that keeps the core's times (state.json) also keeps a ``Stamp`` of the
clock that wrote it. The next run measures how much time really passed since
(the monotonic clock when the machine has not rebooted in between, else the
wall clock, never negative) and moves the saved times by that much onto its
own clock (``talon.core.rebase``): a persisted deadline is re-based, never
trusted across a jump.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")  # Linux; elsewhere None: wall clock only


def read_boot_id(path: Path = BOOT_ID) -> str | None:
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def unique_name(wall: float) -> str:
    """A name no lost file can make come back: the UTC second and 6 random hex digits
    (a cycle, and so the incident it opens, F23; an operator's command)."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(wall)) + "-" + secrets.token_hex(3)


@dataclass(frozen=True)
class Stamp:
    """The clock that wrote a file, at the moment it wrote it."""

    at: float  # Talon's clock (Clock.now)
    wall: float
    monotonic: float
    boot: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Any) -> Stamp | None:
        """A stamp read from a file; None when it is missing or not one."""
        if not isinstance(raw, dict):
            return None
        try:
            boot = raw.get("boot")
            return cls(
                float(raw["at"]),
                float(raw["wall"]),
                float(raw["monotonic"]),
                boot if isinstance(boot, str) else None,
            )
        except (KeyError, TypeError, ValueError):
            return None


class Clock:
    def __init__(
        self,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        boot_id: Callable[[], str | None] = read_boot_id,
    ) -> None:
        self._monotonic = monotonic
        self._wall = wall
        self.boot = boot_id()
        self._offset = wall() - monotonic()  # anchored once: later wall jumps do not move it

    def now(self) -> float:
        """Talon's time: never jumps, and reads like the wall clock of the start."""
        return self._monotonic() + self._offset

    def wall(self) -> float:
        """The wall clock, for display and records only."""
        return self._wall()

    def stamp(self) -> Stamp:
        return Stamp(self.now(), self._wall(), self._monotonic(), self.boot)

    def elapsed_since(self, stamp: Stamp) -> float:
        """Seconds that really passed since ``stamp``; never negative."""
        if stamp.boot is not None and stamp.boot == self.boot:
            return max(0.0, self._monotonic() - stamp.monotonic)
        return max(0.0, self._wall() - stamp.wall)  # rebooted (or unknown): the wall clock

    def rebase_delta(self, stamp: Stamp) -> float:
        """How far times saved under ``stamp`` move to land on this clock."""
        return (self.now() - self.elapsed_since(stamp)) - stamp.at

    def to_wall(self, t: float) -> float:
        """A time of this clock as wall time, for display."""
        return self._wall() - (self.now() - t)
