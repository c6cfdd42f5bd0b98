"""The original format's SOS keys as channels, and what this host cannot honour of them.

``[escalation]``: ``sos_telegram_chat_id`` (+ ``sos_telegram_secret_name``,
default ``telegram_bot_token``) gives a Telegram channel; ``sos_recipient``
gives an iMessage channel on macOS only. Both take SOS messages only, as the
original sent only its SOS through them, and go through the notifier like any
``[[notify.channel]]`` (outbox, retries, redaction, timeouts).

``host_warnings`` lists every notify and SOS key that is valid but will not do
what it says on this host (``talon validate`` prints them): an iMessage
recipient off macOS, a tool that is not on Talon's PATH, an apprise URL whose
scheme apprise does not know, a channel name that hides an SOS channel.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping

from talon.actions.imessage import IMESSAGE_PLATFORMS, IMessage
from talon.actions.notify import Adapter
from talon.actions.secrets import LEASE_TOOL
from talon.actions.telegram import DEFAULT_SECRET_NAME, TELEGRAM_API, TelegramLease
from talon.config.models import EscalationConfig, TalonConfig
from talon.node import NodeIdentity, exec_path


def sos_channels(
    escalation: EscalationConfig, *, platform: str, telegram_api: str = TELEGRAM_API
) -> list[Adapter]:
    """The SOS channels the ``[escalation]`` keys ask for that this platform can have."""
    out: list[Adapter] = []
    chat_id = escalation.sos_telegram_chat_id.strip()
    if chat_id:
        secret = escalation.sos_telegram_secret_name.strip() or DEFAULT_SECRET_NAME
        out.append(TelegramLease(chat_id, secret, api=telegram_api))
    recipient = escalation.sos_recipient.strip()
    if recipient and platform in IMESSAGE_PLATFORMS:
        out.append(IMessage(recipient))
    return out


def host_warnings(config: TalonConfig, identity: NodeIdentity, env: Mapping[str, str]) -> list[str]:
    """Notify and SOS keys this host cannot honour, one sentence each."""
    path = exec_path(config.exec.path, env.get("PATH") if config.exec.inherit_path else None)

    def missing(tool: str) -> bool:
        return shutil.which(tool, path=path) is None

    esc = config.escalation
    out: list[str] = []
    if esc.sos_recipient.strip():
        if identity.platform not in IMESSAGE_PLATFORMS:
            out.append(
                "sos_recipient: iMessage needs macOS; this host cannot honour it (platform "
                f"{identity.platform}): no iMessage SOS is sent from here; add a "
                "[[notify.channel]] that takes sos"
            )
        elif missing("imsg") and missing("osascript"):
            out.append(
                "sos_recipient: neither imsg nor osascript is on Talon's PATH ([exec] path): "
                "the iMessage SOS cannot be sent"
            )
    if esc.sos_telegram_chat_id.strip():
        if missing(LEASE_TOOL):
            name = esc.sos_telegram_secret_name.strip() or DEFAULT_SECRET_NAME
            out.append(
                f"sos_telegram_secret_name: the `{LEASE_TOOL}` CLI (agent-secrets) is not on "
                f"Talon's PATH ([exec] path): the Telegram SOS cannot lease {name!r} and will "
                "fail until it is installed"
            )
    elif esc.sos_telegram_secret_name.strip():
        out.append(
            "sos_telegram_secret_name is set but sos_telegram_chat_id is empty: no Telegram "
            "SOS is sent; set the chat id"
        )
    sos = {a.name for a in sos_channels(esc, platform=identity.platform)}
    schemes = _apprise_schemes() if any(c.url for c in config.notify.channel) else {}
    for channel in config.notify.channel:
        where = f"notify.channel {channel.name!r}"
        if channel.name in sos:
            out.append(
                f"{where}: its name hides the SOS channel of [escalation]; rename it to keep both"
            )
        if channel.url is not None:
            scheme, sep, _ = channel.url.partition("://")
            scheme = scheme.lower()
            if not sep:
                out.append(
                    f"{where}: the url has no scheme (SCHEME://...): apprise cannot deliver it"
                )
            elif scheme not in schemes:
                out.append(
                    f"{where}: apprise does not know the scheme {scheme!r}: nothing will be "
                    "delivered (`apprise --details` lists the services it knows and their URLs)"
                )
            elif (why := schemes[scheme]) is not None:
                out.append(f"{where}: apprise cannot use {scheme}:// on this host: {why}")
        elif channel.command and missing(channel.command[0]):
            out.append(
                f"{where}: {channel.command[0]!r} is not on Talon's PATH on this host "
                "([exec] path): every delivery will fail"
            )
    return out


def _apprise_schemes() -> dict[str, str | None]:
    """Every URL scheme this apprise knows -> None, or why it is disabled on this host.

    (apprise loads all its plugins for this: about a second, paid only when a URL channel
    is configured.)
    """
    import apprise

    out: dict[str, str | None] = {}
    details = apprise.Apprise().details(show_requirements=True, show_disabled=True)
    for service in details["schemas"]:
        why = None
        if not service.get("enabled", True):
            needs = (service.get("requirements") or {}).get("packages_required") or []
            why = (
                f"{service['service_name']} needs the Python package(s) {', '.join(needs)}"
                if needs
                else f"{service['service_name']} is not available on this platform"
            )
        for key in ("protocols", "secure_protocols"):
            names = service.get(key) or ()
            for name in (names,) if isinstance(names, str) else names:
                out[str(name).lower()] = why
    return out
