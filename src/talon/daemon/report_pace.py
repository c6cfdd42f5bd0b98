"""When ``last-probe.json`` is rewritten: every cycle for a usual config, less at thousands.

Building, serialising and replacing the file costs about 0.03 ms per probe on the
2-core reference VM (``make bench-store``: ~1 ms at 100 probes, 25-40 ms at 1000,
150-390 ms at 5000). Up to ``EVERY_CYCLE_UP_TO`` probes it is written after every
cycle, as before. Above that it is written when what an operator reads in it changed
(a probe's key, state, error kind or message), else at most every ``REFRESH_S``
seconds, so its times (``finished_at``, latencies) lag by at most that much. The
daemon's liveness is ``daemon.json`` and ``/health``, both written every cycle.
"""

from __future__ import annotations

from collections.abc import Hashable

from talon.report import CycleReport

EVERY_CYCLE_UP_TO = 500  # probes; ~10 ms a write on the reference VM
REFRESH_S = 300.0  # a large, unchanged report is still rewritten this often


def outcome(report: CycleReport) -> Hashable:
    """What changes the meaning of the report (latencies and times do not)."""
    return tuple((r.key, r.state, r.error_kind, r.message) for r in report.results)


class ReportPace:
    def __init__(self) -> None:
        self._last: Hashable | None = None
        self._written_at: float | None = None

    def due(self, report: CycleReport, now: float) -> bool:
        """Whether to write ``report`` now; a True answer counts as written."""
        if len(report.results) <= EVERY_CYCLE_UP_TO:
            self._last = None
            return True
        seen = outcome(report)
        fresh = self._written_at is not None and now - self._written_at < REFRESH_S
        if fresh and seen == self._last:
            return False
        self._last, self._written_at = seen, now
        return True

    def forget(self) -> None:
        """A write failed: the next cycle writes again."""
        self._last = self._written_at = None
