"""The core is pure: no clock, no I/O, no randomness, no asyncio, no configuration models
(DESIGN.md, STYLE.md). Checked twice: in the source, and in what ``import talon.core``
actually loads, so that an indirect import is caught too."""

from __future__ import annotations

import ast
import json
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
    "pydantic",
    "talon.config",
    "talon.probes",
    "talon.adapters",
    "talon.store",
    "talon.cli",
    "talon.daemon",
    "talon.actions",
}
# Loaded by the interpreter itself before any import of ours: not the core's doing.
BASELINE = "import sys, json; print(json.dumps(sorted(sys.modules)))"


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


def _modules(code: str) -> set[str]:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(json.loads(done.stdout))


def test_importing_the_core_loads_nothing_impure() -> None:
    baseline = _modules(BASELINE)
    loaded = _modules("import talon.core; " + BASELINE) - baseline
    offenders = sorted(m for m in loaded if any(m == f or m.startswith(f + ".") for f in FORBIDDEN))
    assert offenders == []
    assert "talon.core.step" in loaded  # the check looked at the real thing


def test_the_purity_check_can_fail() -> None:
    """The same check on a module that does load a forbidden one finds it."""
    baseline = _modules(BASELINE)
    loaded = _modules("import talon.core_config; " + BASELINE) - baseline
    assert {"pydantic", "talon.config"} <= loaded


def test_the_cores_windows_are_the_configs_and_default_alike() -> None:
    """The core's plain ``Healing`` is the config's ``[healing]`` minus its timeouts: the
    same names and the same defaults, so neither can drift from the other."""
    from dataclasses import fields

    from talon.config.models import HealingConfig
    from talon.core import Healing
    from talon.core_config import healing_of

    assert healing_of(HealingConfig()) == Healing()
    config_keys = set(HealingConfig.model_fields)
    assert {f.name for f in fields(Healing)} - {"rbac_guard"} <= config_keys
