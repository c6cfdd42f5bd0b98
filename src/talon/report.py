"""What a cycle saw: value types shared by the probes, the runner, the CLI and the core.

A result says which path answered (``endpoint_class``) and what every path
tried did, so "healthy through a fallback" is never mistaken for "healthy".
Errors are classified (``ErrorKind``), not only counted (R9).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from talon.errors import ErrorKind

__all__ = [
    "CHECK_SCHEMA",
    "DEGRADED",
    "CycleReport",
    "ErrorKind",
    "Observation",
    "PathOutcome",
    "ProbeResult",
    "Status",
    "report_json",
]

CHECK_SCHEMA = "talon.check/v1"
# A probe's state beside the Nagios statuses: ``ok``, but only through a fallback path.
DEGRADED = "degraded"


class Status(enum.StrEnum):
    """Nagios-style states, plus ``skipped`` for disabled probes."""

    OK = "ok"
    WARNING = "warning"
    CRITICAL = "critical"
    UNKNOWN = "unknown"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class PathOutcome:
    """One path of an endpoint: where it went and what happened."""

    path_class: str  # localhost | vm | dns | remote | lan
    target: str
    ok: bool
    latency_ms: float | None = None  # None: not tried
    error_kind: ErrorKind | None = None
    message: str = ""

    @property
    def tried(self) -> bool:
        return self.latency_ms is not None

    def as_dict(self) -> dict[str, Any]:
        return {
            "path_class": self.path_class,
            "target": self.target,
            "ok": self.ok,
            "tried": self.tried,
            "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 3),
            "error_kind": None if self.error_kind is None else self.error_kind.value,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class Observation:
    """What one probe implementation returns, before the runner adds identity."""

    status: Status
    message: str = ""
    error_kind: ErrorKind | None = None
    paths: tuple[PathOutcome, ...] = ()
    endpoint_class: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def failure(cls, kind: ErrorKind, message: str, status: Status | None = None) -> Observation:
        """A failed check: CRITICAL, or UNKNOWN when the probe's own tool could not tell."""
        if status is None:
            status = Status.UNKNOWN if kind.cannot_tell else Status.CRITICAL
        return cls(status, message, kind)


@dataclass(frozen=True, slots=True)
class ProbeResult:
    key: str  # kind.name, unique in a cycle
    name: str
    kind: str
    probe_class: str
    layer: str
    critical: bool
    informational: bool
    tags: tuple[str, ...]
    status: Status
    message: str
    error_kind: ErrorKind | None
    latency_ms: float
    endpoint_class: str | None
    paths: tuple[PathOutcome, ...]
    node_id: str
    platform: str
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """The status is ``ok`` (through whichever path: see ``degraded``)."""
        return self.status is Status.OK

    @property
    def failed(self) -> bool:
        return self.status not in (Status.OK, Status.SKIPPED)

    @property
    def degraded(self) -> bool:
        """Answered, but only through a fallback path: the forwarded localhost path was
        tried and failed while another (the VM's, DNS) answered (F1/F2). Users on the host
        cannot reach it, so it never counts as passed in a pass rate."""
        return (
            self.status is Status.OK
            and self.endpoint_class != "localhost"
            and any(p.tried and not p.ok and p.path_class == "localhost" for p in self.paths)
        )

    @property
    def healthy(self) -> bool:
        """Passed on the path users take: ``ok`` and not ``degraded``."""
        return self.passed and not self.degraded

    @property
    def state(self) -> str:
        """The status, or ``degraded`` for an ``ok`` through a fallback: what counts use."""
        return DEGRADED if self.degraded else self.status.value

    @property
    def critical_failure(self) -> bool:
        """A failure of a critical probe that is worse than a warning."""
        return (
            self.failed
            and self.critical
            and not self.informational
            and self.status is not Status.WARNING
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": self.name,
            "kind": self.kind,
            "class": self.probe_class,
            "layer": self.layer,
            "critical": self.critical,
            "informational": self.informational,
            "tags": list(self.tags),
            "status": self.status.value,
            "passed": self.healthy,
            "degraded": self.degraded,
            "message": self.message,
            "error_kind": None if self.error_kind is None else self.error_kind.value,
            "transient": bool(self.error_kind and self.error_kind.transient),
            "latency_ms": round(self.latency_ms, 3),
            "endpoint_class": self.endpoint_class,
            "paths": [p.as_dict() for p in self.paths],
            "node_id": self.node_id,
            "platform": self.platform,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class CycleReport:
    node_id: str
    platform: str
    arch: str
    started_at: float  # unix seconds, from the injected clock
    finished_at: float
    results: tuple[ProbeResult, ...]

    @property
    def exit_code(self) -> int:
        """0 all ok (or skipped), 1 only non-critical failures, 2 a critical failure (R33)."""
        if any(r.critical_failure for r in self.results):
            return 2
        return 1 if any(r.failed for r in self.results) else 0

    def summary(self) -> dict[str, Any]:
        """Counts by state (``ok`` excludes ``degraded``: each probe is in one of them), and
        the pass rate: passed (ok, not degraded) / every probe not skipped."""
        counts: dict[str, Any] = {s.value: 0 for s in Status}
        counts[DEGRADED] = 0
        for r in self.results:
            counts[r.state] += 1
        counts["total"] = len(self.results)
        counted = len(self.results) - counts[Status.SKIPPED.value]
        counts["passed"] = counts[Status.OK.value]
        counts["pass_rate"] = None if not counted else round(counts["passed"] / counted, 4)
        counts["critical_failures"] = sum(r.critical_failure for r in self.results)
        counts["noncritical_failures"] = sum(
            r.failed and not r.critical_failure for r in self.results
        )
        return counts


def report_json(report: CycleReport, diagnosis: dict[str, Any] | None = None) -> dict[str, Any]:
    """A cycle in the ``talon.check/v1`` schema: ``talon check --json``, ``last-probe.json``."""
    out = {
        "schema": CHECK_SCHEMA,
        "node": {"node_id": report.node_id, "platform": report.platform, "arch": report.arch},
        "started_at": report.started_at,
        "finished_at": report.finished_at,
        "duration_ms": round((report.finished_at - report.started_at) * 1000, 3),
        "exit_code": report.exit_code,
        "summary": report.summary(),
        "probes": [r.as_dict() for r in report.results],
    }
    if diagnosis is not None:
        out["diagnosis"] = diagnosis
    return out
