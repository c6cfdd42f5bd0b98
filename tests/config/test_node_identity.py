"""NodeIdentity: id, platform, directories; no user path written in code (principle 7)."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

from talon.node import NodeIdentity, expand_path

SRC = Path(__file__).resolve().parents[2] / "src"


def test_node_id_from_env_else_hostname() -> None:
    assert NodeIdentity.detect({"NODE_ID": "hub-1"}).node_id == "hub-1"
    assert NodeIdentity.detect({}).node_id == socket.gethostname()


def test_directories_from_env_with_expansion() -> None:
    env = {
        "HOME": "/srv/h",
        "BASE": "/data",
        "TALON_CONFIG_DIR": "~/cfg",
        "TALON_STATE_DIR": "$BASE/state",
        "TALON_LOG_DIR": "${BASE}/log",
    }
    identity = NodeIdentity.detect(env)
    assert identity.config_dir == Path("/srv/h/cfg")
    assert identity.state_dir == Path("/data/state")
    assert identity.log_dir == Path("/data/log")


def test_default_directories_follow_the_platform_convention(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    for var in ("XDG_CONFIG_HOME", "XDG_STATE_HOME"):
        monkeypatch.delenv(var, raising=False)
    identity = NodeIdentity.detect({})
    assert identity.config_dir == tmp_path / ".config" / "talon"
    assert identity.state_dir == tmp_path / ".local" / "state" / "talon"
    assert str(identity.log_dir).startswith(str(tmp_path))


def test_unknown_variables_stay_visible() -> None:
    assert expand_path("$NOT_SET_ANYWHERE/x", {}) == Path("$NOT_SET_ANYWHERE/x")


def test_platform_and_arch_are_normalised() -> None:
    identity = NodeIdentity.detect({})
    assert identity.platform in ("linux", "macos")
    assert identity.arch in ("amd64", "arm64") or identity.arch


def test_no_user_or_home_path_in_code() -> None:
    """Principle 7: paths come from NodeIdentity, never from a literal."""
    pattern = re.compile(r"/Users/|/home/[a-z]|/root/")
    offenders = [
        f"{path}:{n}"
        for path in SRC.rglob("*.py")
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []
