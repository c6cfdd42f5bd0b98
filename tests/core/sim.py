"""A fake clock and builders for core scenarios: results in, actions out, no I/O.

``Sim.tick`` is one cycle as ``Watch.run_once`` runs it: a step with the report,
then the inline heals' outcomes fed back in follow-up steps of the same cycle;
agents and SOS report at the next tick (they run in the background). Every heal
reports ``done`` unless the test scripts another outcome for its kind.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from talon.core import (
    Action,
    ActionKind,
    ActionOutcome,
    ActionStatus,
    CoreConfig,
    CoreState,
    Facts,
    Healing,
    ProbePolicy,
    Report,
    Step,
    step,
)
from talon.core.model import HEALS, TIERS
from talon.errors import ErrorKind
from talon.faults import Fault
from talon.report import PathOutcome, ProbeResult, Status


def policy(
    key: str,
    *,
    critical: bool = True,
    threshold: int = 1,
    layer: str = "service",
    cls: str = "service",
    **kw: Any,
) -> ProbePolicy:
    kind = key.split(".")[0]
    return ProbePolicy(
        key=key,
        kind=kind,
        probe_class=cls,
        layer=layer,
        critical=critical,
        informational=kw.pop("informational", False),
        threshold=threshold,
        restart_target=kw.pop("restart_target", key),
        **kw,
    )


def config(*policies: ProbePolicy, **kw: Any) -> CoreConfig:
    knobs = dict(kw.pop("healing", {}))
    if "rbac_guard_manifest" in knobs:  # the config's key; the core only needs to know
        knobs["rbac_guard"] = bool(knobs.pop("rbac_guard_manifest"))
    healing = Healing(**knobs)
    return CoreConfig(
        node_id="n1",
        probes={p.key: p for p in policies},
        healing=healing,
        cloud_agent=kw.pop("cloud_agent", True),
        local_agent=kw.pop("local_agent", True),
        **kw,
    )


def path(path_class: str, ok: bool, error: ErrorKind | None = None) -> PathOutcome:
    return PathOutcome(
        path_class,
        f"{path_class}:1",
        ok,
        1.0,
        None if ok else error or ErrorKind.REFUSED,
        "ok" if ok else "refused",
    )


def result(
    key: str,
    ok: bool = True,
    error: ErrorKind | None = None,
    paths: tuple[PathOutcome, ...] = (),
    endpoint: str | None = None,
    status: Status | None = None,
) -> ProbeResult:
    status = status or (Status.OK if ok else Status.CRITICAL)
    kind = key.split(".")[0]
    return ProbeResult(
        key=key,
        name=key.split(".", 1)[1],
        kind=kind,
        probe_class="service",
        layer="service",
        critical=True,
        informational=False,
        tags=(),
        status=status,
        message="ok" if ok else "down",
        error_kind=None if ok else (error or ErrorKind.REFUSED),
        latency_ms=1.0,
        endpoint_class=endpoint,
        paths=paths,
        node_id="n1",
        platform="linux",
    )


def split(key: str) -> ProbeResult:
    """Localhost dead, the VM path answers: the resolver says ok via 'vm'."""
    return result(key, True, paths=(path("localhost", False), path("vm", True)), endpoint="vm")


def down(key: str, error: ErrorKind = ErrorKind.REFUSED) -> ProbeResult:
    return result(
        key, False, error, paths=(path("localhost", False, error), path("vm", False, error))
    )


def up(key: str) -> ProbeResult:
    return result(key, True, paths=(path("localhost", True),), endpoint="localhost")


Script = dict[ActionKind, ActionStatus | list[ActionStatus]]
ROUNDS = 4  # as Watch.run_once: follow-up steps per cycle


@dataclass
class Sim:
    config: CoreConfig
    now: float = 1_000_000.0
    state: CoreState = field(default_factory=CoreState)
    actions: list[Action] = field(default_factory=list)
    script: Script = field(default_factory=dict)  # kind -> its outcome(s); default done
    steps: list[Step] = field(default_factory=list)
    outcomes: list[ActionOutcome] = field(default_factory=list)  # every outcome reported
    later: list[ActionOutcome] = field(default_factory=list)  # background: the next tick
    cycles: int = 0

    def tick(
        self,
        *results: ProbeResult,
        facts: Facts | None = None,
        dt: float = 10.0,
        stamp: str | None = None,
    ) -> list[Action]:
        self.now += dt
        self.cycles += 1
        report = Report(tuple(results), facts or Facts(), stamp or f"t{self.cycles}")
        inbox, self.later = self.later, []
        done = self._step(report, inbox)
        out = list(done.actions)
        for _ in range(ROUNDS):
            now = self._report(done.actions)
            if not now:
                break
            done = self._step(None, now)
            out += done.actions
        self.actions.extend(out)
        return out

    def _step(self, report: Report | None, outcomes: Sequence[ActionOutcome]) -> Step:
        done = step(self.state, report, outcomes, self.now, self.config)
        self.state = done.state
        self.steps.append(done)
        return done

    def _report(self, actions: Sequence[Action]) -> list[ActionOutcome]:
        """The inline heals' outcomes now; agents' and SOS' at the next tick."""
        now = []
        for a in actions:
            if a.kind not in TIERS:
                continue
            outcome = ActionOutcome(a.key, self.outcome_of(a.kind), "", self.now)
            self.outcomes.append(outcome)
            (now if a.kind in HEALS else self.later).append(outcome)
        return now

    def outcome_of(self, kind: ActionKind) -> ActionStatus:
        scripted = self.script.get(kind, ActionStatus.DONE)
        if isinstance(scripted, list):
            return scripted.pop(0) if len(scripted) > 1 else scripted[0]
        return scripted

    def kinds(self, kind: ActionKind) -> list[Action]:
        return [a for a in self.actions if a.kind is kind]

    def heals(self) -> list[Action]:
        return [a for a in self.actions if a.tier and a.tier.startswith("1")]

    @property
    def faults(self) -> set[Fault]:
        return {f for _, f, explained in self.state.last_faults if not explained}
