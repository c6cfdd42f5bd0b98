"""The test side of the FAKE ``launchctl`` and ``systemctl`` in ``fake_pm_tools.py``.

launchd and systemd cannot run here; ``fake_pm_tools.py`` replays the real
tools' documented output (its docstring cites the sources). This module puts
it first on PATH and builds the jobs and units its ``state.json`` holds.
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


def systemd_unit(
    active: str = "active",
    sub: str = "running",
    pid: int = 4242,
    result: str = "success",
    **more: Any,
) -> dict[str, Any]:
    """A unit as ``state.json`` holds it."""
    return {"load": "loaded", "active": active, "sub": sub, "pid": pid, "result": result, **more}


class FakePlatformTools(FakeToolDir):
    """Fake ``launchctl``/``systemctl`` first on PATH; their state and call log in ``root``."""

    def __init__(
        self, root: Path, tools: tuple[str, ...] = ("launchctl", "systemctl"), uid: int = 501
    ) -> None:
        super().__init__(root, SCRIPT, tools)
        self.uid = uid
        self.home = root / "home"
        self.user_units = self.home / ".config" / "systemd" / "user"
        self.system_units = root / "etc-systemd-system"
        if set(tools) != {"launchctl", "systemctl"}:
            self.env["PATH"] = str(self.bin)  # a tool left out is missing, not the host's own
        self.env.update(FAKE_PM_DIR=str(root), HOME=str(self.home))
        self.env.pop("XDG_CONFIG_HOME", None)
        self.set_state({})

    def set_state(self, state: dict[str, Any]) -> None:
        dirs = {"user": str(self.user_units), "system": str(self.system_units)}
        full = {"caller": f"gui/{self.uid}", "unit_dirs": dirs, **state}
        (self.root / "state.json").write_text(json.dumps(full))
