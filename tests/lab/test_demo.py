"""`talon demo`, the main job: narrates F1, F3 and F4 correctly and leaves nothing behind."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from talon.lab.demo import run_demo
from talon.lab.substrate import Lab


def test_demo_narrates_each_fault_and_tears_the_lab_down(tmp_path: Path) -> None:
    out = io.StringIO()
    run_demo(False, tmp_path / "lab", Console(file=out, width=200))
    text = out.getvalue()
    f1, rest = text.split("F3:", 1)
    f3, f4 = rest.split("F4:", 1)
    assert "classified split_brain on redis.redis (root cause)" in f1
    assert "would tier 1a bridge_heal → runtime" in f1
    assert "restart_service" not in f1
    assert "would tier 1c restart_service → redis.redis" in f3
    assert "classified runtime_down on tcp.vm_ssh (root cause)" in f4
    assert "(explained by a lower layer)" in f4
    assert "would tier 1b force_cycle → runtime" in f4
    assert "lab down: stopped 8 processes" in text
    status = Lab(tmp_path / "lab").status()
    assert all(pid is None for pid in status["processes"].values())
