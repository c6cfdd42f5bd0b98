"""A real wall-clock step for a real `talon run`: Debian's libfaketime, preloaded.

The library answers the process's wall-clock reads (CLOCK_REALTIME) with the real time
plus an offset it re-reads from a file on every call, so a test steps the clock as an NTP
step or a VM resume would, without a hook in Talon. The monotonic clock is left alone
(FAKETIME_DONT_FAKE_MONOTONIC=1). Talon's children must not inherit the library (it makes
``time.sleep`` fail in Python children): a sitecustomize on Talon's PYTHONPATH takes
LD_PRELOAD out of its environment as it starts, once the library is loaded. The FAKETIME_*
variables stay: the library reads them on every call, and without it they mean nothing.
"""

from __future__ import annotations

import glob
from pathlib import Path

SITECUSTOMIZE = """\
import os
os.environ.pop("LD_PRELOAD", None)
"""


def library() -> str:
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))
    if not found:
        raise AssertionError("libfaketime is missing: scripts/setup.sh installs faketime")
    return found[0]


class WallClock:
    """The offset a preloaded process adds to the real wall clock; set it to step the clock."""

    def __init__(self, home: Path) -> None:
        home.mkdir(parents=True, exist_ok=True)
        self.file = home / "faketime.rc"
        self.site = home / "site"
        self.site.mkdir(exist_ok=True)
        (self.site / "sitecustomize.py").write_text(SITECUSTOMIZE)
        self.offset = 0
        self.step(0)

    def step(self, seconds: int) -> None:
        """Move the process's wall clock by ``seconds`` (on top of earlier steps)."""
        self.offset += seconds
        self.file.write_text(f"{self.offset:+d}\n")

    def env(self) -> dict[str, str]:
        return {
            "LD_PRELOAD": library(),
            "FAKETIME_TIMESTAMP_FILE": str(self.file),
            "FAKETIME_NO_CACHE": "1",
            "FAKETIME_CACHE_DURATION": "0",
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",
            "PYTHONPATH": str(self.site),
        }
