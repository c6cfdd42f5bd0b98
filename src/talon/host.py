"""The host's own resources (memory, disk, load), read with psutil.

``read_resources`` is the adapter (psutil is imported when it is called, never
at start-up); ``resource_findings`` is the pure judgement of what it read. The
findings are shown by ``talon status`` and the status page, and exported as
metrics; they never trigger a heal — a full disk is a human's call.

Thresholds, fixed and documented rather than configurable (Monit's defaults
are in the same range): a filesystem at 90 % or more, less than 10 % of memory
available, or a 5-minute load above twice the CPU count.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

DISK_USED_WARN_PCT = 90.0
MEMORY_AVAILABLE_WARN_PCT = 10.0
LOAD_PER_CPU_WARN = 2.0


def _filesystems(paths: Iterable[Path]) -> list[Path]:
    """One path per filesystem: the state and log directories often share one."""
    seen: set[int] = set()
    out = []
    for path in paths:
        probe = path
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent  # the directory may not exist yet: measure its filesystem
        try:
            device = probe.stat().st_dev
        except OSError:
            continue
        if device not in seen:
            seen.add(device)
            out.append(probe)
    return out


def read_resources(paths: Iterable[Path], now: float) -> dict[str, Any]:
    """Memory, swap, load and the filesystems holding ``paths`` (plus ``/``), as plain JSON."""
    import psutil

    memory = psutil.virtual_memory()
    swap = psutil.swap_memory()
    cpus = psutil.cpu_count() or 1
    load1, load5, load15 = os.getloadavg()
    disks = []
    for path in _filesystems([*paths, Path(os.sep)]):
        try:
            usage = psutil.disk_usage(str(path))
        except OSError:
            continue
        disks.append(
            {
                "path": str(path),
                "total_bytes": usage.total,
                "free_bytes": usage.free,
                "used_percent": round(usage.percent, 1),
            }
        )
    return {
        "at": now,
        "memory": {
            "total_bytes": memory.total,
            "available_bytes": memory.available,
            "available_percent": round(100.0 * memory.available / memory.total, 1),
        },
        "swap": {"total_bytes": swap.total, "used_bytes": swap.used},
        "load": {"1m": round(load1, 2), "5m": round(load5, 2), "15m": round(load15, 2)},
        "cpus": cpus,
        "uptime_s": round(max(0.0, now - psutil.boot_time()), 1),
        "disks": disks,
    }


def resource_findings(resources: dict[str, Any]) -> list[str]:
    """What an operator should look at, one short sentence each; empty when all is well."""
    findings = []
    for disk in resources.get("disks", []):
        if disk["used_percent"] >= DISK_USED_WARN_PCT:
            findings.append(f"filesystem of {disk['path']} is {disk['used_percent']:.0f}% full")
    memory = resources.get("memory")
    if memory and memory["available_percent"] < MEMORY_AVAILABLE_WARN_PCT:
        findings.append(f"only {memory['available_percent']:.0f}% of memory is available")
    load, cpus = resources.get("load"), resources.get("cpus") or 1
    if load and load["5m"] > LOAD_PER_CPU_WARN * cpus:
        findings.append(f"5-minute load {load['5m']:.1f} on {cpus} CPUs")
    return findings
