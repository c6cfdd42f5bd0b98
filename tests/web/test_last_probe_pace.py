"""last-probe.json at thousands of probes (issue 21, point 5): written when an outcome
changed or every REFRESH_S, every cycle for a usual config. The cost is measured by
`make bench-store`, never here."""

from __future__ import annotations

from talon.daemon.report_pace import EVERY_CYCLE_UP_TO, REFRESH_S, ReportPace
from talon.report import CycleReport, Status
from tests.core.sim import result


def _cycle(count: int, down: int | None = None) -> CycleReport:
    results = tuple(
        result(f"http.s{i}", status=Status.CRITICAL if i == down else Status.OK)
        for i in range(count)
    )
    return CycleReport("n1", "linux", "amd64", 1.0, 2.0, results)


def test_a_usual_config_writes_every_cycle() -> None:
    pace, small = ReportPace(), _cycle(3)
    assert all(pace.due(small, t) for t in (0.0, 1.0, 2.0))


def test_a_large_config_writes_on_change_and_every_refresh() -> None:
    pace, n = ReportPace(), EVERY_CYCLE_UP_TO + 1
    assert pace.due(_cycle(n), 0.0)  # the first
    assert not pace.due(_cycle(n), 60.0)  # nothing changed
    assert pace.due(_cycle(n, down=7), 120.0)  # a probe failed
    assert not pace.due(_cycle(n, down=7), 180.0)
    assert pace.due(_cycle(n, down=7), 120.0 + REFRESH_S)  # the times may lag this much
    pace.forget()  # a failed write: the next cycle writes again
    assert pace.due(_cycle(n, down=7), 121.0 + REFRESH_S)
