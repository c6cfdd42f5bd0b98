"""`talon run` as a unit of the linux lab's real systemd user manager, watched from outside.

The same driver as ``LabDaemon`` (it reads only what an operator could), but
the process is the manager's: started with ``systemctl --user start``, its pid
is the unit's MainPID, and it is stopped with ``systemctl --user stop`` (the
manager sends SIGTERM and waits, as on a real box). The unit's environment
carries the state and log directories and the node id.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from talon.lab.daemon import FAST, LabDaemon, merged
from talon.lab.linux.box import TALON, LinuxLab

# A box's engine restart takes a moment longer than a lab VM's: the same rules, one more
# second of warmup.
# A restarted engine brings its containers back through their restart policy and health
# checks: on a loaded 2-core box that took more than 5 s (then a regression, a failed
# recovery). The product's default warmup is 120 s; 15 s keeps the test quick.
LINUX_FAST = merged(FAST, {"healing": {"warmup_secs": 15}})


class UnitDaemon(LabDaemon):
    def __init__(self, lab: LinuxLab, home: Path, env: Mapping[str, str] | None = None) -> None:
        super().__init__(
            None,
            home,
            config=lab.config_dir / "config.toml",
            health_port=lab.ports()["health"],
            env=env,
        )
        self.linux = lab

    def start(self) -> UnitDaemon:
        self.home.mkdir(parents=True, exist_ok=True)
        keep = ("TALON_STATE_DIR", "TALON_LOG_DIR", "NODE_ID", "PATH")
        env = {k: self.env[k] for k in keep if k in self.env}
        self.linux.talon_unit(self.config, env)
        self.linux.systemctl("reset-failed", f"{TALON}.service", check=False)
        self.linux.systemctl("start", f"{TALON}.service")
        return self

    @property
    def pid(self) -> int:
        pid = self.linux.main_pid(TALON)
        assert pid is not None, "talon run is not running under the lab's manager"
        return pid

    def alive(self) -> bool:
        return self.linux.main_pid(TALON) is not None

    def stop(self, timeout: float = 20.0) -> int:
        self.linux.systemctl("stop", f"{TALON}.service")
        result = self.linux.systemctl("show", "-p", "ExecMainStatus", "--value", f"{TALON}.service")
        return int(result.stdout.strip() or 0)

    def kill(self) -> None:
        pid = self.pid
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while self.linux.main_pid(TALON) == pid and time.monotonic() < deadline:
            time.sleep(0.05)

    def output(self) -> str:
        with contextlib.suppress(FileNotFoundError):
            return self.linux.log_path(TALON).read_text(errors="replace")
        return ""


@contextlib.contextmanager
def unit_daemon(
    lab: LinuxLab, home: Path, overrides: Mapping[str, Mapping[str, Any]] = LINUX_FAST
) -> Iterator[UnitDaemon]:
    """`talon run` under the lab's manager with ``overrides``; up after its first cycle."""
    lab.write_talon_config(overrides)
    daemon = UnitDaemon(lab, home)
    with daemon.running():
        yield daemon
