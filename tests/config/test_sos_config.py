"""The original SOS keys at load time: the channels a host can have, and what it cannot honour.

``imsg``, ``osascript`` and ``secrets`` are FAKES (tests/actions/fake_sos_tools.py); the
config, the wiring, apprise and ``talon validate`` are real. Telegram's API is a receiver on
127.0.0.1 and HTTPS_PROXY points at a closed local port: nothing can reach api.telegram.org.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import shutil
from pathlib import Path

import pytest

from talon.actions.imessage import IMessage
from talon.actions.notify import Message
from talon.actions.sos import host_warnings
from talon.actions.telegram import TelegramLease
from talon.config import load
from talon.config.models import TalonConfig
from talon.daemon.wiring import Wiring
from talon.node import NodeIdentity
from tests.actions.fake_sos import FakeSosTools
from tests.actions.receiver import Receiver
from tests.support import procs
from tests.support.clocks import Hands

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TOKEN = "123456789:AAHfakeTokenForTalonTests_0123456789ab"
IMESSAGE_OFF = (
    "sos_recipient: iMessage needs macOS; this host cannot honour it (platform linux): no "
    "iMessage SOS is sent from here; add a [[notify.channel]] that takes sos"
)


def _node(tmp_path: Path, platform: str) -> NodeIdentity:
    return NodeIdentity("panda", platform, "arm64", tmp_path, tmp_path / "state", tmp_path)


def _config(**sections: dict[str, object]) -> TalonConfig:
    return TalonConfig.model_validate(sections)


def _warnings(config: TalonConfig, tmp_path: Path, platform: str, path: str) -> list[str]:
    return host_warnings(config, _node(tmp_path, platform), {"PATH": path})


@pytest.fixture
def fakes(tmp_path: Path) -> FakeSosTools:
    tools = FakeSosTools(tmp_path / "fakes")
    tools.set_state({"secrets": {"telegram_bot_token": TOKEN}})
    return tools


def test_an_imessage_recipient_off_macos_is_a_warning(tmp_path: Path, fakes: FakeSosTools) -> None:
    config = _config(escalation={"sos_recipient": "ops@example.com"})
    assert _warnings(config, tmp_path, "linux", str(fakes.bin)) == [IMESSAGE_OFF]
    assert _warnings(config, tmp_path, "macos", str(fakes.bin)) == []
    if shutil.which("osascript", path="/usr/bin:/bin") is None:  # not a Mac: no Messages tools
        (nothing := tmp_path / "empty").mkdir()
        assert _warnings(config, tmp_path, "macos", str(nothing)) == [
            "sos_recipient: neither imsg nor osascript is on Talon's PATH ([exec] path): the "
            "iMessage SOS cannot be sent"
        ]


def test_telegram_keys_that_cannot_work_here_are_warnings(
    tmp_path: Path, fakes: FakeSosTools
) -> None:
    chat = _config(escalation={"sos_telegram_chat_id": "100000000"})
    assert _warnings(chat, tmp_path, "linux", str(fakes.bin)) == []
    (nothing := tmp_path / "empty").mkdir()
    [no_cli] = _warnings(chat, tmp_path, "linux", str(nothing))
    assert no_cli.startswith("sos_telegram_secret_name: the `secrets` CLI (agent-secrets) is not")
    assert "'telegram_bot_token'" in no_cli
    name_only = _config(escalation={"sos_telegram_secret_name": "bot"})
    [half] = _warnings(name_only, tmp_path, "linux", str(fakes.bin))
    assert "sos_telegram_chat_id is empty" in half


def test_notify_channels_apprise_or_this_host_cannot_serve_are_warnings(tmp_path: Path) -> None:
    config = _config(
        escalation={"sos_recipient": "ops@example.com"},
        notify={
            "channel": [
                {"name": "hook", "url": "json://127.0.0.1:9/hook"},
                {"name": "phone", "url": "ntfys://{secret}@ntfy.sh/t", "secret": "env:T"},
                {"name": "typo", "url": "telegramm://x/1"},
                {"name": "bare", "url": "no scheme at all"},
                {"name": "sos-imessage", "command": ["talon-no-such-notifier"]},
                {"name": "ok", "command": ["sh", "-c", "cat"]},
            ]
        },
    )
    found = _warnings(config, tmp_path, "macos", os.environ["PATH"])
    assert (
        found
        == [
            "sos_recipient: neither imsg nor osascript is on Talon's PATH ([exec] path): the "
            "iMessage SOS cannot be sent",
            "notify.channel 'typo': apprise does not know the scheme 'telegramm': nothing will be "
            "delivered (`apprise --details` lists the services it knows and their URLs)",
            "notify.channel 'bare': the url has no scheme (SCHEME://...): apprise cannot deliver it",
            "notify.channel 'sos-imessage': its name hides the SOS channel of [escalation]; rename "
            "it to keep both",
            "notify.channel 'sos-imessage': 'talon-no-such-notifier' is not on Talon's PATH on this "
            "host ([exec] path): every delivery will fail",
        ][0 if shutil.which("imsg") is None and shutil.which("osascript") is None else 1 :]
    )


def test_talon_validate_warns_about_the_keys_this_host_cannot_honour(tmp_path: Path) -> None:
    """The real command on this (Linux) host: an iMessage recipient and an unknown scheme."""
    (tmp_path / "config.toml").write_text(
        '[escalation]\nsos_recipient = "ops@example.com"\n\n'
        '[[notify.channel]]\nname = "pager"\nurl = "pagerdutyy://key@acme"\n'
    )
    (tmp_path / "services.toml").write_text("")
    env = {k: v for k, v in os.environ.items() if k != "TALON_CONFIG"}
    done = procs.talon_cli("-c", str(tmp_path / "config.toml"), "validate", env=env)
    assert done.returncode == 0, done.stderr
    warnings = json.loads(done.stdout)["warnings"]
    assert IMESSAGE_OFF in warnings
    assert any(
        w.startswith("notify.channel 'pager': apprise does not know the scheme 'pagerdutyy'")
        for w in warnings
    )


def test_the_reference_config_gets_both_sos_channels_on_a_simulated_mac(
    tmp_path: Path, fakes: FakeSosTools, monkeypatch: pytest.MonkeyPatch
) -> None:
    """examples/reference (the original's own format, unchanged) on a Mac: Telegram and
    iMessage are live SOS channels of the daemon's notifier; on Linux, Telegram only."""
    monkeypatch.setenv("PATH", f"{fakes.bin}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SOS_DIR", str(fakes.root))
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{procs.free_port()}")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    shutil.copytree(EXAMPLES / "reference", tmp_path / "ref")
    config = tmp_path / "ref" / "config.toml"

    def wiring(platform: str) -> Wiring:
        loaded = load(config, identity=_node(tmp_path, platform))
        return Wiring.build(loaded, tmp_path / platform, Hands().clock())

    on_linux = wiring("linux").notifier.channels
    assert [c for c in on_linux if not hasattr(c, "url")] == [TelegramLease("100000000")]
    mac = wiring("macos")
    telegram, imessage = mac.notifier.channels
    assert telegram == TelegramLease("100000000", "telegram_bot_token")
    assert imessage == IMessage("ops@example.com")
    message = Message.build(
        key="panda-1/sos/1",
        event="sos",
        node_id="panda",
        incident_id="panda-1",
        summary="k8s_api",
        body="all recovery failed",
    )

    async def scenario() -> list[tuple[str, bool]]:
        async with Receiver() as api:
            local = dataclasses.replace(telegram, api=f"http://127.0.0.1:{api.port}/bot")
            mac.notifier.channels = [local, imessage]
            sent = await mac.notifier.send(message)
            assert [r.path for r in api.requests] == [f"/bot{TOKEN}/sendMessage"]
        await mac.aclose()
        return [(d.channel, d.ok) for d in sent]

    assert asyncio.run(scenario()) == [("sos-telegram", True), ("sos-imessage", True)]
    assert sorted(c[0] for c in fakes.calls()) == ["imsg", "secrets"]  # sent at once
    assert fakes.sent()[0]["to"] == "ops@example.com"
