"""The core is pure: no clock, no I/O, no randomness, no asyncio (DESIGN.md, STYLE.md)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "src" / "talon" / "core"
FORBIDDEN = {
    "asyncio",
    "time",
    "datetime",
    "random",
    "secrets",
    "os",
    "pathlib",
    "socket",
    "subprocess",
    "shutil",
    "tempfile",
    "io",
    "threading",
    "uuid",
    "talon.probes",
    "talon.adapters",
    "talon.store",
    "talon.cli",
    "talon.config.loader",
}


def test_core_modules_import_nothing_impure() -> None:
    offenders = []
    for path in CORE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            offenders += [
                f"{path.name}: {n}"
                for n in names
                if any(n == f or n.startswith(f + ".") for f in FORBIDDEN)
            ]
    assert offenders == []


def test_importing_the_core_starts_no_event_loop_machinery() -> None:
    code = "import sys, talon.core; print(sorted(m for m in ('asyncio', 'talon.probes', 'talon.adapters') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
