"""ContainerRuntime adapters: colima, lima, a native engine, remote, lab, static and null.

Importing this package is cheap: the platform adapters are imported only when
``factory.build_runtime`` builds the configured kind (see ``kinds``).
"""

from talon.adapters.runtime.base import ContainerRuntime
from talon.adapters.runtime.factory import build_runtime
from talon.adapters.runtime.null import NullRuntime, StaticRuntime

__all__ = ["ContainerRuntime", "NullRuntime", "StaticRuntime", "build_runtime"]
