"""The original format's SOS channels: the leased Telegram token and iMessage (issue 20.3).

``imsg``, ``osascript`` and the ``secrets`` CLI are FAKES (tests/actions/fake_sos_tools.py:
macOS-only or holding real tokens); apprise is real, and Telegram's API is a receiver on
127.0.0.1 (with HTTPS_PROXY pointed at a closed local port, so that nothing could reach
api.telegram.org even if the override failed).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from talon.actions.imessage import IMessage, messages_script
from talon.actions.notify import Adapter, Delivery, Message, Notifier
from talon.actions.secrets import SecretError, Secrets, parse_lease
from talon.actions.sos import sos_channels
from talon.actions.telegram import TELEGRAM_API, TelegramLease, telegram_url
from talon.config.models import EscalationConfig
from talon.config.outputs import NotifyConfig, SecretsConfig
from tests.actions.fake_sos import FakeSosTools
from tests.actions.receiver import Clock, Receiver
from tests.support.procs import free_port

TOKEN = "123456789:AAHfakeTokenForTalonTests_0123456789ab"
CHAT = "100000000"
RECIPIENT = "ops@example.com"


@pytest.fixture
def fakes(tmp_path: Path) -> FakeSosTools:
    tools = FakeSosTools(tmp_path / "fakes")
    tools.set_state({"secrets": {"telegram_bot_token": TOKEN}})
    return tools


@pytest.fixture(autouse=True)
def _no_way_out(monkeypatch: pytest.MonkeyPatch) -> None:
    """Anything sent over HTTPS would go to a closed local port: never to api.telegram.org."""
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")


def _message(event: str = "sos", body: str = "The VM's socket refuses connections.") -> Message:
    return Message.build(
        key=f"edge-7-1/{event}/1",
        event=event,  # type: ignore[arg-type]
        node_id="edge-7",
        incident_id="edge-7-1",
        summary="runtime_down (tcp.runtime)",
        body=body,
    )


def _notifier(tmp_path: Path, fakes: FakeSosTools, *extra: Adapter, **kw: int) -> Notifier:
    return Notifier(
        NotifyConfig(**kw),
        Secrets(SecretsConfig(), fakes.env),
        env=fakes.env,
        outbox_path=tmp_path / "outbox.json",
        clock=Clock(),
        extra=extra,
    )


def _lease(fakes: FakeSosTools, name: str = "telegram_bot_token") -> tuple[str, Secrets]:
    secrets = Secrets(SecretsConfig(), fakes.env)
    return asyncio.run(secrets.lease(name)), secrets


def _lease_error(fakes: FakeSosTools, env: dict[str, str] | None = None) -> str:
    secrets = Secrets(SecretsConfig(), env or fakes.env)
    with pytest.raises(SecretError) as info:
        asyncio.run(secrets.lease("telegram_bot_token"))
    assert TOKEN not in str(info.value)
    return str(info.value)


# ------------------------------------------------------------------ the lease
@pytest.mark.parametrize(
    ("stdout", "token"),
    [
        (TOKEN, TOKEN),
        (f"{TOKEN}\n", TOKEN),
        (f"WARNING: update available\n\n  {TOKEN}  \n", TOKEN),
        (f"\nWARNING: a\nWARNING: b\n{TOKEN}\nlater line\n", TOKEN),
        ("WARNING: only a warning\n\n", None),
        ("", None),
        ('{\n  "ok": false,\n  "error": {"message": "secret not found"}\n}\n', None),
    ],
)
def test_lease_output_is_read_as_the_original_read_it(stdout: str, token: str | None) -> None:
    assert parse_lease(stdout) == token


def test_a_lease_runs_secrets_lease_for_30m_and_skips_warning_lines(
    fakes: FakeSosTools,
) -> None:
    fakes.set_state(
        {
            "secrets": {"telegram_bot_token": TOKEN},
            "secrets_warnings": ["WARNING: agent-secrets 0.9 is available", ""],
        }
    )
    token, secrets = _lease(fakes)
    assert token == TOKEN
    assert secrets.known_values() == {TOKEN}  # redacted everywhere from now on
    assert fakes.calls() == [["secrets", "lease", "telegram_bot_token", "--ttl", "30m"]]


def test_a_failed_lease_says_what_the_cli_said_and_the_fix(fakes: FakeSosTools) -> None:
    fakes.set_state({"secrets": {}})
    message = _lease_error(fakes)
    assert message.startswith("secrets lease telegram_bot_token: exited 1: secret not found")
    assert "secrets add NAME" in message
    fakes.set_state({"secrets_down": True, "secrets": {"telegram_bot_token": TOKEN}})
    assert "exited 69: Failed to connect to daemon" in _lease_error(fakes)
    assert "secrets serve" in _lease_error(fakes)


def test_a_missing_secrets_cli_is_a_clear_error_naming_the_fix(tmp_path: Path) -> None:
    fakes = FakeSosTools(tmp_path, tools=("imsg", "osascript"))  # no `secrets` anywhere on PATH
    message = _lease_error(fakes)
    assert "the `secrets` command is not on Talon's PATH" in message
    assert str(fakes.bin) in message
    assert "install the agent-secrets CLI" in message
    assert "[exec] path" in message


def test_a_leased_value_that_is_not_one_token_is_refused(fakes: FakeSosTools) -> None:
    for value in ("ok", "two words"):
        fakes.set_state({"secrets": {"telegram_bot_token": value}})
        assert "not one token" in _lease_error(fakes)


# ------------------------------------------------------------------ Telegram
def test_the_tgram_url_carries_the_token_and_the_chat_and_apprise_takes_it() -> None:
    import apprise

    url = telegram_url(TOKEN, CHAT)
    assert url == f"tgram://{TOKEN}/{CHAT}/"
    plugin: Any = apprise.Apprise.instantiate(url)
    assert plugin is not None
    assert plugin.bot_token == TOKEN
    assert [str(chat) for chat, _topic in plugin.targets] == [CHAT]
    assert plugin.notify_url == TELEGRAM_API
    assert TOKEN not in plugin.url(privacy=True)


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def root_records() -> Iterator[_Records]:
    handler, root = _Records(), logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)


def test_the_telegram_sos_leases_its_token_and_posts_through_apprise(
    tmp_path: Path,
    fakes: FakeSosTools,
    root_records: _Records,
    capfd: pytest.CaptureFixture[str],
) -> None:
    message = _message(body=f"a probe said token={TOKEN} once")

    async def scenario() -> tuple[list[Delivery], list[Delivery], list[Any]]:
        async with Receiver() as api:
            telegram = TelegramLease(CHAT, api=f"http://127.0.0.1:{api.port}/bot")
            notifier = _notifier(tmp_path, fakes, telegram)
            sent = await notifier.send(message)
            # Telegram down: the failure is kept for a retry, the token still masked.
            down = TelegramLease(CHAT, api=f"http://127.0.0.1:{free_port()}/bot")
            failed = await _notifier(tmp_path, fakes, down).send(message)
            return sent, failed, api.requests

    sent, failed, requests = asyncio.run(scenario())
    assert [(d.channel, d.ok, d.detail) for d in sent] == [("sos-telegram", True, "sent")]
    (request,) = requests
    assert (request.method, request.path) == ("POST", f"/bot{TOKEN}/sendMessage")
    payload = request.json()
    assert str(payload["chat_id"]) == CHAT  # apprise sends a numeric id as a number
    assert "[talon edge-7] SOS: runtime_down" in payload["text"]
    assert TOKEN not in payload["text"]  # the message itself is redacted before it leaves
    assert fakes.calls() == [["secrets", "lease", "telegram_bot_token", "--ttl", "30m"]] * 2
    (down,) = failed
    assert not down.ok
    assert down.retry_at is not None
    outbox = (tmp_path / "outbox.json").read_text()
    assert json.loads(outbox)["entries"][0]["channel"] == "sos-telegram"
    out, err = capfd.readouterr()
    for text in (outbox, out, err, down.detail, *root_records.lines):
        assert TOKEN not in text
        assert TOKEN.split(":")[1] not in text


def test_a_failed_lease_fails_only_the_telegram_channel(
    tmp_path: Path, fakes: FakeSosTools
) -> None:
    fakes.set_state({"secrets": {}})
    channels = (TelegramLease(CHAT), IMessage(RECIPIENT))
    telegram, imessage = asyncio.run(_notifier(tmp_path, fakes, *channels).send(_message()))
    assert (telegram.channel, telegram.ok) == ("sos-telegram", False)
    assert "secret not found" in telegram.detail
    assert telegram.retry_at is not None
    assert (imessage.channel, imessage.ok) == ("sos-imessage", True)


# ------------------------------------------------------------------ iMessage
def test_imsg_success_sends_once_and_never_runs_osascript(
    tmp_path: Path, fakes: FakeSosTools
) -> None:
    message = _message()
    (delivery,) = asyncio.run(_notifier(tmp_path, fakes, IMessage(RECIPIENT)).send(message))
    assert (delivery.channel, delivery.ok, delivery.detail) == (
        "sos-imessage",
        True,
        "sent by imsg",
    )
    text = f"{message.title}\n\n{message.body}"
    assert fakes.calls() == [["imsg", "send", "--to", RECIPIENT, "--text", text]]
    assert fakes.sent() == [{"by": "imsg", "to": RECIPIENT, "text": text}]


def test_imsg_failure_falls_back_to_osascript_with_the_original_script(
    tmp_path: Path, fakes: FakeSosTools
) -> None:
    fakes.set_state({"imsg_fail": 'appleScriptFailure("Messages is not signed in")'})
    message = _message(body='quotes " and a backslash \\ survive')
    (delivery,) = asyncio.run(_notifier(tmp_path, fakes, IMessage(RECIPIENT)).send(message))
    assert delivery.ok
    assert delivery.detail == (
        'sent by osascript (imsg failed: exit 1: appleScriptFailure("Messages is not signed in"))'
    )
    text = f"{message.title}\n\n{message.body}"
    script = (
        'tell application "Messages" to send "'
        + text.replace("\\", "\\\\").replace('"', '\\"')
        + f'" to buddy "{RECIPIENT}"'
    )
    assert messages_script(text, RECIPIENT) == script
    assert [c[0] for c in fakes.calls()] == ["imsg", "osascript"]
    assert fakes.calls()[1] == ["osascript", "-e", script]
    assert fakes.sent() == [{"by": "osascript", "to": RECIPIENT, "text": text}]


def test_both_failing_is_one_failed_delivery_kept_for_a_retry(
    tmp_path: Path, fakes: FakeSosTools
) -> None:
    fakes.set_state(
        {
            "imsg_fail": "Invalid chat target",
            "osascript_fail": 'Messages got an error: Can’t get buddy "x". (-1728)',
        }
    )
    clock = Clock()
    notifier = _notifier(tmp_path, fakes, IMessage(RECIPIENT))
    notifier.clock = clock
    (delivery,) = asyncio.run(notifier.send(_message()))
    assert not delivery.ok
    assert delivery.detail.startswith("imsg failed: exit 1: Invalid chat target; osascript failed")
    assert "(-1728)" in delivery.detail
    assert [p["channel"] for p in notifier.pending()] == ["sos-imessage"]
    fakes.set_state({})  # Messages is back
    clock.now += 60
    (retried,) = asyncio.run(notifier.retry_due())
    assert (retried.ok, retried.attempt, retried.detail) == (True, 2, "sent by imsg")


def test_the_sos_channels_take_sos_messages_only(tmp_path: Path, fakes: FakeSosTools) -> None:
    notifier = _notifier(tmp_path, fakes, IMessage(RECIPIENT), TelegramLease(CHAT))
    assert asyncio.run(notifier.send(_message("notify"))) == []
    assert fakes.calls() == []


# ------------------------------------------------------------------ which channels
def test_the_escalation_keys_make_channels_by_platform() -> None:
    keys = EscalationConfig(
        sos_recipient=RECIPIENT, sos_telegram_chat_id=CHAT, sos_telegram_secret_name="bot"
    )
    mac = sos_channels(keys, platform="macos")
    assert mac == [TelegramLease(CHAT, "bot"), IMessage(RECIPIENT)]
    assert sos_channels(keys, platform="linux") == [TelegramLease(CHAT, "bot")]
    only_chat = EscalationConfig(sos_telegram_chat_id=f" {CHAT} ")
    assert sos_channels(only_chat, platform="linux") == [TelegramLease(CHAT)]  # the original's
    assert TelegramLease(CHAT).secret_name == "telegram_bot_token"  # default secret name
    assert sos_channels(EscalationConfig(), platform="macos") == []


def test_a_configured_channel_of_the_same_name_wins(tmp_path: Path, fakes: FakeSosTools) -> None:
    from talon.config.outputs import ChannelConfig

    mine = ChannelConfig(name="sos-imessage", command=["true"])
    notifier = Notifier(
        NotifyConfig(channel=[mine]),
        Secrets(SecretsConfig(), fakes.env),
        env=fakes.env,
        outbox_path=tmp_path / "outbox.json",
        extra=[IMessage(RECIPIENT)],
    )
    assert notifier.channels == [mine]
