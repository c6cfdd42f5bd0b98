"""Where Talon looks for its files when nothing says (issue 20 point 5): on macOS where
the original Rust Talon kept them, on Linux platformdirs' XDG directories as before.
The macOS branch is tested by injecting the platform, with a home of the test's own."""

from __future__ import annotations

from pathlib import Path

import pytest

from talon.node import NodeIdentity


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    for var in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "TALON_CONFIG_DIR", "TALON_STATE_DIR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("TALON_LOG_DIR", raising=False)
    return tmp_path


def test_macos_finds_the_originals_config_dir_and_keeps_state_and_log_where_it_did(
    home: Path,
) -> None:
    env = {"HOME": str(home)}
    before = NodeIdentity.detect(env, platform="macos")
    assert before.platform == "macos"
    assert before.config_dir == home / "Library" / "Application Support" / "talon"  # none yet
    assert before.state_dir == before.log_dir == home / ".local" / "state" / "talon"
    (home / ".config" / "talon").mkdir(parents=True)  # the original's, as its users have it
    assert NodeIdentity.detect(env, platform="macos").config_dir == home / ".config" / "talon"


def test_macos_honours_xdg_and_talons_own_variables(home: Path) -> None:
    env = {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / "xc"),
        "XDG_STATE_HOME": str(home / "xs"),
    }
    (home / "xc" / "talon").mkdir(parents=True)
    identity = NodeIdentity.detect(env, platform="macos")
    assert (identity.config_dir, identity.state_dir) == (home / "xc/talon", home / "xs/talon")
    env.update(TALON_STATE_DIR="~/s", TALON_LOG_DIR="~/l", XDG_STATE_HOME="relative")
    identity = NodeIdentity.detect(env, platform="macos")
    assert (identity.state_dir, identity.log_dir) == (home / "s", home / "l")
    env.pop("TALON_STATE_DIR")  # a relative XDG value is ignored, as the spec says
    assert NodeIdentity.detect(env, platform="macos").state_dir == home / ".local/state/talon"


def test_linux_keeps_platformdirs_xdg_directories(home: Path) -> None:
    identity = NodeIdentity.detect({"HOME": str(home)}, platform="linux")
    assert identity.config_dir == home / ".config" / "talon"
    assert identity.state_dir == home / ".local" / "state" / "talon"
    assert identity.log_dir == home / ".local" / "state" / "talon" / "log"
