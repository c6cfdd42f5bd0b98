"""CPython's cyclic garbage collector, paced to the probe cycle.

A cycle of a thousand checks holds tens of thousands of objects in flight (a task,
coroutines, futures, a socket and a result per check). With CPython's default
thresholds (700, 10, 10) that runs dozens of young collections a cycle; their
survivors are promoted until a full collection walks the whole heap, most of it
what start-up left (pydantic's validators, aiohttp, the loaded modules, the config).
Measured at 1000 HTTP checks: 10-36 ms of a 0.12 s cycle, finding nothing to free,
since the probes leave no reference cycles (docs/performance.md).

So after start-up, and again after each reload, the daemon settles the collector:

- it collects once and freezes what survived (``gc.freeze``): that heap moves to a
  permanent generation that later collections never walk;
- it raises the young threshold to what a cycle holds in flight
  (``YOUNG_PER_PROBE`` per probe), so a cycle of passing probes runs no collection
  at all; cyclic garbage, where some appears, is still collected, only later.

A reload unfreezes first, so that what only the old config held can be freed, and
the daemon restores CPython's settings when it stops.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass, field

# Container objects one check holds while it is in flight, with room to spare:
# a cycle of passing HTTP checks ran no young collection at this figure.
YOUNG_PER_PROBE = 50


def young_threshold(probes: int, default: int) -> int:
    """Allocations between two young collections: never below CPython's own figure."""
    return max(default, YOUNG_PER_PROBE * probes)


@dataclass
class GcPacing:
    """Settles the collector for a probe count; restores what it found."""

    original: tuple[int, int, int] = field(default_factory=gc.get_threshold)
    settled_for: int | None = None  # the probe count of the last settle, None before

    def settle(self, probes: int) -> None:
        gc.unfreeze()  # after a reload: the old config's objects may be garbage now
        gc.collect()
        gc.freeze()
        young, *older = self.original
        gc.set_threshold(young_threshold(probes, young), *older)
        self.settled_for = probes

    def restore(self) -> None:
        gc.unfreeze()
        gc.set_threshold(*self.original)
        self.settled_for = None
