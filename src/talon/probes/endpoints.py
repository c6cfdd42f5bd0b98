"""The endpoint resolver: one service, several ordered paths, one honest answer.

Paths (localhost, the VM address from the runtime adapter, the in-cluster DNS
name) are tried at once, so a hung path costs one timeout, not one per path;
the answer is the first path *in configured order* that succeeded. Every
path's outcome is kept, so the core can tell split-brain (localhost fails, VM
answers) from a service that is really down (every path fails).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from talon.config.probes import EndpointSpec
from talon.probes.result import ErrorKind, Observation, PathOutcome, Status


@dataclass(frozen=True, slots=True)
class Path:
    path_class: str
    host: str
    port: int

    @property
    def target(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@functools.lru_cache(maxsize=4096)
def host_class(host: str) -> str:
    """``localhost`` for loopback targets, ``remote`` for anything else."""
    if host.lower() == "localhost":
        return "localhost"
    try:
        return "localhost" if ipaddress.ip_address(host).is_loopback else "remote"
    except ValueError:
        return "remote"


def plan(
    host: str, port: int, endpoint: EndpointSpec | None, vm_address: str | None
) -> list[Path | PathOutcome]:
    """The paths to try, in order; a path that cannot be tried is an outcome already."""
    if endpoint is None:
        return [Path(host_class(host), host, port)]
    alt_port = endpoint.port or port
    planned: list[Path | PathOutcome] = []
    for path_class in endpoint.paths:
        if path_class == "localhost":
            planned.append(Path("localhost", host, port))
        elif path_class == "vm" and vm_address:
            planned.append(Path("vm", vm_address, alt_port))
        elif path_class == "vm":
            planned.append(
                PathOutcome(
                    "vm",
                    f"?:{alt_port}",
                    False,
                    None,
                    ErrorKind.UNAVAILABLE,
                    "not tried: the container runtime reports no VM address",
                )
            )
        elif endpoint.dns:
            planned.append(Path("dns", endpoint.dns, alt_port))
    return planned


Attempt = Callable[[Path], Awaitable[PathOutcome]]


async def resolve(planned: Sequence[Path | PathOutcome], attempt: Attempt) -> Observation:
    """Try every path concurrently; answer with the first success in order."""
    if len(planned) == 1 and isinstance(planned[0], Path):  # the common case: no extra task
        outcome = await attempt(planned[0])
        status = Status.OK if outcome.ok else Status.CRITICAL
        answered = outcome.path_class if outcome.ok else None
        return Observation(status, outcome.message, outcome.error_kind, (outcome,), answered)
    tasks = {
        i: asyncio.ensure_future(attempt(p)) for i, p in enumerate(planned) if isinstance(p, Path)
    }
    outcomes: list[PathOutcome | None] = [
        p if isinstance(p, PathOutcome) else None for p in planned
    ]
    chosen: int | None = None
    try:
        for i in sorted(tasks):
            outcomes[i] = await tasks[i]
            if outcomes[i].ok:  # type: ignore[union-attr]
                chosen = i
                break
    finally:
        for task in tasks.values():
            task.cancel()
    for i, task in tasks.items():
        if outcomes[i] is None:
            finished = task.done() and not task.cancelled() and task.exception() is None
            path = planned[i]
            assert isinstance(path, Path)
            outcomes[i] = (
                task.result()
                if finished
                else PathOutcome(
                    path.path_class,
                    path.target,
                    False,
                    None,
                    None,
                    "not needed: a preferred path answered",
                )
            )
    final = tuple(o for o in outcomes if o is not None)
    if chosen is not None:
        answer = final[chosen]
        return Observation(Status.OK, answer.message, None, final, answer.path_class)
    tried = [o for o in final if o.tried]
    first = tried[0] if tried else final[0]
    if len(final) == 1:
        summary = final[0].message
    else:
        summary = "; ".join(f"{o.path_class} {o.target}: {o.message}" for o in final)
    return Observation(Status.CRITICAL, summary, first.error_kind, final, None)
