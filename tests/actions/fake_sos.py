"""The test side of the FAKE ``imsg``, ``osascript`` and ``secrets`` in ``fake_sos_tools.py``.

Those tools cannot run here (macOS and Messages; a secrets daemon holding real
tokens); the script replays their documented output and exit codes (its
docstring cites the sources). This module puts it first on PATH.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support.fake_tools import FakeToolDir

SCRIPT = Path(__file__).with_name("fake_sos_tools.py")
SOS_TOOLS = ("imsg", "osascript", "secrets")


class FakeSosTools(FakeToolDir):
    """Fakes first on PATH; a tool left out of ``tools`` is missing (PATH is the fakes alone)."""

    def __init__(self, root: Path, tools: tuple[str, ...] = SOS_TOOLS) -> None:
        super().__init__(root, SCRIPT, tools)
        if set(tools) != set(SOS_TOOLS):
            self.env["PATH"] = str(self.bin)  # not the host's own copy of a left-out tool
        self.env["FAKE_SOS_DIR"] = str(root)
        self.set_state({})

    def set_state(self, state: dict[str, Any]) -> None:
        (self.root / "state.json").write_text(json.dumps(state))

    def sent(self) -> list[dict[str, str]]:
        """What imsg or Messages (through osascript) delivered, in order."""
        return list(self.state().get("sent", []))

    def stdins(self) -> list[str]:
        return [entry["stdin"] for entry in self._log()]
