"""A real `talon run` process against a lab, driven and watched from outside.

Used by `talon demo` and by the end-to-end tests. It reads only what an
operator could: /health, the files of the state directory (state.json,
journal.jsonl, daemon.json, incident bundles) and the JSON-lines log. The
daemon is stopped by its pid, always.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from talon.lab.substrate import Lab

Settings = Mapping[str, Mapping[str, Any]]

# Windows short enough for a demo or a test; the same rules as production.
FAST: dict[str, dict[str, Any]] = {
    "": {"check_interval_secs": 1},
    "healing": {
        # The warmup counts from the end of the heal; 4 s covers a restarted forwarder's
        # first transient failures even on a loaded 2-core box.
        "warmup_secs": 4,
        "durability_checks": 3,
        "durability_interval_secs": 1,
        "durability_window_secs": 2,
        "hold_secs": 60,
        "force_cycle_confirm_window_secs": 60,
        "force_cycle_cooldown_secs": 60,
        "bridge_cooldown_secs": 5,
        "restart_cooldown_secs": 5,
        "rbac_cooldown_secs": 5,
        "heal_script_cooldown_secs": 60,
    },
    "escalation": {"critical_threshold_secs": 3600, "agent_cooldown_secs": 5},
    "probes": {"k8s_timeout_secs": 3},
}


def merged(*layers: Settings) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for layer in layers:
        for section, keys in layer.items():
            out[section] = {**out.get(section, {}), **keys}
    return out


class LabDaemon:
    """``lab`` gives the config and the /health port; without a lab, pass ``config``
    and ``health_port`` (the worker's tests need no VM)."""

    def __init__(
        self,
        lab: Lab | None,
        home: Path,
        *args: str,
        config: Path | None = None,
        health_port: int | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.lab = lab
        self.home = home
        self.args = args
        self._config = config
        self._health_port = health_port
        self.state_dir = home / "state"
        self.log_dir = home / "log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.env = {
            **os.environ,
            "TALON_STATE_DIR": str(self.state_dir),
            "TALON_LOG_DIR": str(self.log_dir),
            "NODE_ID": "lab-node",
            **(env or {}),  # e.g. another NODE_ID, or a secret a config names
        }

    # process ----------------------------------------------------------
    def start(self) -> LabDaemon:
        self.home.mkdir(parents=True, exist_ok=True)
        out = open(self.home / "talon.out", "ab")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "talon", "--config", str(self.config), "run", *self.args],
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        out.close()
        return self

    @contextlib.contextmanager
    def running(self) -> Iterator[LabDaemon]:
        """Started, up after its first cycle, stopped (by its pid) after."""
        self.start()
        try:
            self.wait_for(
                "the first cycle", lambda: self.daemon().get("last_cycle", {}).get("finished_at")
            )
            yield self
        finally:
            if self.alive():
                self.stop()

    @property
    def config(self) -> Path:
        if self._config is not None:
            return self._config
        assert self.lab is not None
        return self.lab.config_dir / "config.toml"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM, as a service manager does; SIGKILL only if it does not stop in time."""
        assert self.proc is not None
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
                raise AssertionError(f"talon run ignored SIGTERM for {timeout}s") from None
        return self.proc.returncode

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def output(self) -> str:
        with contextlib.suppress(FileNotFoundError):
            return (self.home / "talon.out").read_text(errors="replace")
        return ""

    # what an operator sees ---------------------------------------------
    def health(self) -> tuple[int, dict[str, Any]]:
        if self._health_port is not None:
            port = self._health_port
        else:
            assert self.lab is not None
            port = self.lab.ports().health
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def journal(self) -> list[dict[str, Any]]:
        return _lines(self.state_dir / "journal.jsonl")

    def begun(self, kind: str | None = None) -> list[dict[str, Any]]:
        return [
            e
            for e in self.journal()
            if e["event"] == "begin" and (kind is None or e["kind"] == kind)
        ]

    def ended(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.journal() if e["event"] == "end" and e["kind"] == kind]

    def state(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads((self.state_dir / "state.json").read_text())
            return data
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def daemon(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads((self.state_dir / "daemon.json").read_text())
            return data
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def log(self) -> list[dict[str, Any]]:
        return _lines(self.log_dir / "talon.jsonl")

    def events(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.log() if e.get("event") == name]

    def closed(self) -> list[dict[str, Any]]:
        return _lines(self.state_dir / "incidents.jsonl")

    def talon(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "talon", "--config", str(self.config), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def wait_for(self, what: str, predicate: Callable[[], Any], timeout: float = 30.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.alive(), (
                f"talon run died while waiting for {what}:\n{self.output()[-3000:]}"
            )
            if value := predicate():
                return value
            time.sleep(0.2)
        raise AssertionError(
            f"timed out after {timeout}s waiting for {what}\nstate: {self.state().get('node')}\n"
            f"journal: {[(e['event'], e.get('kind')) for e in self.journal()]}\n"
            f"output: {self.output()[-3000:]}"
        )

    def cycles(self) -> int:
        return len(self.events("cycle"))


def _lines(path: Path) -> list[dict[str, Any]]:
    try:
        raw = path.read_bytes().splitlines()
    except FileNotFoundError:
        return []
    out = []
    for line in raw:
        with contextlib.suppress(json.JSONDecodeError):
            out.append(json.loads(line))
    return out


@contextlib.contextmanager
def lab_daemon(lab: Lab, home: Path, overrides: Settings = FAST, *args: str) -> Iterator[LabDaemon]:
    """`talon run` against ``lab`` with ``overrides``; up after its first cycle, stopped after."""
    lab.write_talon_config(overrides)
    with LabDaemon(lab, home, *args).running() as run:
        yield run
