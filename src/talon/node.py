"""Who and where this Talon is: node id, platform, and its directories.

Nothing here names a user or a home directory: directories come from the
TALON_*_DIR environment variables, else from the platform's per-user
directories, derived from the home in the environment (``default_dirs``):

- Linux (and any other Unix): platformdirs' XDG directories, as always.
- macOS: where the original Rust Talon kept its files, so that swapping the
  binary finds them: the config directory is ``.config/talon`` under the home
  (or ``$XDG_CONFIG_HOME/talon``) when that directory exists, else platformdirs'
  ``Library/Application Support/talon``; state and log are ``.local/state/talon``
  under the home (or ``$XDG_STATE_HOME/talon``), the log in the same directory,
  as the original had its ``talon.log`` there.
"""

from __future__ import annotations

import os
import platform as _platform
import re
import socket
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

APP_NAME = "talon"
# Every child's PATH holds these after the configured directories (R1).
SYSTEM_PATH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
MACOS_PATH = ("/opt/homebrew/bin", "/opt/homebrew/sbin")


_VAR = re.compile(r"\$(\w+|\{[^}]*\})")


def home_dir(env: Mapping[str, str] | None = None) -> Path:
    """The user's home: ``HOME`` from ``env``, else the account's. The one home lookup."""
    env = os.environ if env is None else env
    return Path((env.get("HOME") or "").strip() or os.path.expanduser("~"))


def expand_path(value: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Path:
    """Expand ``$VAR``, ``${VAR}`` and a leading ``~`` in a configured path.

    Unknown variables stay as written, so the error that follows names them.
    """
    env = os.environ if env is None else env

    def lookup(match: re.Match[str]) -> str:
        return env.get(match.group(1).strip("{}"), match.group(0))

    text = _VAR.sub(lookup, os.fspath(value))
    if text == "~" or text.startswith("~/"):
        text = str(home_dir(env)) + text[1:]
    return Path(text)


def exec_path(extra: Sequence[str] = (), inherited: str | None = None) -> str:
    """PATH for children: configured dirs, the platform's system dirs, then Talon's own PATH."""
    dirs = [*extra, *(MACOS_PATH if sys.platform == "darwin" else ()), *SYSTEM_PATH]
    if inherited:
        dirs.extend(inherited.split(os.pathsep))
    return os.pathsep.join(dict.fromkeys(d for d in dirs if d))


def _platform_name() -> str:
    return {"darwin": "macos"}.get(sys.platform, sys.platform)


def _arch() -> str:
    machine = _platform.machine().lower()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


@dataclass(frozen=True)
class Dirs:
    config: Path
    state: Path
    log: Path


def _xdg(env: Mapping[str, str], var: str, *under_home: str) -> Path:
    """``$var/talon`` when set to an absolute path (the XDG rule), else home/under_home/talon."""
    raw = env.get(var, "").strip()
    base = expand_path(raw, env) if raw else None
    if base is None or not base.is_absolute():
        base = home_dir(env).joinpath(*under_home)
    return base / APP_NAME


def default_dirs(platform: str, env: Mapping[str, str]) -> Dirs:
    """The config, state and log directories when no TALON_*_DIR names them."""
    if platform == "macos":
        original = _xdg(env, "XDG_CONFIG_HOME", ".config")
        state = _xdg(env, "XDG_STATE_HOME", ".local", "state")
        # else platformdirs' macOS config directory, derived from the same home
        support = home_dir(env) / "Library" / "Application Support" / APP_NAME
        return Dirs(config=original if original.is_dir() else support, state=state, log=state)
    from platformdirs.unix import Unix  # lazy: only commands that need directories pay for it

    dirs = Unix(APP_NAME)
    return Dirs(Path(dirs.user_config_dir), Path(dirs.user_state_dir), Path(dirs.user_log_dir))


@dataclass(frozen=True)
class NodeIdentity:
    node_id: str
    platform: str
    arch: str
    config_dir: Path
    state_dir: Path
    log_dir: Path

    @classmethod
    def detect(
        cls, env: Mapping[str, str] | None = None, *, platform: str | None = None
    ) -> NodeIdentity:
        """Read the identity from ``env`` (default: the process environment).

        ``platform`` (``linux``, ``macos``) defaults to the one this runs on; the
        tests inject it to check another platform's directories.
        """
        env = os.environ if env is None else env
        platform = platform or _platform_name()
        defaults = default_dirs(platform, env)

        def pick(var: str, default: Path) -> Path:
            raw = env.get(var, "").strip()
            return expand_path(raw, env) if raw else default

        return cls(
            node_id=env.get("NODE_ID", "").strip() or socket.gethostname(),
            platform=platform,
            arch=_arch(),
            config_dir=pick("TALON_CONFIG_DIR", defaults.config),
            state_dir=pick("TALON_STATE_DIR", defaults.state),
            log_dir=pick("TALON_LOG_DIR", defaults.log),
        )

    def as_dict(self) -> dict[str, str]:
        return {
            "node_id": self.node_id,
            "platform": self.platform,
            "arch": self.arch,
            "config_dir": str(self.config_dir),
            "state_dir": str(self.state_dir),
            "log_dir": str(self.log_dir),
        }
