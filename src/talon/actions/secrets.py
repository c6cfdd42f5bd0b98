"""Resolve ``env:NAME`` and ``secret:NAME`` references, strictly (R26), and lease tokens.

A secret command's stdout must be exactly one line holding one printable
token: a warning printed before the token, an empty answer or a failed
command is an error that names the reference and the fix, never the value.
The secret is passed as an env value or in memory, never in argv, and every
value resolved is remembered so that redaction elsewhere can mask it.

``lease`` is the original Talon's way to its SOS Telegram token: the
agent-secrets CLI, ``secrets lease NAME --ttl 30m``, read as the original read
it (the first non-empty line that does not start with ``WARNING:``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from talon.adapters.command import CommandResult, run_command
from talon.config.outputs import SecretsConfig
from talon.redact import redact_text

_PRINTABLE = frozenset(chr(c) for c in range(0x21, 0x7F))  # printable ASCII, no space
LEASE_TOOL = "secrets"  # the agent-secrets CLI, as the original Talon ran it
LEASE_TTL = "30m"
_LEASE_FIX = (
    "install the agent-secrets CLI (`secrets`) where Talon's PATH finds it ([exec] path), "
    "start its daemon (`secrets serve`) and add the secret (`secrets add NAME`)"
)


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

    async def lease(self, name: str, ttl: str = LEASE_TTL) -> str:
        """``secrets lease NAME --ttl TTL``: the token, remembered for redaction.

        The token is read from stdout only; it never reaches an argv, a log or an error.
        """
        argv = [LEASE_TOOL, "lease", name, "--ttl", ttl]
        where = f"{LEASE_TOOL} lease {name}"
        timeout = self.config.timeout_secs
        result = await run_command(argv, timeout=timeout, env=self.env)
        if not result.ok or result.truncated:
            raise SecretError(f"{where}: {_lease_failure(result, timeout, self.env)}")
        token = parse_lease(result.stdout)
        if token is None:
            said = _lease_error(result.stdout)
            why = f" ({said})" if said else ""
            raise SecretError(f"{where}: printed no token{why}; {_LEASE_FIX}")
        if token == "ok" or not set(token) <= _PRINTABLE:
            raise SecretError(
                f"{where}: the leased value is not one token of printable ASCII; "
                "store the bare token in the secret"
            )
        self._known.add(token)
        return token

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


def parse_lease(stdout: str) -> str | None:
    """The token in what ``secrets lease`` printed, as the original Talon read it: the first
    non-empty line that does not start with ``WARNING:``, trimmed. None: no such line, or
    the CLI's JSON error envelope (``{"ok": false, ...}``) in its place."""
    if _lease_error(stdout) is not None:
        return None
    for line in stdout.splitlines():
        line = line.strip()
        if line and not line.startswith("WARNING:"):
            return line
    return None


def _lease_error(stdout: str) -> str | None:
    """The message of agent-secrets' JSON error envelope, if that is what it printed."""
    try:
        data = json.loads(stdout)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("ok") is not False:
        return None
    error = data.get("error")
    message = error.get("message") if isinstance(error, dict) else None
    return str(message)[:160] if message else "an error"


def _lease_failure(result: CommandResult, timeout: int, env: Mapping[str, str]) -> str:
    """Why ``secrets lease`` failed; what it printed on stdout (maybe the token) is masked."""
    if result.spawn_error:
        if "No such file" in result.spawn_error:
            path = env.get("PATH", "")
            return f"the `{LEASE_TOOL}` command is not on Talon's PATH ({path}); {_LEASE_FIX}"
        return f"the `{LEASE_TOOL}` command cannot run: {result.spawn_error}; {_LEASE_FIX}"
    if result.timed_out:
        return f"no answer within {timeout}s; is its daemon stuck? ({_LEASE_FIX})"
    if result.truncated:
        return f"printed too much or left its output open; {_LEASE_FIX}"
    said = _lease_error(result.stdout)
    if said is None:
        lines = redact_text(result.stderr.strip(), result.stdout.split()).splitlines()
        said = lines[0][:160] if lines else ""
    why = f": {said}" if said else ""
    return f"exited {result.exit_code}{why}; {_LEASE_FIX}"
