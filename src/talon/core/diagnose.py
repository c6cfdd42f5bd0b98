"""One snapshot's diagnosis: what the core would classify, and do first, if this
report's failures lasted past their debounce.

``talon check`` is a single cycle, so debounce (R2) would hide everything; the
diagnosis primes each probe's counter one short of its threshold and runs the
real ``step`` once. Nothing here is remembered: the daemon keeps real counters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from talon.core.assess import Finding, assess, update_counters
from talon.core.model import Action, CoreState, Report
from talon.core.policy import REPAIR_HINTS
from talon.core.settings import CoreConfig
from talon.core.step import step


@dataclass(frozen=True)
class Diagnosis:
    findings: tuple[Finding, ...]  # root causes first, explained ones last
    actions: tuple[Action, ...]  # what a fresh core would emit on this report

    @property
    def roots(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if not f.explained)

    def as_dict(self) -> dict[str, Any]:
        return {
            "healthy": not self.findings,
            "root_causes": sorted({f.fault.value for f in self.roots}),
            "findings": [
                {
                    "fault": f.fault.value,
                    "layer": f.layer,
                    "probe": f.probe,
                    "target": f.target,
                    "explained": f.explained,
                    "hint": REPAIR_HINTS.get(f.fault),
                }
                for f in self.findings
            ],
            "actions": [
                {"kind": a.kind.value, "tier": a.tier, "target": a.target, "reason": a.reason}
                for a in self.actions
            ],
        }


def diagnose(report: Report, now: float, config: CoreConfig) -> Diagnosis:
    primed = {key: policy.threshold - 1 for key, policy in config.probes.items()}
    counters = update_counters(primed, report.results)
    found = assess(report.results, counters, report.facts, 0, config)
    _, actions = step(CoreState(counters=primed), report, now, config)
    return Diagnosis(found.findings, tuple(actions))
