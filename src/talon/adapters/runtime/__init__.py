"""ContainerRuntime adapters: colima, lima, docker, lab (later issues), static and null."""

from talon.adapters.runtime.base import ContainerRuntime
from talon.adapters.runtime.null import NullRuntime, StaticRuntime

__all__ = ["ContainerRuntime", "NullRuntime", "StaticRuntime"]
