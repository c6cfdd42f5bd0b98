"""The worker's env file: KEY=VALUE lines, read with python-dotenv (quotes, export, comments)."""

from __future__ import annotations

from pathlib import Path

from talon.errors import TalonError


class EnvFileError(TalonError):
    pass


def load_env_file(path: Path) -> dict[str, str]:
    """The file's variables; a missing or unreadable file is an error that says the fix."""
    from dotenv import dotenv_values

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise EnvFileError(
            f"[worker] env_file {path}: {exc.strerror or exc} "
            '(fix: create it, or set env_file = "" for none)'
        ) from None
    import io

    values = dotenv_values(stream=io.StringIO(text))
    return {key: value for key, value in values.items() if value is not None}
