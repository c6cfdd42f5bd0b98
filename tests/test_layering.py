"""The seams between packages: product adapters, the config, the lab and the kinds registry.

- Product adapters never import ``talon.lab``; the lab registers its own
  stand-ins (entry points), and the registry module names nobody.
- ``talon.config`` and ``talon.adapters`` do not import each other: both use
  ``talon.kinds`` (stdlib only), and the factories take plain values.

Imports are read from the source with ``ast`` (also those inside functions and
under TYPE_CHECKING), so a lazy import cannot hide a dependency.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from talon.adapters.process.factory import build_process_manager
from talon.adapters.process.null import NullProcessManager
from talon.adapters.runtime.factory import build_runtime
from talon.errors import AdapterUnavailable
from talon.kinds import (
    PROCESS_MANAGER_GROUP,
    RUNTIME_GROUP,
    builder,
    detect_process_manager,
    process_manager_kinds,
    runtime_kinds,
)
from talon.lab.runtime import LabRuntime
from talon.lab.services import LabProcessManager
from tests.support.procs import ROOT

SRC = ROOT / "src" / "talon"


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def importers(package: str, of: str) -> list[str]:
    """Files under ``src/talon/<package>`` that import ``of`` or a module inside it."""
    return sorted(
        str(path.relative_to(SRC))
        for path in (SRC / package).rglob("*.py")
        if any(name == of or name.startswith(of + ".") for name in imports_of(path))
    )


def test_product_adapters_never_import_the_lab() -> None:
    assert importers("adapters", "talon.lab") == []


def test_config_and_adapters_do_not_import_each_other() -> None:
    assert importers("config", "talon.adapters") == []
    assert importers("adapters", "talon.config") == []


def test_the_kinds_registry_is_stdlib_only_and_names_nobody() -> None:
    tree = ast.parse((SRC / "kinds.py").read_text())
    assert {m.split(".")[0] for m in imports_of(SRC / "kinds.py")} <= set(sys.stdlib_module_names)
    code = tree.body[1:]  # after the docstring
    words = [n.value for s in code for n in ast.walk(s) if isinstance(n, ast.Constant)]
    words += [n.id for s in code for n in ast.walk(s) if isinstance(n, ast.Name)]
    assert not [w for w in words if isinstance(w, str) and re.search(r"\blab\b", w.lower())]


def test_every_registered_kind_has_a_builder_that_imports() -> None:
    assert {"null", "static", "lab"} <= set(runtime_kinds())
    assert {"auto", "null", "lab"} <= set(process_manager_kinds())
    for kind in runtime_kinds():
        assert callable(builder(RUNTIME_GROUP, kind))
    for kind in process_manager_kinds():
        assert callable(builder(PROCESS_MANAGER_GROUP, kind))


def test_the_lab_process_manager_serves_the_lab_runtime_it_is_given(tmp_path: Path) -> None:
    runtime = build_runtime({"kind": "lab", "lab_dir": str(tmp_path)}, {}, timeout_s=1)
    assert isinstance(runtime, LabRuntime)
    manager = build_process_manager({"kind": "lab"}, {}, runtime=runtime)
    assert isinstance(manager, LabProcessManager)
    assert manager.lab.dir == tmp_path
    # without a lab runtime there is nothing for it to serve
    alone = build_process_manager({"kind": "lab"}, {}, runtime=None)
    assert isinstance(alone, NullProcessManager)


def test_an_unregistered_kind_is_a_clear_error() -> None:
    with pytest.raises(AdapterUnavailable, match=r"\[process_manager\] unknown kind 'upstart'"):
        build_process_manager({"kind": "upstart"}, {})
    with pytest.raises(AdapterUnavailable, match=r"\[runtime\] unknown kind 'hyperv'.*colima"):
        build_runtime({"kind": "hyperv"}, {}, timeout_s=1)


def test_auto_is_detected_through_the_registry() -> None:
    assert detect_process_manager({"kind": "systemd"}, {}) == "systemd"
    url = {"kind": "auto", "supervisord_url": "unix:///tmp/s.sock"}
    assert detect_process_manager(url, {"PATH": ""}) == "supervisord"
    assert detect_process_manager({"kind": "auto"}, {"PATH": ""}) == "null"


def test_config_rejects_an_unknown_process_manager_kind_naming_the_choices() -> None:
    from pydantic import ValidationError

    from talon.config.models import ProcessManagerConfig

    with pytest.raises(ValidationError, match="must be one of auto, lab, launchd"):
        ProcessManagerConfig(kind="upstart")


def test_loading_the_config_does_not_load_an_adapter() -> None:
    code = (
        "import sys\n"
        "from talon.config.models import TalonConfig\n"
        "TalonConfig.model_validate({'runtime': {'kind': 'colima'}, "
        "'process_manager': {'kind': 'systemd'}})\n"
        "loaded = [m for m in sys.modules if m.startswith(('talon.adapters', 'talon.lab'))]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=30)
