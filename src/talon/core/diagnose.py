"""One snapshot's diagnosis: what the core would classify, and do first, if this
report's failures lasted past their debounce, on this node's platform.

``talon check`` is a single cycle, so debounce (R2) would hide everything; the
diagnosis primes each probe's counter one short of its threshold and runs the
real ``step`` once. Each root cause also names the heal this node can do for it
(what its adapters declared), whatever gate would delay it. Nothing here is
remembered: the daemon keeps real counters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from talon.core.assess import assess, update_counters
from talon.core.model import Action, CoreState, Finding, Report
from talon.core.policy import Heal, heal_for, hint
from talon.core.settings import CoreConfig, Platform
from talon.core.step import step


@dataclass(frozen=True)
class Diagnosis:
    findings: tuple[Finding, ...]  # root causes first, explained ones last
    actions: tuple[Action, ...]  # what a fresh core would emit on this report
    heals: tuple[Heal | None, ...] = ()  # per finding: the heal this node can do, if any
    platform: Platform = field(default_factory=Platform)

    @property
    def roots(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if not f.explained)

    def as_dict(self) -> dict[str, Any]:
        heals = self.heals or (None,) * len(self.findings)
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
                    "hint": hint(f),
                    "heal": None if h is None else {"kind": h.kind.value, "target": h.target},
                }
                for f, h in zip(self.findings, heals, strict=True)
            ],
            "actions": [
                {"kind": a.kind.value, "tier": a.tier, "target": a.target, "reason": a.reason}
                for a in self.actions
            ],
            "platform": {
                "runtime": self.platform.runtime,
                "process_manager": self.platform.process_manager,
                "can": sorted(c.value for c in self.platform.can),
                "engine_service": self.platform.engine_service,
            },
        }


def diagnose(report: Report, now: float, config: CoreConfig) -> Diagnosis:
    primed = {key: policy.threshold - 1 for key, policy in config.probes.items()}
    counters = update_counters(primed, report.results)
    found = assess(report.results, counters, report.facts, 0, config)
    # A fresh state, and no outcomes: what this node's platform can do is in ``config``.
    actions = step(CoreState(counters=primed), report, (), now, config).actions
    heals = tuple(None if f.explained else heal_for(f, config, None) for f in found.findings)
    return Diagnosis(found.findings, actions, heals, config.platform)
