"""A fake clock and builders for core scenarios: results in, actions out, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from talon.config.models import HealingConfig
from talon.core import Action, ActionKind, CoreConfig, CoreState, Facts, ProbePolicy, Report, step
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
    healing = HealingConfig(**kw.pop("healing", {}))
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


@dataclass
class Sim:
    config: CoreConfig
    now: float = 1_000_000.0
    state: CoreState = field(default_factory=CoreState)
    actions: list[Action] = field(default_factory=list)

    def tick(
        self, *results: ProbeResult, facts: Facts | None = None, dt: float = 10.0
    ) -> list[Action]:
        facts = facts or Facts()
        self.now += dt
        self.state, out = step(self.state, Report(tuple(results), facts), self.now, self.config)
        self.actions.extend(out)
        return out

    def kinds(self, kind: ActionKind) -> list[Action]:
        return [a for a in self.actions if a.kind is kind]

    def heals(self) -> list[Action]:
        return [a for a in self.actions if a.tier and a.tier.startswith("1")]

    @property
    def faults(self) -> set[Fault]:
        return {f for _, f, explained in self.state.last_faults if not explained}
