"""The lab VM's container engine: an Engine-API stand-in on a unix socket that moves.

On the platform the default profile imitates, the engine's socket on the host
is made anew at each VM boot, and the socket file of the boot before stays
behind: nothing listens there any more, connecting is refused (FAULTS.md F19).
The lab does the same: boot N serves ``vm/run/engine-N.sock`` (the number
counts every socket the lab's VM ever had, so a drift without a boot moves it
too), and a stopped engine leaves its file, dead.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from pathlib import Path

from talon.lab.procs import module_argv

PROCESS = "vm-engine"
UNIX_PATH_MAX = 107  # sun_path is 108 bytes on Linux (104 on macOS), NUL included


class SocketPathTooLong(ValueError):
    pass


def run_dir(lab_dir: Path) -> Path:
    return lab_dir / "vm" / "run"


def socket_path(lab_dir: Path, number: int) -> Path:
    path = run_dir(lab_dir) / f"engine-{number}.sock"
    if len(os.fsencode(path)) > UNIX_PATH_MAX - 4:  # room for more digits
        raise SocketPathTooLong(
            f"the lab directory {lab_dir} is too long for the engine's unix socket "
            f"({path} is {len(os.fsencode(path))} bytes; the limit is about 100): "
            "use a shorter --dir"
        )
    return path


def argv(path: Path) -> list[str]:
    return module_argv("talon.lab.apps", "engine", "--unix", str(path))


def serving(path: Path, timeout_s: float = 15.0) -> bool:
    """The engine accepts on ``path`` within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as s:
            s.settimeout(0.2)
            s.connect(str(path))
            return True
        time.sleep(0.05)
    return False


def leave_dead(path: Path) -> None:
    """The socket file stays after its engine is gone, refusing connections (as the
    platform's does). A server that removed its file on the way out gets it back."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with socket.socket(socket.AF_UNIX) as dead:  # bound, never listening: refused
        dead.bind(str(path))
