"""The lab's bookkeeping files, readable without importing the lab itself (stdlib only).

``lab.json`` (the VM address, ports, profile, chosen at the first ``up``) and
``vm/boot.json`` (VM boots: count, when, by whom, whether it runs, and the
engine socket of this boot). The lab's VM tool reads them at every call, so
it must start in milliseconds: it imports this, never the lab's substrate.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def meta_path(lab_dir: Path) -> Path:
    return lab_dir / "lab.json"


def boot_path(lab_dir: Path) -> Path:
    return lab_dir / "vm" / "boot.json"


def read(path: Path) -> dict[str, Any]:
    """A record, or ``{}`` when there is none yet."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    return data if isinstance(data, dict) else {}


def write(path: Path, data: dict[str, Any]) -> None:
    """Whole or not at all: readers in other processes never see half a record."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)
