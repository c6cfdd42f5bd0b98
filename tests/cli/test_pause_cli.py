"""``talon pause`` and ``talon resume`` as an operator types them (real processes on a state
directory, no daemon), and their pure parts: durations and probe names (F28)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from talon.cli.pause import parse_duration, unknown_probe
from talon.clock import Clock
from talon.store import StateStore
from tests.support import procs

SERVICES = '[tcp.redis]\naddress = "127.0.0.1:1"\n\n[http.api]\nurl = "http://127.0.0.1:1/"\n'


def talon(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "TALON_CONFIG"}
    env.update(TALON_STATE_DIR=str(home / "state"), NODE_ID="hub")
    return procs.talon_cli(*args, env=env)


def configured(home: Path) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text("")
    (home / "services.toml").write_text(SERVICES)
    return home / "config.toml"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("30m", 1800), ("2h", 7200), ("1d", 86400), ("1h30m", 5400), (" 7D ", 604800)],
)
def test_durations_an_operator_writes(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("30", "'30' is not a duration (seconds? write 30s)"),
        ("an hour", "'an hour' is not a duration"),
        ("1.5h", "is not a duration"),
        ("", "is not a duration"),
        ("0m", "a pause must last more than 0s"),
        ("8d", "longer than the longest pause, 7d"),
        ("169h", "longer than the longest pause, 7d"),
    ],
)
def test_a_bad_duration_says_what_is_wrong(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=re.escape(why)):
        parse_duration(text)


def test_an_unknown_probe_is_named_with_its_close_matches() -> None:
    known = {"tcp.redis", "http.api", "http.apis"}
    assert unknown_probe("http.api", known, "services.toml") is None
    said = unknown_probe("http.ap", known, "services.toml")
    assert said == "no probe 'http.ap' in services.toml (did you mean 'http.api' or 'http.apis'?)"
    said = unknown_probe("script.zzz", known, "services.toml")
    assert (
        said
        == "no probe 'script.zzz' in services.toml (configured: http.api, http.apis, tcp.redis)"
    )


def test_pause_and_resume_without_a_daemon_change_the_state_file(tmp_path: Path) -> None:
    done = talon(tmp_path, "pause", "--for", "90m")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("healing and SOS paused until ")
    assert "(1h30m) by " in done.stdout
    assert done.stdout.rstrip().endswith("(no daemon runs)")
    [pause] = StateStore(tmp_path / "state").load(Clock()).state.pauses
    assert (pause.probe, round(pause.until - pause.since)) == (None, 5400)
    data = json.loads(talon(tmp_path, "status", "--json").stdout)
    [shown] = data["paused"]
    assert shown["probe"] is None
    assert 5300 < shown["remaining_s"] <= 5400
    assert "@" in shown["by"]
    table = talon(tmp_path, "status").stdout
    assert "paused: the whole node (no heal, no agent, no SOS)" in table
    resumed = talon(tmp_path, "resume")
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.startswith("healing and SOS resumed by ")
    assert StateStore(tmp_path / "state").load(Clock()).state.pauses == ()
    assert json.loads(talon(tmp_path, "status", "--json").stdout)["paused"] == []
    assert talon(tmp_path, "resume").stdout.strip() == "no pause is active"


def test_pause_defaults_to_one_hour(tmp_path: Path) -> None:
    assert talon(tmp_path, "pause").returncode == 0
    [pause] = StateStore(tmp_path / "state").load(Clock()).state.pauses
    assert round(pause.until - pause.since) == 3600


def test_a_bad_duration_exits_2_with_a_clear_error_and_changes_nothing(tmp_path: Path) -> None:
    for text, why in (("30", "write 30s"), ("8d", "longest pause, 7d"), ("soon", "not a duration")):
        done = talon(tmp_path, "pause", "--for", text)
        assert done.returncode == 2
        assert "Invalid value for '--for'" in done.stderr
        assert why in done.stderr
        assert "Traceback" not in done.stderr
    assert not (tmp_path / "state" / "state.json").exists()


def test_a_probe_pause_needs_a_configured_probe(tmp_path: Path) -> None:
    config = str(configured(tmp_path))
    done = talon(tmp_path, "-c", config, "pause", "--probe", "http.apj", "--for", "30m")
    assert done.returncode == 2
    assert "no probe 'http.apj'" in done.stderr
    assert "did you mean 'http.api'?" in done.stderr
    assert "Traceback" not in done.stderr
    done = talon(tmp_path, "-c", config, "pause", "--probe", "http.api", "--for", "30m")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("healing of http.api paused until ")
    [pause] = StateStore(tmp_path / "state").load(Clock()).state.pauses
    assert pause.probe == "http.api"
    other = talon(tmp_path, "-c", config, "resume", "--probe", "tcp.redis")
    assert other.stdout.strip() == "no pause of tcp.redis is active"
    done = talon(tmp_path, "-c", config, "resume", "--probe", "http.api")
    assert done.stdout.startswith("healing of http.api resumed by ")
    assert talon(tmp_path, "-c", config, "resume", "--probe", "nope").returncode == 2


def test_pause_with_a_daemon_that_does_not_answer_exits_1_and_leaves_a_command(
    tmp_path: Path,
) -> None:
    """A running daemon (its instance lock, held) busy with a long heal: the pause waits
    for its next cycle boundary as a command with its arguments; the file is not touched."""
    from talon.daemon.commands import Inbox
    from talon.daemon.lock import InstanceLock

    state = tmp_path / "state"
    state.mkdir()
    lock = InstanceLock(state / "talon.lock")
    lock.acquire()
    try:
        done = talon(tmp_path, "-c", str(configured(tmp_path)), "pause", "--for", "2h",
                     "--probe", "tcp.redis", "--wait", "1")  # fmt: skip
    finally:
        lock.release()
    assert done.returncode == 1
    assert "asked the running daemon to pause healing of tcp.redis" in done.stdout
    assert "not confirmed within 1s" in done.stderr
    assert not (state / "state.json").exists()
    [command] = Inbox(state).pending()
    assert (command.verb, command.duration_s, command.probe) == ("pause", 7200.0, "tcp.redis")
