"""Who and where this Talon is: node id, platform, and its directories.

Nothing here names a user or a home directory: directories come from the
TALON_*_DIR environment variables, else from the platform's conventional
per-user directories (via platformdirs).
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
class NodeIdentity:
    node_id: str
    platform: str
    arch: str
    config_dir: Path
    state_dir: Path
    log_dir: Path

    @classmethod
    def detect(cls, env: Mapping[str, str] | None = None) -> NodeIdentity:
        """Read the identity from ``env`` (default: the process environment)."""
        env = os.environ if env is None else env
        import platformdirs  # lazy: only commands that need directories pay for it

        def pick(var: str, default: str) -> Path:
            raw = env.get(var, "").strip()
            return expand_path(raw, env) if raw else Path(default)

        return cls(
            node_id=env.get("NODE_ID", "").strip() or socket.gethostname(),
            platform=_platform_name(),
            arch=_arch(),
            config_dir=pick("TALON_CONFIG_DIR", platformdirs.user_config_dir(APP_NAME)),
            state_dir=pick("TALON_STATE_DIR", platformdirs.user_state_dir(APP_NAME)),
            log_dir=pick("TALON_LOG_DIR", platformdirs.user_log_dir(APP_NAME)),
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
