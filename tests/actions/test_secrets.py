"""Secrets from the environment and from a real secrets command, parsed strictly (R26)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from talon.actions.secrets import SecretError, Secrets
from talon.adapters.command import exec_env
from talon.config.outputs import SecretsConfig

TOKEN = "tk_9f8e7d6c5b4a3210"


def _secrets(script: str | None = None, env: dict[str, str] | None = None, **kw: int) -> Secrets:
    # The NAME of secret:NAME arrives as $0 of the sh -c script.
    command = ["sh", "-c", script] if script is not None else []
    return Secrets(SecretsConfig(command=command, **kw), {**exec_env(), **(env or {})})


def _resolve(secrets: Secrets, ref: str) -> str:
    return asyncio.run(secrets.resolve(ref))


def _error(secrets: Secrets, ref: str) -> str:
    with pytest.raises(SecretError) as info:
        _resolve(secrets, ref)
    return str(info.value)


def test_env_reference_resolves_and_is_remembered_for_redaction() -> None:
    secrets = _secrets(env={"NTFY_TOKEN": TOKEN})
    assert _resolve(secrets, "env:NTFY_TOKEN") == TOKEN
    assert secrets.known_values() == {TOKEN}


def test_missing_env_variable_names_the_reference_and_the_fix() -> None:
    message = _error(_secrets(), "env:TALON_TEST_NOT_SET")
    assert "env:TALON_TEST_NOT_SET" in message
    assert "not set" in message


@pytest.mark.parametrize("value", ["", "two words", "line\nline", "tab\there", "ünïcode"])
def test_odd_env_values_are_rejected_without_echoing_them(value: str) -> None:
    message = _error(_secrets(env={"ODD": value}), "env:ODD")
    assert "env:ODD" in message
    if value:
        assert value not in message


def test_one_line_from_the_secrets_command_is_accepted() -> None:
    secrets = _secrets('printf "%s\\n" "tk_for_$0"')
    assert _resolve(secrets, "secret:ntfy") == "tk_for_ntfy"
    assert "tk_for_ntfy" in secrets.known_values()


def test_the_name_is_the_last_argument_and_the_value_never_in_argv(tmp_path: Path) -> None:
    argv = tmp_path / "argv"
    secrets = _secrets(f'echo "$0 $*" > {argv}; echo {TOKEN}')
    assert _resolve(secrets, "secret:bot/telegram") == TOKEN
    assert argv.read_text().split() == ["bot/telegram"]


def test_a_warning_line_before_the_token_is_rejected() -> None:
    """R26: the token read from a secrets command included a warning line."""
    secrets = _secrets(f'echo "warning: the agent is locked"; echo {TOKEN}')
    message = _error(secrets, "secret:ntfy")
    assert "secret:ntfy" in message
    assert "2 lines" in message
    assert TOKEN not in message
    assert secrets.known_values() == set()


@pytest.mark.parametrize("script", ['printf ""', "echo", 'printf "\\n\\n"'])
def test_empty_output_is_rejected(script: str) -> None:
    message = _error(_secrets(script), "secret:ntfy")
    assert "secret:ntfy" in message


def test_a_value_with_inner_whitespace_is_rejected() -> None:
    message = _error(_secrets('echo "tk_a tk_b"'), "secret:ntfy")
    assert "one token" in message
    assert "tk_a" not in message


def test_non_zero_exit_is_rejected_and_an_echoed_value_is_masked() -> None:
    secrets = _secrets(f'echo {TOKEN}; echo "vault sealed, had {TOKEN}" >&2; exit 2')
    message = _error(secrets, "secret:ntfy")
    assert "exited 2" in message
    assert "vault sealed" in message
    assert TOKEN not in message


def test_missing_secrets_command_is_rejected() -> None:
    config = SecretsConfig(command=["/nonexistent/talon-secret-tool", "get"])
    message = _error(Secrets(config, exec_env()), "secret:ntfy")
    assert "secret:ntfy" in message
    assert "cannot run" in message
    assert "[secrets] command" in message


def test_no_secrets_command_configured_says_how_to_configure_one() -> None:
    message = _error(_secrets(), "secret:ntfy")
    assert "no [secrets] command" in message


def test_a_hanging_secrets_command_is_killed_after_its_timeout(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    secrets = _secrets(f"echo $$ > {pid_file}; exec sleep 60", timeout_secs=1)
    started = time.monotonic()
    assert "did not answer within 1s" in _error(secrets, "secret:slow")
    assert time.monotonic() - started < 1 + 2
    with pytest.raises(ProcessLookupError):  # the whole group was killed (R21)
        os.kill(int(pid_file.read_text()), 0)


def test_unknown_reference_kind_is_rejected() -> None:
    assert "env:NAME or secret:NAME" in _error(_secrets(), "vault:ntfy")
