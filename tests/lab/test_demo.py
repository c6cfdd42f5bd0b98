"""`talon demo`, the main job: narrates each fault correctly and leaves nothing behind."""

from __future__ import annotations

import io
import re
from pathlib import Path

from rich.console import Console

from talon.lab.demo import run_demo
from talon.lab.substrate import Lab


def test_demo_narrates_each_fault_and_tears_the_lab_down(tmp_path: Path) -> None:
    out = io.StringIO()
    run_demo(False, tmp_path / "lab", Console(file=out, width=200))
    text = out.getvalue()
    f1, rest = text.split("F3:", 1)
    f3, rest = rest.split("F4:", 1)
    f4, rest = rest.split("F6:", 1)
    f6, rest = rest.split("F12:", 1)
    f12, rest = rest.split("F17:", 1)
    f17, rest = rest.split("F19:", 1)
    f19, daemon = rest.split("the daemon: `talon run`", 1)
    assert "Talon can force_cycle, restart_service, uptime, vm_shell here" in text
    assert "classified split_brain on redis.redis (root cause)" in f1
    # the lab's default profile has no forwarder-only restart: the heal is the force-cycle
    assert "would tier 1b force_cycle → runtime" in f1
    assert "bridge_heal" not in f1
    assert "would tier 1c restart_service" not in f1
    assert "would tier 1c restart_service → redis" in f3
    assert "classified runtime_down on tcp.vm_ssh (root cause)" in f4
    assert "(explained by a lower layer)" in f4
    assert "would tier 1b force_cycle → runtime" in f4
    assert "classified rbac_drift on k8s.kubelet_proxy_get (root cause)" in f6
    assert "would tier 1d apply_rbac_guard → rbac" in f6
    assert "classified service_down on http.typesense (root cause)" in f12
    assert "classified network_down on network (root cause)" in f17
    assert "would tier" not in f17
    # the product adapter asks the lab's VM tool where the engine socket is now
    old, new, checked = re.findall(r"engine-(\d+)\.sock", f19)[:3]
    assert int(new) == int(old) + 1
    assert checked == new
    assert "runtime.vm: GET /_ping on " in f19
    assert "reported by `colima status`" in f19
    assert "nothing to classify and nothing to do" in f19
    heal, hold = daemon.split("F5 with the daemon", 1)
    assert "force_cycle" in heal
    assert "bridge_heal" not in heal
    assert "closed" in heal
    assert "recovered" in heal
    assert "force-cycles in this incident: 1" in hold
    assert "signal failed recovery" in hold
    assert "lab down: stopped 13 processes" in text  # the VM's engine too
    status = Lab(tmp_path / "lab").status()
    assert all(pid is None for pid in status["processes"].values())
