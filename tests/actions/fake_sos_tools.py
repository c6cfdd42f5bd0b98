"""FAKE of ``imsg``, ``osascript`` and the agent-secrets ``secrets`` CLI, for tests.

None of them can run here: imsg and osascript need macOS and Messages.app, and
``secrets`` needs its daemon and an age-encrypted store (and would hold real
tokens). Run as ``python -S fake_sos_tools.py TOOL ARGS...`` by the wrappers
``FakeSosTools`` (fake_sos.py) writes first on PATH. Every call appends its
argv (tool name first), pid and stdin to ``$FAKE_SOS_DIR/calls.jsonl``; the
state is ``$FAKE_SOS_DIR/state.json``. Knobs in the state: ``secrets`` (NAME ->
value), ``secrets_warnings`` (lines printed before the value), ``secrets_down``
(the daemon is not running), ``imsg_fail`` and ``osascript_fail`` (the error
each prints). What a send delivers is appended to the state's ``sent``.

Only what the real tools do, from their sources and manuals (and less: the
fakes know one verb each):

- imsg (steipete/imsg, Sources/imsg/Commands/SendCommand.swift and
  CommandRouter.swift): ``imsg send --to HANDLE --text TEXT`` prints ``sent``
  and exits 0; an error thrown while sending is printed on stdout (its
  description) and the exit status is 1; an unknown command prints ``Unknown
  command`` and exits 1.
- osascript(1): ``osascript -e STATEMENT`` runs it, prints the value of the
  last statement (``send`` has none) and exits 0; an error prints
  ``LINE:COL: execution error: MESSAGE (NUMBER)`` on stderr and exits 1. This
  fake compiles one statement only, the original Talon's: ``tell application
  "Messages" to send "TEXT" to buddy "HANDLE"`` (AppleScript string literals
  with ``\\"`` and ``\\\\`` escapes); anything else is a syntax error (-2741).
- secrets (joelhooks/agent-secrets, cmd/secrets/lease.go, internal/output,
  internal/types/exitcodes.go): ``secrets lease NAME [--ttl D]`` prints the raw
  value with no newline and exits 0; a failure prints the JSON envelope
  ``{"ok": false, "command": "secrets lease", "error": {"message": ...},
  "fix": ...}`` on stdout and exits 1, or 69 (ExitDaemonUnavailable) when the
  daemon cannot be reached. ``WARNING:`` lines before the value are the ones
  the original Talon's reader skips (its escalation.rs); this fake prints them
  only when told to.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any


def _dir() -> Path:
    return Path(os.environ["FAKE_SOS_DIR"])


def load() -> dict[str, Any]:
    path = _dir() / "state.json"
    return json.loads(path.read_text()) if path.exists() else {}


def save(state: dict[str, Any]) -> None:
    tmp = _dir() / "state.tmp"
    tmp.write_text(json.dumps(state))
    tmp.replace(_dir() / "state.json")


def record(argv: list[str]) -> None:
    stdin = "" if sys.stdin is None or sys.stdin.isatty() else sys.stdin.read()
    entry = {"argv": argv, "pid": os.getpid(), "stdin": stdin}
    with (_dir() / "calls.jsonl").open("a") as log:
        log.write(json.dumps(entry) + "\n")


def option(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args and args.index(name) + 1 < len(args) else None


# ------------------------------------------------------------------ imsg
def imsg(args: list[str], state: dict[str, Any]) -> int:
    if not args or args[0] != "send":
        print("Unknown command")
        return 1
    to, text = option(args, "--to"), option(args, "--text")
    if not to:
        print("Missing required option: --to")
        return 1
    if not text:
        print("Missing required option: text or file")
        return 1
    if state.get("imsg_fail"):
        print(state["imsg_fail"])
        return 1
    state.setdefault("sent", []).append({"by": "imsg", "to": to, "text": text})
    save(state)
    print("sent")
    return 0


# ------------------------------------------------------------------ osascript
_STRING = r'"((?:[^"\\]|\\.)*)"'
_SEND = re.compile(
    rf'^tell application "Messages" to send {_STRING} to buddy {_STRING}$', re.DOTALL
)


def _unescape(literal: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t", "r": "\r"}.get(m[1], m[1]), literal)


def osascript(args: list[str], state: dict[str, Any]) -> int:
    script = option(args, "-e")
    found = _SEND.match(script or "")
    if found is None:
        sys.stderr.write("0:1: syntax error: A unknown token can’t go here. (-2741)\n")
        return 1
    if state.get("osascript_fail"):
        end = len(script or "")
        sys.stderr.write(f"0:{end}: execution error: {state['osascript_fail']}\n")
        return 1
    text, to = _unescape(found[1]), _unescape(found[2])
    state.setdefault("sent", []).append({"by": "osascript", "to": to, "text": text})
    save(state)
    return 0


# ------------------------------------------------------------------ secrets
def secrets(args: list[str], state: dict[str, Any]) -> int:
    def fail(message: str, fix: str, code: int) -> int:
        envelope = {
            "ok": False,
            "command": "secrets lease",
            "error": {"message": message},
            "fix": fix,
        }
        print(json.dumps(envelope, indent=2))
        return code

    if not args or args[0] != "lease" or len(args) < 2:
        return fail("unknown command", "Run `secrets --help` for usage.", 1)
    if state.get("secrets_down"):
        return fail("Failed to connect to daemon", "To start it:\n  secrets serve &", 69)
    name = args[1]
    value = state.get("secrets", {}).get(name)
    if value is None:
        return fail(f"secret not found: {name}", "secrets add " + name, 1)
    for line in state.get("secrets_warnings", []):
        print(line)
    sys.stdout.write(value)
    return 0


if __name__ == "__main__":
    tool, *rest = sys.argv[1:]
    record([tool, *rest])
    sys.exit({"imsg": imsg, "osascript": osascript, "secrets": secrets}[tool](rest, load()))
