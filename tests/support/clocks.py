"""A hand-set clock for tests: a real ``talon.clock.Clock`` whose monotonic clock, wall
clock and boot id the test moves, so a wall-clock jump or a reboot is one assignment."""

from __future__ import annotations

from dataclasses import dataclass

from talon.clock import Clock


@dataclass
class Hands:
    monotonic: float = 5_000.0  # seconds since this "boot"
    wall: float = 1_800_000_000.0
    boot: str = "boot-1"

    def clock(self) -> Clock:
        """A Clock as a new process would build it now (anchored to the wall clock now)."""
        return Clock(
            monotonic=lambda: self.monotonic, wall=lambda: self.wall, boot_id=lambda: self.boot
        )

    def tick(self, seconds: float) -> None:
        """Real time passes: both clocks move."""
        self.monotonic += seconds
        self.wall += seconds

    def jump(self, seconds: float) -> None:
        """The wall clock is stepped (NTP, a VM resumed); the monotonic clock is not."""
        self.wall += seconds

    def reboot(self, down_s: float) -> None:
        """The machine is down ``down_s`` seconds and comes back: a new monotonic clock."""
        self.wall += down_s
        self.monotonic = 10.0
        self.boot = f"{self.boot}+"
