"""The original format's Telegram SOS: a bot token leased at each send, sent by apprise.

``[escalation] sos_telegram_chat_id`` and ``sos_telegram_secret_name`` make this
channel. At each delivery the token is leased with ``secrets lease NAME --ttl
30m`` (as the original did), then the message goes through apprise's Telegram
service (``tgram://TOKEN/CHAT_ID``). The token lives in memory only: never in
an argv (the original put it in curl's), a log line, a detail or the outbox.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from talon.actions.notify import Event, Message, apprise_send
from talon.actions.secrets import Secrets

TELEGRAM_API = "https://api.telegram.org/bot"
DEFAULT_SECRET_NAME = "telegram_bot_token"  # the original's default for the secret's name


def telegram_url(token: str, chat_id: str) -> str:
    """apprise's Telegram URL for one chat (a given chat: apprise asks Telegram nothing else)."""
    return f"tgram://{token}/{chat_id}/"


@dataclass(frozen=True)
class TelegramLease:
    chat_id: str
    secret_name: str = DEFAULT_SECRET_NAME
    name: str = "sos-telegram"
    events: tuple[Event, ...] = ("sos",)
    steps: int = 2  # the lease, then the send
    api: str = TELEGRAM_API  # Telegram's Bot API base (tests point it at 127.0.0.1)

    async def deliver(
        self, message: Message, *, secrets: Secrets, env: Mapping[str, str], timeout: float
    ) -> tuple[bool, str]:
        token = await secrets.lease(self.secret_name)  # SecretError: told by the notifier
        service = None if self.api == TELEGRAM_API else self.api
        return await apprise_send(
            telegram_url(token, self.chat_id), message, timeout, service_url=service
        )
