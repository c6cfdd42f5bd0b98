"""A directory of FAKE command-line tools for tests, first on PATH.

Each tool is a small sh wrapper that runs a fake-tool script (``python -S
SCRIPT TOOL ARGS``); the script keeps its state in ``root/state.json`` and
appends every call (argv and pid) to ``root/calls.jsonl``. The scripts say
which real tools they fake and where their output formats come from.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from talon.adapters.command import exec_env


class FakeToolDir:
    """``root/bin`` holds a wrapper per tool; ``env`` puts it first on PATH."""

    def __init__(self, root: Path, script: Path, tools: tuple[str, ...]) -> None:
        self.root = root
        self.bin = root / "bin"
        self.bin.mkdir(parents=True, exist_ok=True)
        for tool in tools:
            wrapper = self.bin / tool
            wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -S "{script}" {tool} "$@"\n')
            wrapper.chmod(0o755)
        self.env = exec_env([str(self.bin)])

    def state(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads((self.root / "state.json").read_text())
        return loaded

    def _log(self) -> list[dict[str, Any]]:
        path = self.root / "calls.jsonl"
        lines = path.read_text().splitlines() if path.exists() else []
        return [json.loads(line) for line in lines if line]

    def calls(self) -> list[list[str]]:
        """Every argv, in order, the tool name first."""
        return [entry["argv"] for entry in self._log()]

    def pids(self) -> list[int]:
        return [int(entry["pid"]) for entry in self._log()]
