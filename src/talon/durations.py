"""Durations for humans, one way everywhere (stdlib only: the pure core uses it too).

``approx`` for a reading (an uptime, how long ago): ``45s``, ``12m``, ``3.2h``.
``exact`` for what an operator typed or will type (``--for 1h30m``): ``1h30m``.
"""

from __future__ import annotations


def approx(seconds: float) -> str:
    if abs(seconds) < 120:
        return f"{seconds:.0f}s"
    if abs(seconds) < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def exact(seconds: float) -> str:
    """``1h``, ``1h30m``, ``90s`` → ``1m30s``, ``7d``: how an operator writes it."""
    left = max(0, round(seconds))
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, left = divmod(left, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"
