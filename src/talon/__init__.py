"""Talon: an infrastructure watchdog and self-healing supervisor.

The package is layered as described in DESIGN.md: ``talon.config`` (models and
loading), ``talon.node`` (identity and paths), ``talon.probes`` (probe kinds,
endpoint resolver, concurrent runner), ``talon.adapters`` (process managers,
container runtimes, cluster client, subprocesses) and ``talon.cli``.
"""

__version__ = "0.1.0"
