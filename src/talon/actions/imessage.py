"""The original format's iMessage SOS, macOS only: ``imsg``, then osascript if imsg failed.

``[escalation] sos_recipient`` makes this channel where Messages exists (the
platform comes from the node identity; ``talon validate`` says elsewhere that
it cannot be honoured). As the original: ``imsg send --to RECIPIENT --text
MESSAGE``; only when that fails, ``osascript -e`` with the one-line script that
tells Messages to send the text to the recipient as a buddy. Each tool is
bounded by ``[notify] timeout_secs`` and killed with its process group.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from talon.actions.notify import Event, Message
from talon.actions.secrets import Secrets
from talon.adapters.command import CommandResult, run_command

IMESSAGE_PLATFORMS = frozenset({"macos"})


def applescript_string(value: str) -> str:
    """An AppleScript string literal: backslashes and double quotes escaped (as the original)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def messages_script(text: str, recipient: str) -> str:
    """The original's osascript: Messages sends ``text`` to ``recipient`` as a buddy."""
    return (
        f'tell application "Messages" to send {applescript_string(text)} '
        f"to buddy {applescript_string(recipient)}"
    )


def imessage_text(message: Message) -> str:
    return f"{message.title}\n\n{message.body}"


@dataclass(frozen=True)
class IMessage:
    recipient: str
    name: str = "sos-imessage"
    events: tuple[Event, ...] = ("sos",)
    steps: int = 2  # imsg, then osascript

    async def deliver(
        self, message: Message, *, secrets: Secrets, env: Mapping[str, str], timeout: float
    ) -> tuple[bool, str]:
        text = imessage_text(message)
        argv = ["imsg", "send", "--to", self.recipient, "--text", text]
        imsg = await run_command(argv, timeout=timeout, env=env)
        if imsg.ok:
            return True, "sent by imsg"
        script = ["osascript", "-e", messages_script(text, self.recipient)]
        osa = await run_command(script, timeout=timeout, env=env)
        if osa.ok:
            return True, f"sent by osascript (imsg failed: {_why(imsg, timeout)})"
        return False, f"imsg failed: {_why(imsg, timeout)}; osascript failed: {_why(osa, timeout)}"


def _why(result: CommandResult, timeout: float) -> str:
    if result.timed_out:
        return f"no answer within {timeout:g}s (killed)"
    if result.spawn_error:
        missing = "No such file" in result.spawn_error
        return f"{result.argv[0]} is not on Talon's PATH" if missing else result.spawn_error
    said = result.first_line(160)
    return f"exit {result.exit_code}" + (f": {said}" if said else "")
