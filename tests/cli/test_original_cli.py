"""The original Rust Talon's command line (issue 20 point 1): bare `talon` is the daemon,
`--check`, `--status`, `--worker-only`, `validate`; and EPIPE changes no exit code.

Real processes: `python -m talon` through the console script's `main()`, real pipes, a
real pty for "stderr is a terminal"."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from talon.lab.daemon import LabDaemon
from tests.support import procs

SERVICES = """\
[script.ok]
command = "true"
[script.bad]
command = "echo disk full; exit 2"
critical = true
[script.off]
command = "true"
enabled = false
"""


@pytest.fixture
def node(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A config with a passing, a failing (critical) and a disabled probe; its own dirs."""
    (tmp_path / "config.toml").write_text("")
    (tmp_path / "services.toml").write_text(SERVICES)
    env = {k: v for k, v in os.environ.items() if k != "TALON_CONFIG"}
    env.update(TALON_STATE_DIR=str(tmp_path / "state"), TALON_LOG_DIR=str(tmp_path / "log"))
    return tmp_path / "config.toml", env


def test_the_original_flags_print_the_original_shapes(node: tuple[Path, dict[str, str]]) -> None:
    config, env = node
    check = procs.talon_cli("-c", str(config), "--check", env=env)
    assert (check.returncode, check.stderr) == (0, "")  # failing probes: still 0, as the original
    results = json.loads(check.stdout)
    assert [(r["name"], r["passed"]) for r in results] == [
        ("script:ok", True),
        ("script:bad", False),
    ]
    assert results[1]["output"] == "disk full"
    assert all(set(r) == {"name", "passed", "output", "duration_ms"} for r in results)

    status = procs.talon_cli("-c", str(config), "--status", env=env)
    assert status.returncode == 0
    assert json.loads(status.stdout) == {
        "current_state": "Healthy",
        "consecutive_failures": 0,
        "last_heal_time": None,
        "last_agent_time": None,
        "last_sos_time": None,
        "last_probe_results": [],
        "worker_restarts": 0,
    }

    validate = procs.talon_cli("-c", str(config), "--validate", env=env)
    summary = json.loads(validate.stdout)
    assert validate.returncode == 0
    assert summary["config_path"] == str(config)
    assert summary["services_path"] == str(config.parent / "services.toml")
    assert (summary["http_probe_count"], summary["launchd_probe_count"]) == (0, 0)
    assert summary["script_probe_count"] == 3

    worker = procs.talon_cli("-c", str(config), "--worker-only", env=env)  # = run --worker-only
    assert worker.returncode == 2
    assert "--worker-only needs a [worker] section" in worker.stderr

    both = procs.talon_cli("-c", str(config), "--check", "status", env=env)
    assert both.returncode == 2
    assert "--check is a command of its own" in both.stderr


def test_the_originals_own_state_files_in_the_state_dir_are_read_without_a_crash(
    node: tuple[Path, dict[str, str]],
) -> None:
    """On macOS Talon's state directory is the original's: its state.json and its
    last-probe.json (a bare array) are there until Talon's first cycle replaces them."""
    config, env = node
    state = Path(env["TALON_STATE_DIR"])
    state.mkdir()
    probe = {"name": "colima", "passed": False, "output": "timeout after 5s", "duration_ms": 5003}
    (state / "last-probe.json").write_text(json.dumps([probe]))
    legacy = {"current_state": "Degraded", "consecutive_failures": 2, "last_probe_results": []}
    (state / "state.json").write_text(json.dumps({**legacy, "worker_restarts": 1}))
    for args in (("status", "--json"), ("--status",)):
        done = procs.talon_cli("-c", str(config), *args, env=env)
        assert (done.returncode, done.stderr) == (0, ""), args
    assert json.loads(done.stdout)["last_probe_results"] == []  # not Talon's report: none


def _into_a_closed_pipe(config: Path, env: dict[str, str], *args: str) -> tuple[int, str]:
    """Run `talon ARGS` with stdout a pipe whose reader has gone (`| head -c 0`)."""
    read, write = os.pipe()
    os.close(read)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "talon", "-c", str(config), *args],
            stdout=write,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
    finally:
        os.close(write)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err


def test_a_reader_that_closed_the_pipe_changes_no_exit_code(
    node: tuple[Path, dict[str, str]],
) -> None:
    config, env = node
    # (the exit code each has with a reader; click alone would exit 1 on EPIPE)
    for args, code in (
        (("--check",), 0),
        (("check", "--json"), 2),  # the critical failure's code, not EPIPE's
        (("status",), 0),
        (("config",), 0),
    ):
        assert _into_a_closed_pipe(config, env, *args) == (code, ""), args


@contextlib.contextmanager
def _pty() -> Iterator[tuple[int, list[bytes]]]:
    """A terminal for a child's stderr: yield the child's end and what it wrote so far."""
    master, child_end = pty.openpty()
    seen: list[bytes] = []

    def drain() -> None:
        with contextlib.suppress(OSError):  # EIO: every writer closed its end
            while chunk := os.read(master, 4096):
                seen.append(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        yield child_end, seen
    finally:
        with contextlib.suppress(OSError):
            os.close(child_end)
        reader.join(5)
        os.close(master)


class BareTalon(LabDaemon):
    """`talon --config X` with no command, as launchd's KeepAlive job runs it."""

    stderr: int = subprocess.DEVNULL

    def start(self) -> BareTalon:
        self.home.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "talon", "--config", str(self.config)],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=self.stderr,
        )
        return self


def test_bare_talon_is_the_daemon_says_so_on_a_terminal_and_serves_the_original_health(
    tmp_path: Path,
) -> None:
    port = procs.free_port()
    config = tmp_path / "config.toml"
    config.write_text(f'check_interval_secs = 1\n[health]\nbind = "127.0.0.1:{port}"\n')
    (tmp_path / "services.toml").write_text('[script.ok]\ncommand = "true"\n')
    began = time.time()
    with _pty() as (terminal, seen):
        run = BareTalon(None, tmp_path / "talon", config=config, health_port=port)
        run.stderr = terminal
        with run.running():
            code, health = run.health()
            assert run.stop() == 0  # SIGTERM, as launchd stops it
    said = b"".join(seen).decode(errors="replace")
    assert said.startswith("talon: running the daemon (= talon run)"), said[:300]
    assert "`talon --help` lists the commands" in said
    assert code == 200
    assert health["state"] == "healthy"  # Talon's key; the original's states lower-cased
    original = {k: health[k] for k in ("ok", "probe_count", "failed_probe_count", "failed_probes")}
    assert original == {"ok": True, "probe_count": 1, "failed_probe_count": 0, "failed_probes": []}
    assert (health["consecutive_failures"], health["worker_restarts"]) == (0, 0)
    assert began - 1 <= health["updated_at_unix"] <= time.time()
