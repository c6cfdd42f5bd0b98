"""Which of seed 004's hypotheses the evidence of a failed recovery supports (ADR-0244 §5).

``hypothesize(facts)`` reads an evidence snapshot (``talon.daemon.evidence``) and
names one of:

- ``healer_induced_churn``: the healers (Talon or another) explain the
  instability: several runtime actions of Talon's in the last
  ``CHURN_WINDOW_S``, another healer holding the runtime lock, a VM that booted
  after Talon's last runtime action ended (someone else restarted it), or
  boots in a row that did not stay up;
- ``control_path_collapse``: the VM is up (its runtime says so, or it answers
  on its own address) but its control path does not answer (the VM's shell,
  the runtime check, the engine socket): the host agent withdrew it. The
  shell's answer at capture time wins; one channel still answering is none;
- ``stale_usernet_recovery``: the guest answers on its own address (or a
  witness inside the VM vouches for it) while the host's forwarded localhost
  path is dead (H1-usernet);
- ``guest_runtime_failure``: the control path answers, and inside the guest
  the engine, the cluster or a service fails on every path tried;
- ``unclassified``: none of these fits the facts.

Precedence, first supported wins (every hypothesis is still ``considered``):

1. churn: when the healers keep restarting the VM, every symptom is what
   the restarts left behind, and the remedy (stop cycling, simplify) is not
   the symptom's; the symptom that also fits is named in ``why``;
2. control-path collapse: the host agent carries the control path and the
   forwards alike; without it, dead forwards are its consequence (a lower
   layer that is down explains the failures above it);
3. stale usernet: a witnessed, specific split (localhost dead, guest alive);
4. guest runtime failure: something inside fails while the control path
   answers (a dead forward only imitates it when no VM path was tried);
5. unclassified.

Pure and total: any input, whatever its shape, gives a ``Hypothesis``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from talon.durations import approx
from talon.evidence.healers import RUNTIME_ACTIONS

CHURN = "healer_induced_churn"
COLLAPSE = "control_path_collapse"
USERNET = "stale_usernet_recovery"
GUEST = "guest_runtime_failure"
UNCLASSIFIED = "unclassified"
PRECEDENCE = (CHURN, COLLAPSE, USERNET, GUEST)

CHURN_WINDOW_S = 900.0  # "recent": the last 15 minutes
CHURN_ACTIONS = 2  # runtime actions in the window: one is the recovery under test
CHURN_BOOTS = 2  # short boots in a row
BOOT_SLACK_S = 30.0  # uptime and journal times are read at slightly different moments
NOT_RUN = frozenset({"refused", "skipped", "shadow"})  # never touched the VM
SOCKET_DEAD = frozenset({"refused", "timeout", "reset", "empty_reply", "unreachable"})
CANNOT_TELL = frozenset({"tool_missing", "tool_timeout", "stopped", "unavailable"})
GUEST_LAYERS = frozenset({"runtime", "cluster", "service"})
ENGINE_KINDS = frozenset({"container"})  # the probe kind that asks an engine
WHY_LIMIT = 400


@dataclass(frozen=True, slots=True)
class Considered:
    name: str
    supported: bool
    fact: str  # the fact that decided

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "supported": self.supported, "fact": self.fact}


@dataclass(frozen=True, slots=True)
class Hypothesis:
    name: str
    why: str  # one sentence naming the facts
    considered: tuple[Considered, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "why": self.why,
            "considered": [c.as_dict() for c in self.considered],
        }

    def line(self) -> str:
        """The notice's line."""
        return f"hypothesis: {self.name} — {self.why}"


def unclassified(why: str) -> Hypothesis:
    return Hypothesis(UNCLASSIFIED, _bounded(why), ())


def wants_hypothesis(moment: object) -> bool:
    """The captures that name a hypothesis: a failed recovery and a recurrence."""
    text = moment.lower() if isinstance(moment, str) else ""
    return "regressed" in text or "recurrence" in text


# the decision ------------------------------------------------------------------------


def hypothesize(facts: object) -> Hypothesis:
    snap = _map(facts)
    probes = [p for p in (_probe(x) for x in _seq(snap.get("probes"))) if p is not None]
    split = {
        _text(_map(c).get("probe"))
        for c in _seq(snap.get("classification"))
        if _map(c).get("fault") == "split_brain"
    }
    runtime = _runtime(snap.get("runtime"))
    control, control_fact = _control(probes, runtime)
    vm_up, vm_fact = _vm_up(probes, runtime)
    forwards = [p.key for p in probes if p.forward_only]
    witnessed = [p.key for p in probes if p.counts and p.key in split and not p.forward_only]
    guest = [p for p in probes if p.guest_side(control)]

    considered = (
        _churn(snap, runtime),
        _collapse(control, control_fact, vm_up, vm_fact),
        _usernet(forwards, witnessed, control, control_fact),
        _guest(guest, control, control_fact),
    )
    chosen = next((c for c in considered if c.supported), None)
    if chosen is None:
        why = "none fits: " + "; ".join(dict.fromkeys(c.fact for c in considered))
        return Hypothesis(UNCLASSIFIED, _bounded(why), considered)
    why = chosen.fact
    also = [c.name for c in considered if c.supported and c is not chosen]
    if chosen.name == CHURN and also:
        why += f"; the symptoms also fit {', '.join(also)}"
    return Hypothesis(chosen.name, _bounded(why), considered)


def _collapse(
    control: bool | None, control_fact: str, vm_up: bool | None, vm_fact: str
) -> Considered:
    if control is not False:
        return Considered(COLLAPSE, False, control_fact)
    if vm_up is not True:
        return Considered(COLLAPSE, False, f"{control_fact}, but {vm_fact}")
    return Considered(COLLAPSE, True, f"{vm_fact}, yet {control_fact}")


def _usernet(
    forwards: Sequence[str], witnessed: Sequence[str], control: bool | None, control_fact: str
) -> Considered:
    seen = []
    if forwards:
        seen.append(f"{_names(forwards)} answered on the guest's own address")
    if witnessed:
        seen.append(f"a witness inside the VM vouched for {_names(witnessed)}")
    if not seen:
        return Considered(USERNET, False, "no probe failed on localhost while the guest answered")
    said = "the forwarded localhost path is dead while " + " and ".join(seen)
    if control is False:
        return Considered(USERNET, False, f"{said}, but {control_fact}")
    return Considered(USERNET, True, said)


def _guest(guest: Sequence[_Probe], control: bool | None, control_fact: str) -> Considered:
    if control is not True:
        return Considered(GUEST, False, control_fact)
    if not guest:
        return Considered(GUEST, False, f"{control_fact} and nothing inside the guest failed")
    said = "; ".join(f"{p.key} ({p.message[:60]})" if p.message else p.key for p in guest[:3])
    return Considered(GUEST, True, f"{control_fact}, yet inside the guest {said}")


# facts -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Path:
    path_class: str
    ok: bool
    tried: bool


@dataclass(frozen=True, slots=True)
class _Probe:
    key: str
    kind: str
    layer: str
    passed: bool
    counts: bool  # a failure that says something about infrastructure
    error_kind: str
    message: str
    paths: tuple[_Path, ...]

    @property
    def failed(self) -> bool:
        return not self.passed and self.counts

    @property
    def localhost_failed(self) -> bool:
        return any(p.tried and not p.ok and p.path_class == "localhost" for p in self.paths)

    @property
    def guest_answered(self) -> bool:
        return any(p.ok and p.path_class in ("vm", "dns") for p in self.paths)

    @property
    def forward_only(self) -> bool:
        """Dead on the forwarded path, alive on the guest's own: the split of H1."""
        return self.counts and self.localhost_failed and self.guest_answered

    @property
    def socket_dead(self) -> bool:
        return self.failed and self.kind in ENGINE_KINDS and self.error_kind in SOCKET_DEAD

    def guest_side(self, control: bool | None) -> bool:
        """Failing inside the guest: on every path tried, one of them the guest's own."""
        if not self.failed or self.layer not in GUEST_LAYERS or self.socket_dead:
            return False
        if self.kind == "runtime":  # the runtime check fails while the VM's shell answers
            return control is True
        tried = [p for p in self.paths if p.tried]
        if not tried:
            return True  # an inside check: the engine's, the cluster's, a container's
        return not any(p.ok for p in tried) and any(p.path_class != "localhost" for p in tried)


def _probe(raw: object) -> _Probe | None:
    m = _map(raw)
    key = _text(m.get("key"))
    status = _text(m.get("status"))
    if not key or status == "skipped":
        return None
    flag = m.get("passed")
    # A warning (a VM up only briefly, a script's 1) is no failure of a path.
    passed = status in ("ok", "warning") if status else flag is True
    error_kind = _text(m.get("error_kind"))
    counts = (
        m.get("informational") is not True
        and _text(m.get("class")) != "app"
        and status != "unknown"
        and error_kind not in CANNOT_TELL
    )
    paths = tuple(
        _Path(_text(pm.get("path_class")), pm.get("ok") is True, pm.get("tried") is not False)
        for pm in (_map(p) for p in _seq(m.get("paths")))
    )
    return _Probe(
        key=key,
        kind=_text(m.get("kind")),
        layer=_text(m.get("layer")),
        passed=passed,
        counts=counts,
        error_kind=error_kind,
        message=_text(m.get("message"))[:120],
        paths=paths,
    )


def _control(probes: Sequence[_Probe], runtime: Mapping[Any, Any]) -> tuple[bool | None, str]:
    """Does the VM's control path answer? The shell at capture time is the freshest word."""
    uptime = _num(runtime.get("uptime_s"))
    if uptime is not None:
        return True, f"the VM's shell answered at capture (up {approx(uptime)})"
    runtime_checks = [p for p in probes if p.kind == "runtime" and p.counts]
    failed = [p for p in runtime_checks if not p.passed] + [p for p in probes if p.socket_dead]
    if failed:
        p = failed[0]
        said = f"{p.key} failed ({p.message})" if p.message else f"{p.key} failed"
        shell = " and the VM's shell gave no uptime" if "uptime_s" in runtime else ""
        return False, f"its control path did not answer: {said}{shell}"
    passed = [p for p in runtime_checks if p.passed]
    if passed:
        # The host agent carries the socket and the shell alike: one answering is no collapse.
        silent = ", though the VM's shell gave no uptime" if "uptime_s" in runtime else ""
        return True, f"the control path answered ({passed[0].key} passed{silent})"
    return None, "the control path's state is unknown (no runtime check, no shell answer)"


def _runtime(value: object) -> Mapping[Any, Any]:
    """The runtime's facts; a wrapping runtime (the lab's) keeps its product's in ``adapter``."""
    outer = _map(value)
    return {**outer, **_map(outer.get("adapter"))}


def _vm_up(probes: Sequence[_Probe], runtime: Mapping[Any, Any]) -> tuple[bool | None, str]:
    answered = [p.key for p in probes if p.guest_answered]
    if answered:
        return True, f"the VM is up ({_names(answered)} answered on its own address)"
    status = _map(runtime.get("status"))
    instance = _text(_map(runtime.get("instance_info")).get("status"))
    name = _text(runtime.get("runtime")) or "the runtime"
    if status.get("answered") is True or instance == "Running":
        return True, f"the VM is up ({name} reports it running)"
    if status.get("answered") is False or instance not in ("", "Running"):
        said = _text(status.get("said")) or instance
        return False, f"the VM itself is not running ({name}: {said[:120]})"
    return None, "nothing says the VM itself is up"


def _churn(snap: Mapping[Any, Any], runtime: Mapping[Any, Any]) -> Considered:
    """What says the healers made the instability (or, if nothing does, what was seen)."""
    healers = _map(snap.get("healers"))
    boots = _map(snap.get("boots"))
    actions = [a for a in map(_map, _seq(healers.get("actions"))) if _runtime_action(a)]
    ran = [
        a
        for a in actions
        if _text(a.get("outcome")) not in NOT_RUN
        and (ago := _num(a.get("began_ago_s"))) is not None
        and 0 <= ago <= CHURN_WINDOW_S
    ]
    window = approx(CHURN_WINDOW_S)
    said = f"Talon ran {len(ran)} runtime action(s) in the last {window}"
    if len(ran) >= CHURN_ACTIONS:
        return _supported(CHURN, f"{said}: {_counted(_text(a.get('kind')) for a in ran)}")
    if healers.get("others_busy") is True:
        return _supported(CHURN, "another healer held the runtime lock at the last reading")
    uptime = _num(runtime.get("uptime_s"))
    uptime = uptime if uptime is not None else _num(boots.get("vm_uptime_s"))
    ended = [
        (ago, _text(a.get("kind")))
        for a in actions
        if (ago := _num(a.get("ended_ago_s"))) is not None and ago >= 0
    ]
    if uptime is not None and ended and uptime < CHURN_WINDOW_S:
        since, kind = min(ended)
        if uptime + BOOT_SLACK_S < since:
            return _supported(
                CHURN,
                f"the VM booted {approx(uptime)} ago, after Talon's last runtime action "
                f"({kind}) ended {approx(since)} ago: something other than Talon restarted it",
            )
    short = _num(boots.get("short_boots"))
    if short is not None and short >= CHURN_BOOTS:
        return _supported(CHURN, f"the VM booted {short:.0f} times in a row without staying up")
    up = "" if uptime is None else f" and the VM has been up {approx(uptime)}"
    return Considered(CHURN, False, f"{said}{up}")


def _runtime_action(action: Mapping[Any, Any]) -> bool:
    return _text(action.get("kind")) in RUNTIME_ACTIONS


def _supported(name: str, fact: str) -> Considered:
    return Considered(name, True, fact)


# total readers -----------------------------------------------------------------------


def _map(value: object) -> Mapping[Any, Any]:
    return value if isinstance(value, Mapping) else {}


def _seq(value: object) -> Sequence[Any]:
    return value if isinstance(value, list | tuple) else ()


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _num(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _names(names: Iterable[str]) -> str:
    listed = list(dict.fromkeys(n for n in names if n))
    more = f" and {len(listed) - 3} more" if len(listed) > 3 else ""
    return ", ".join(listed[:3]) + more


def _counted(names: Iterable[str]) -> str:
    counts = Counter(names)
    return ", ".join(f"{n} ×{c}" if c > 1 else n for n, c in counts.items())


def _bounded(text: str) -> str:
    return text if len(text) <= WHY_LIMIT else text[: WHY_LIMIT - 1] + "…"
