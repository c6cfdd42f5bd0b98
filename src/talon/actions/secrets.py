"""Resolve ``env:NAME`` and ``secret:NAME`` references, strictly (R26).

A secret command's stdout must be exactly one line holding one printable
token: a warning printed before the token, an empty answer or a failed
command is an error that names the reference and the fix, never the value.
The secret is passed as an env value or in memory, never in argv, and every
value resolved is remembered so that redaction elsewhere can mask it.
"""

from __future__ import annotations

from collections.abc import Mapping

from talon.adapters.command import CommandResult, run_command
from talon.config.outputs import SecretsConfig
from talon.redact import redact_text

_PRINTABLE = frozenset(chr(c) for c in range(0x21, 0x7F))  # printable ASCII, no space


class SecretError(Exception):
    """A reference could not be resolved; the message names the reference and the fix."""


def _check_value(ref: str, value: str, source: str) -> str:
    """Reject what cannot be one token: empty, several lines, blanks, control characters."""
    if value.endswith("\n"):
        value = value[:-1]
    if not value:
        raise SecretError(f"{ref}: {source} is empty; store a non-empty value")
    lines = value.count("\n") + 1
    if lines > 1:
        raise SecretError(
            f"{ref}: {source} has {lines} lines, expected exactly one (a warning printed "
            "before the value?); make it print only the secret"
        )
    if not set(value) <= _PRINTABLE:
        raise SecretError(
            f"{ref}: {source} contains spaces, tabs or non-printable characters; "
            "a secret must be one token of printable ASCII"
        )
    return value


class Secrets:
    def __init__(self, config: SecretsConfig, env: Mapping[str, str]) -> None:
        self.config = config
        self.env = env
        self._known: set[str] = set()

    def known_values(self) -> set[str]:
        """Every value resolved so far, for redaction."""
        return set(self._known)

    async def resolve(self, ref: str) -> str:
        scheme, _, name = ref.partition(":")
        if not name:
            raise SecretError(
                f"{ref[:12]!r} is not a secret reference; write env:NAME or secret:NAME"
            )
        if scheme == "env":
            value = self._from_env(ref, name)
        elif scheme == "secret":
            value = await self._from_command(ref, name)
        else:
            raise SecretError(f"{scheme}:…: unknown kind of secret; write env:NAME or secret:NAME")
        self._known.add(value)
        return value

    def _from_env(self, ref: str, name: str) -> str:
        if name not in self.env:
            raise SecretError(
                f"{ref}: {name} is not set in Talon's environment; set it where the service "
                "manager starts Talon (its env file), or use secret:NAME"
            )
        return _check_value(ref, self.env[name], f"the environment variable {name}")

    async def _from_command(self, ref: str, name: str) -> str:
        if not self.config.command:
            raise SecretError(
                f"{ref}: no [secrets] command is configured; set [secrets] command = "
                '["your-secret-tool", "get"] (NAME is appended) or use env:NAME'
            )
        argv = [*self.config.command, name]
        result = await run_command(argv, timeout=self.config.timeout_secs, env=self.env)
        if not result.ok or result.truncated:
            raise SecretError(f"{ref}: {_failure(result, self.config.timeout_secs)}")
        return _check_value(ref, result.stdout, f"the output of {argv[0]}")


def _failure(result: CommandResult, timeout: int) -> str:
    """Why the secrets command failed; its stdout (maybe the secret) is never shown."""
    tool = result.argv[0]
    fix = "fix [secrets] command or the secret store"
    if result.spawn_error:
        return f"the secrets command cannot run: {result.spawn_error}; {fix}"
    if result.timed_out:
        return f"the secrets command {tool} did not answer within {timeout}s; {fix}"
    if result.truncated:
        return f"the secrets command {tool} printed too much or left its output open; {fix}"
    # stderr may echo what stdout holds: mask every line of stdout in it.
    said = redact_text(result.stderr.strip(), result.stdout.split()).splitlines()
    why = f": {said[0][:160]}" if said else ""
    return f"the secrets command {tool} exited {result.exit_code}{why}; {fix}"
