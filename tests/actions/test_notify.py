"""Notifications through real apprise, real receivers on 127.0.0.1 and real commands (F16, R26)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from talon.actions.notify import Delivery, Message, Notifier, with_timeouts
from talon.actions.secrets import Secrets
from talon.adapters.command import exec_env
from talon.config.outputs import ChannelConfig, NotifyConfig, SecretsConfig
from tests.actions.receiver import Clock, Receiver
from tests.support.procs import free_port, refusing_port, silent_listener

NODE = "edge-7"
TOKEN = "tk_5ecr3t0k3n9a8b7c"


@pytest.fixture(scope="module", autouse=True)
def _apprise_loaded() -> None:
    # apprise loads its plugins on first use (~0.5 s): pay that before the timed tests.
    import apprise

    apprise.Apprise().add("json://127.0.0.1/")


def _message(
    event: str = "notify", key: str = "edge-7-1/notify/opened/1", body: str = ""
) -> Message:
    return Message.build(
        key=key,
        event=event,  # type: ignore[arg-type]
        node_id=NODE,
        incident_id="edge-7-1",
        summary="runtime_down (tcp.runtime)",
        body=body or "The VM's socket refuses connections.",
    )


def _notifier(
    tmp_path: Path,
    *channels: dict[str, Any],
    clock: Clock | None = None,
    outbox: Path | None = None,
    **kw: int,
) -> Notifier:
    env = {**exec_env(), "NTFY_TOKEN": TOKEN}
    config = NotifyConfig(channel=[ChannelConfig(**c) for c in channels], **kw)
    return Notifier(
        config,
        Secrets(SecretsConfig(), env),
        env=env,
        outbox_path=outbox or tmp_path / "outbox.json",
        clock=clock or Clock(),
    )


def _json(name: str, port: int, path: str = "hook", **kw: Any) -> dict[str, Any]:
    return {"name": name, "url": f"json://127.0.0.1:{port}/{path}", **kw}


def _summary(deliveries: list[Delivery]) -> list[tuple[str, bool, int]]:
    return [(d.channel, d.ok, d.attempt) for d in deliveries]


def test_message_names_its_node_in_title_and_body() -> None:
    sos = _message("sos")
    assert sos.title == f"[talon {NODE}] SOS: runtime_down (tcp.runtime)"
    assert sos.body.endswith(f"node: {NODE}, incident: edge-7-1")
    assert _message().title.startswith(f"[talon {NODE}] notice: ")


def test_json_and_ntfy_receivers_get_what_apprise_sends(tmp_path: Path) -> None:
    message = _message()

    async def scenario() -> tuple[list[Delivery], list[Any]]:
        async with Receiver() as r:
            notifier = _notifier(
                tmp_path,
                _json("hook", r.port, "talon/hook"),
                {
                    "name": "phone",
                    "url": f"ntfy://{{secret}}@127.0.0.1:{r.port}/alerts",
                    "secret": "env:NTFY_TOKEN",
                },
            )
            return await notifier.send(message), r.requests

    deliveries, requests = asyncio.run(scenario())
    assert _summary(deliveries) == [("hook", True, 1), ("phone", True, 1)]
    assert all(d.retry_at is None and TOKEN not in d.detail for d in deliveries)
    by_path = {r.path: r for r in requests}
    assert set(by_path) == {"/talon/hook", "/"}
    hook, ntfy = by_path["/talon/hook"], by_path["/"]
    assert (hook.method, hook.headers["Content-Type"]) == ("POST", "application/json")
    assert hook.json() == {
        "version": "1.0",
        "title": message.title,
        "message": message.body,
        "attachments": [],
        "type": "info",
    }
    assert (ntfy.method, ntfy.headers["Content-Type"]) == ("POST", "application/json")
    assert ntfy.json() == {"topic": "alerts", "title": message.title, "message": message.body}
    assert ntfy.headers["Authorization"] == f"Bearer {TOKEN}"  # a tk_ user is a bearer token


def test_refusing_and_hanging_channels_never_delay_the_others(tmp_path: Path) -> None:
    """F16: every channel at once, each bounded by its own timeout; send never raises."""
    pid_file = tmp_path / "pid"

    async def scenario() -> tuple[list[Delivery], float, int]:
        with silent_listener() as hang_port, refusing_port() as refused_port:
            async with Receiver() as good:
                notifier = _notifier(
                    tmp_path,
                    _json("refused", refused_port),
                    _json("hanging", hang_port),
                    {"name": "stuck", "command": ["sh", "-c", f"echo $$ > {pid_file}; sleep 60"]},
                    _json("good", good.port),
                    timeout_secs=1,
                )
                started = time.monotonic()
                deliveries = await notifier.send(_message())
                return deliveries, time.monotonic() - started, len(good.requests)

    deliveries, elapsed, received = asyncio.run(scenario())
    assert elapsed < 1 + 2
    assert received == 1
    by_name = {d.channel: d for d in deliveries}
    assert by_name["good"].ok
    assert not by_name["refused"].ok
    assert "connection error" in by_name["refused"].detail.lower()
    assert by_name["hanging"].detail == "no answer within 1s"
    assert by_name["stuck"].detail.startswith("no answer within 1s")
    assert all(d.retry_at == Clock().now + 60 for d in deliveries if not d.ok)
    with pytest.raises(ProcessLookupError):  # the stuck command's group was killed (R21)
        os.kill(int(pid_file.read_text()), 0)


def test_failed_delivery_backs_off_doubling_then_gives_up(tmp_path: Path) -> None:
    clock = Clock(1000.0)
    notifier = _notifier(
        tmp_path,
        _json("late", free_port()),
        clock=clock,
        retry_secs=60,
        retry_max_secs=200,
        max_attempts=4,
    )

    async def scenario() -> list[tuple[float, list[Delivery]]]:
        seen = [(clock.now, await notifier.send(_message()))]
        for now in (1059.0, 1060.0, 1179.0, 1180.0, 1380.0, 5000.0):
            clock.now = now
            seen.append((now, await notifier.retry_due()))
        return seen

    seen = asyncio.run(scenario())
    tried = [(now, d[0].attempt, d[0].retry_at) for now, d in seen if d]
    # 60 s, then 120 s, then 240 s capped at 200 s; the fourth failure is the last.
    assert tried == [
        (1000.0, 1, 1060.0),
        (1060.0, 2, 1180.0),
        (1180.0, 3, 1380.0),
        (1380.0, 4, None),
    ]
    last = seen[-2][1][0]
    assert not last.ok
    assert last.detail.startswith("gave up after 4 attempt(s): ")
    assert notifier.pending() == []
    assert json.loads((tmp_path / "outbox.json").read_text())["entries"] == []


def test_a_retry_reaches_only_the_channel_that_failed_once_its_receiver_is_up(
    tmp_path: Path,
) -> None:
    clock = Clock()
    late_port = free_port()

    async def scenario() -> None:
        async with Receiver() as good:
            notifier = _notifier(
                tmp_path, _json("good", good.port), _json("late", late_port, "late"), clock=clock
            )
            assert _summary(await notifier.send(_message())) == [
                ("good", True, 1),
                ("late", False, 1),
            ]
            assert [p["channel"] for p in notifier.pending()] == ["late"]
            clock.now += 59
            assert await notifier.retry_due() == []  # not due yet
            clock.now += 1
            async with Receiver(late_port) as late:
                assert _summary(await notifier.retry_due()) == [("late", True, 2)]
            assert len(good.requests) == 1
            assert late.requests[0].json()["title"] == _message().title
            assert notifier.pending() == []

    asyncio.run(scenario())


def test_the_outbox_survives_a_restart(tmp_path: Path) -> None:
    clock = Clock()
    port = free_port()
    channel = _json("late", port)

    async def scenario() -> None:
        first = _notifier(tmp_path, channel, clock=clock)
        await first.send(_message())
        restarted = _notifier(tmp_path, channel, clock=clock)
        assert restarted.pending() == first.pending() != []
        clock.now += 60
        async with Receiver(port) as receiver:
            assert _summary(await restarted.retry_due()) == [("late", True, 2)]
        assert receiver.requests[0].json()["message"] == _message().body
        assert _notifier(tmp_path, channel, clock=clock).pending() == []

    asyncio.run(scenario())


def test_a_send_cut_short_by_shutdown_is_kept_for_the_next_run(tmp_path: Path) -> None:
    """Talon stopped (SIGTERM) while a channel was still sending, a recovery notice say:
    the message is in the outbox, and the next run delivers it (never lost to a restart)."""
    clock = Clock()
    out = tmp_path / "got.txt"
    slow = {"name": "slow", "command": ["sh", "-c", f"sleep 30; cat > {out}"]}
    quick = {"name": "quick", "command": ["sh", "-c", f"cat > {out}"]}

    async def scenario() -> None:
        first = _notifier(tmp_path, slow, clock=clock)
        sending = asyncio.create_task(first.send(_message()))
        await asyncio.sleep(0.5)
        sending.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sending
        restarted = _notifier(tmp_path, {**quick, "name": "slow"}, clock=clock)
        assert [p["channel"] for p in restarted.pending()] == ["slow"]
        clock.now += 3600
        assert _summary(await restarted.retry_due()) == [("slow", True, 2)]
        assert out.read_text() == _message().body

    asyncio.run(scenario())


def test_an_outbox_entry_for_a_removed_channel_is_dropped(tmp_path: Path) -> None:
    clock = Clock()

    async def scenario() -> list[Delivery]:
        await _notifier(tmp_path, _json("old", free_port()), clock=clock).send(_message())
        clock.now += 3600
        return await _notifier(tmp_path, _json("new", free_port()), clock=clock).retry_due()

    (dropped,) = asyncio.run(scenario())
    assert (dropped.channel, dropped.ok) == ("old", False)
    assert "no longer configured" in dropped.detail
    assert json.loads((tmp_path / "outbox.json").read_text())["entries"] == []


def test_command_channel_gets_the_body_on_stdin_and_the_rest_in_its_env(tmp_path: Path) -> None:
    """R26: the secret reaches the command in its env, never in its argv."""
    script = 'cat > "$0/body"; env > "$0/env"; tr "\\0" " " < /proc/$$/cmdline > "$0/argv"'
    channel = {
        "name": "imessage",
        "command": ["sh", "-c", script, str(tmp_path)],
        "secret": "env:NTFY_TOKEN",
    }
    message = _message("sos")
    (delivery,) = asyncio.run(_notifier(tmp_path, channel).send(message))
    assert (delivery.ok, delivery.detail) == (True, "exit 0")
    assert (tmp_path / "body").read_text() == message.body
    env = dict(
        line.split("=", 1) for line in (tmp_path / "env").read_text().splitlines() if "=" in line
    )
    assert env["TALON_TITLE"] == message.title
    assert (env["TALON_EVENT"], env["TALON_NODE_ID"], env["TALON_INCIDENT"]) == (
        "sos",
        NODE,
        "edge-7-1",
    )
    assert env["TALON_SECRET"] == TOKEN
    assert env["PATH"]  # explicit, never inherited by accident (R1)
    assert TOKEN not in (tmp_path / "argv").read_text()


def test_a_command_that_never_reads_a_large_body_still_finishes(tmp_path: Path) -> None:
    """R21: stdin is fed without waiting on the child; 200 kB is far over a pipe's buffer."""
    channel = {"name": "deaf", "command": ["sh", "-c", "exit 0"]}
    started = time.monotonic()
    (delivery,) = asyncio.run(
        _notifier(tmp_path, channel, timeout_secs=5).send(_message(body="x " * 100_000))
    )
    assert delivery.ok
    assert time.monotonic() - started < 5


def test_channels_get_only_the_events_they_asked_for(tmp_path: Path) -> None:
    async def scenario() -> tuple[list[Delivery], list[Delivery]]:
        async with Receiver() as r:
            notifier = _notifier(
                tmp_path, _json("pager", r.port, events=["sos"]), _json("chat", r.port)
            )
            return await notifier.send(_message("notify")), await notifier.send(
                _message("sos", key="edge-7-1/4/sos/1")
            )

    notify, sos = asyncio.run(scenario())
    assert [d.channel for d in notify] == ["chat"]
    assert [d.channel for d in sos] == ["pager", "chat"]


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def root_records() -> Iterator[_Records]:
    """What reaches the root logger, where any log setup would pick it up."""
    handler, root = _Records(), logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)


def test_a_secret_never_reaches_a_detail_the_outbox_or_a_log(
    tmp_path: Path, root_records: _Records, capfd: pytest.CaptureFixture[str]
) -> None:
    """R26: a channel that echoes its secret; URLs with the secret, one that apprise rejects.

    apprise and urllib3 log whole URLs (at debug, and at error for one apprise cannot parse).
    """
    secret = {"secret": "env:NTFY_TOKEN"}

    async def scenario() -> list[Delivery]:
        async with Receiver() as r:
            channels: list[dict[str, Any]] = [
                {"name": "echo", "command": ["sh", "-c", 'echo "no $TALON_SECRET" >&2; exit 3']},
                {"name": "refused", "url": f"json://127.0.0.1:{free_port()}/{{secret}}"},
                {"name": "bogus", "url": "nosuchscheme://{secret}@example.invalid/"},
                {"name": "sent", "url": f"json://127.0.0.1:{r.port}/{{secret}}/hook"},
            ]
            deliveries = await _notifier(tmp_path, *[{**c, **secret} for c in channels]).send(
                _message()
            )
            assert r.requests[0].path == f"/{TOKEN}/hook"
            return deliveries

    deliveries = asyncio.run(scenario())
    details = {d.channel: d.detail for d in deliveries}
    assert details["echo"] == "exit 3: no ***"
    assert "apprise does not accept" in details["bogus"]
    assert [d.ok for d in deliveries] == [False, False, False, True]
    outbox = (tmp_path / "outbox.json").read_text()
    assert len(json.loads(outbox)["entries"]) == 3
    out, err = capfd.readouterr()
    assert [line for line in root_records.lines if TOKEN in line] == []
    for text in (outbox, out, err, *details.values()):
        assert TOKEN not in text


def test_an_unresolvable_secret_fails_only_its_channel(tmp_path: Path) -> None:
    async def scenario() -> list[Delivery]:
        async with Receiver() as r:
            broken = {**_json("broken", r.port, "{secret}"), "secret": "env:TALON_NOT_SET"}
            return await _notifier(tmp_path, broken, _json("fine", r.port)).send(_message())

    broken, fine = asyncio.run(scenario())
    assert not broken.ok
    assert "env:TALON_NOT_SET" in broken.detail
    assert fine.ok


def test_an_outbox_that_cannot_be_written_is_reported_not_raised(tmp_path: Path) -> None:
    """R31: a write error is reported, never fatal."""
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a directory should be")
    notifier = _notifier(tmp_path, _json("late", free_port()), outbox=blocker / "outbox.json")
    (delivery,) = asyncio.run(notifier.send(_message()))
    assert not delivery.ok
    assert "outbox not saved" in delivery.detail
    assert notifier.last_error is not None
    assert "cannot write" in notifier.last_error


def test_a_corrupt_outbox_is_reported_and_replaced(tmp_path: Path) -> None:
    (tmp_path / "outbox.json").write_text("{not json")
    notifier = _notifier(tmp_path, _json("late", free_port()))
    assert notifier.pending() == []
    assert notifier.last_error is not None
    assert "unreadable" in notifier.last_error
    asyncio.run(notifier.send(_message()))
    assert notifier.last_error is None
    assert len(json.loads((tmp_path / "outbox.json").read_text())["entries"]) == 1


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("json://h/x", "json://h/x?cto=7&rto=7"),
        ("json://h/x?", "json://h/x?cto=7&rto=7"),
        ("ntfy://h/t?priority=high", "ntfy://h/t?priority=high&cto=7&rto=7"),
        ("json://h/x?rto=30", "json://h/x?rto=30&cto=7"),
        ("json://h/x?cto=2&rto=3", "json://h/x?cto=2&rto=3"),
    ],
)
def test_apprise_urls_get_connect_and_read_timeouts(url: str, expected: str) -> None:
    assert with_timeouts(url, 7) == expected


def test_no_channel_means_no_delivery_and_no_outbox_write(tmp_path: Path) -> None:
    assert asyncio.run(_notifier(tmp_path).send(_message())) == []
    assert not (tmp_path / "outbox.json").exists()


@pytest.mark.parametrize("jump", [3600.0, -3600.0])
def test_f22_a_wall_jump_between_runs_moves_no_retry(tmp_path: Path, jump: float) -> None:
    """The retry times are on Talon's clock and the outbox keeps its stamp: the next run
    re-bases them, so a clock stepped while Talon was down neither fires a retry at once
    (+1 h) nor delays it by an hour (-1 h)."""
    from tests.support.clocks import Hands

    hands = Hands()
    channel = {"name": "late", "command": ["false"]}  # fails at once: an outbox entry
    env = {**exec_env(), "NTFY_TOKEN": TOKEN}

    def notifier() -> Notifier:
        config = NotifyConfig(channel=[ChannelConfig(**channel)])
        secrets = Secrets(SecretsConfig(), env)
        outbox = tmp_path / "outbox.json"
        return Notifier(config, secrets, env=env, outbox_path=outbox, timeline=hands.clock())

    async def scenario() -> None:
        first = notifier()
        await first.send(_message())
        [pending] = first.pending()
        due_in = pending["retry_at"] - first.clock()
        hands.tick(5)
        hands.jump(jump)  # NTP steps the clock while Talon is down
        restarted = notifier()
        [again] = restarted.pending()
        assert again["retry_at"] - restarted.clock() == pytest.approx(due_in - 5)
        assert await restarted.retry_due() == []  # not due yet, whatever the wall clock says

    asyncio.run(scenario())
