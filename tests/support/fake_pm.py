"""The test side of the FAKE ``launchctl`` in ``fake_pm_tools.py``.

launchd cannot run here; ``fake_pm_tools.py`` replays the real tool's documented
output (its docstring cites the sources). This module puts it first on PATH and
builds the jobs its ``state.json`` holds. systemd is tested for real
(tests/support/systemd.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support.fake_tools import FakeToolDir

SCRIPT = Path(__file__).with_name("fake_pm_tools.py")


def launchd_job(
    state: str = "running", pid: int | None = 4242, last_exit: int | None = None, **more: Any
) -> dict[str, Any]:
    """A job as ``state.json`` holds it (``signal``: e.g. "Terminated: 15")."""
    pid = pid if state == "running" else None
    return {"state": state, "pid": pid, "last_exit": last_exit, **more}


class FakePlatformTools(FakeToolDir):
    """A fake ``launchctl`` first on PATH; its state and call log in ``root``."""

    def __init__(self, root: Path, tools: tuple[str, ...] = ("launchctl",), uid: int = 501) -> None:
        super().__init__(root, SCRIPT, tools)
        self.uid = uid
        self.home = root / "home"
        if "launchctl" not in tools:
            self.env["PATH"] = str(self.bin)  # a tool left out is missing, not the host's own
        self.env.update(FAKE_PM_DIR=str(root), HOME=str(self.home))
        self.set_state({})

    def set_state(self, state: dict[str, Any]) -> None:
        full = {"caller": f"gui/{self.uid}", **state}
        (self.root / "state.json").write_text(json.dumps(full))
