"""What a built-in stack profile is: plain data and one function, no I/O.

A profile turns its settings (the ``[stack]`` keys, over its own defaults) and
the ``[probes]`` timeouts into probe tables in the services file's own shape
(``kind``, ``name``, the section's keys); the loader validates them with the
same models as the services file, so a profile can only use Talon's own kinds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Timeouts:
    """The ``[probes]`` values a profile reads, as the original's built-ins did."""

    runtime: float  # the VM runtime's own probe
    cluster: float  # the engine, the cluster and its API, the VM-side engine and API checks
    service: float  # services, in the cluster or on the host, and their VM-side witnesses
    critical_after: int  # debounce of the built-in critical probes


@dataclass(frozen=True, slots=True)
class Table:
    """One probe as a services-file section: ``[kind.name]`` with ``keys``."""

    kind: str
    name: str
    keys: dict[str, Any]

    @property
    def key(self) -> str:
        return f"{self.kind}.{self.name}"


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    summary: str
    runtime_kind: str  # the [runtime] kind the stack runs on, when the config names none
    platforms: tuple[str, ...]  # where `talon init` writes it (with that runtime found)
    defaults: Mapping[str, Any]  # every [stack] key it reads -> its default
    build: Callable[[Mapping[str, Any], Timeouts], list[Table]]
