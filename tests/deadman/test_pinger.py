"""The dead-man's switch's sending side against a real HTTP recorder on 127.0.0.3."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any

from talon.actions.deadman import MAX_PENDING, Deadman
from talon.actions.secrets import Secrets
from talon.config.fleet import DeadmanConfig
from talon.config.outputs import SecretsConfig
from talon.core import CoreState
from tests.deadman.recorder import Recorder
from tests.support import procs


class Log:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str, dict[str, Any]]] = []

    def info(self, event: str, **kw: Any) -> None:
        self.lines.append(("info", event, kw))

    def warning(self, event: str, **kw: Any) -> None:
        self.lines.append(("warning", event, kw))

    def exception(self, event: str, **kw: Any) -> None:
        self.lines.append(("exception", event, kw))


class Metrics:
    def __init__(self) -> None:
        self.seen: list[tuple[str, bool]] = []

    def observe_deadman(self, kind: str, ok: bool) -> None:
        self.seen.append((kind, ok))


def _wiring(url: str | None, env: dict[str, str] | None = None, **kw: Any) -> Any:
    config = DeadmanConfig(url=url, min_interval_secs=0, **kw)
    return SimpleNamespace(
        loaded=SimpleNamespace(config=SimpleNamespace(deadman=config)),
        secrets=Secrets(SecretsConfig(), env or {}),
    )


def _deadman(**kw: Any) -> tuple[Deadman, Log, Metrics]:
    metrics, log = Metrics(), Log()
    deadman = Deadman("edge-7", metrics, **kw)
    deadman.log = log
    return deadman, log, metrics


async def _cycles(deadman: Deadman, w: Any, n: int, state: CoreState | None = None) -> None:
    for _ in range(n):
        deadman.started(w, time.time())
        deadman.finished(w, time.time(), state or CoreState(), [], {"web": "running"})
        # A daemon's cycles are seconds apart; back to back, a loaded box could still have
        # this cycle's pings in flight at the next, and the pending cap would drop one.
        await _drain(deadman)


async def _drain(deadman: Deadman) -> None:
    await asyncio.gather(*deadman._tasks, return_exceptions=True)


def test_pings_go_in_order_to_the_url_the_environment_names() -> None:
    deadman, log, metrics = _deadman()
    with Recorder() as r:
        w = _wiring("env:TALON_DEADMAN_URL", {"TALON_DEADMAN_URL": r.url()})

        async def main() -> None:
            await _cycles(deadman, w, 2)
            await _drain(deadman)
            await deadman.aclose()

        asyncio.run(main())
        pings = r.seen()
    path = "/ping/5f1b2c7e-talon-e2e"
    assert [(p.method, p.path) for p in pings] == [("POST", f"{path}/start"), ("POST", path)] * 2
    assert "node: edge-7" in pings[1].body
    assert metrics.seen == [("start", True), ("success", True)] * 2
    assert log.lines == []


def test_a_hung_receiver_never_blocks_the_caller_and_is_logged_once() -> None:
    deadman, log, metrics = _deadman()
    with Recorder() as r:
        r.hang()
        w = _wiring(r.url(), timeout_secs=1)

        async def main() -> float:
            started = time.monotonic()
            for _ in range(4):  # eight pings submitted at once: the caller never waits
                deadman.started(w, time.time())
                deadman.finished(w, time.time(), CoreState(), [], {})
            took = time.monotonic() - started
            assert len(deadman._tasks) == MAX_PENDING
            await _drain(deadman)
            r.release()
            await _cycles(deadman, w, 1)
            await _drain(deadman)
            await deadman.aclose()
            return took

        took = asyncio.run(main())
    assert took < 0.5  # no network wait at all: the pings are tasks
    warnings = [kw["error"] for level, event, kw in log.lines if event == "deadman.failed"]
    assert sorted(warnings) == ["dropped: 3 pings still pending", "no answer within 1s"]
    assert log.lines[-1][:2] == ("info", "deadman.ok")
    assert metrics.seen.count(("start", False)) + metrics.seen.count(("success", False)) == 8
    assert metrics.seen[-2:] == [("start", True), ("success", True)]


def test_a_refusing_receiver_is_logged_never_raised_and_hides_the_url() -> None:
    deadman, log, _ = _deadman()
    with procs.refusing_port("127.0.0.3") as port:
        w = _wiring(f"http://127.0.0.3:{port}/ping/5f1b2c7e-secret-uuid")

        async def main() -> None:
            await _cycles(deadman, w, 3)
            await _drain(deadman)
            await deadman.aclose()

        asyncio.run(main())
    errors = [kw["error"] for _, event, kw in log.lines if event == "deadman.failed"]
    assert len(errors) == len(log.lines)  # warnings only, never an exception
    assert len(set(errors)) == len(errors)  # each distinct error once
    assert any("127.0.0.3" in e and "Connect" in e for e in errors), errors
    assert "5f1b2c7e" not in str(log.lines)


def test_an_environment_value_that_is_no_url_is_reported_by_its_name() -> None:
    deadman, log, _ = _deadman()
    w = _wiring("env:TALON_DEADMAN_URL", {"TALON_DEADMAN_URL": "hc-ping.com/5f1b2c7e"})

    async def main() -> None:
        await _cycles(deadman, w, 1)
        await _drain(deadman)
        await deadman.aclose()

    asyncio.run(main())
    [(_, _, kw)] = log.lines
    assert kw["error"].startswith(
        "[deadman] url = env:TALON_DEADMAN_URL: the value must start with"
    )
    assert "5f1b2c7e" not in kw["error"]


def test_nothing_is_sent_in_shadow_mode_or_without_a_url() -> None:
    with Recorder() as r:
        for deadman, w in (
            (_deadman(shadow=True)[0], _wiring(r.url())),
            (_deadman()[0], _wiring(None)),
        ):

            async def main(d: Deadman = deadman, wiring: Any = w) -> None:
                await _cycles(d, wiring, 2)
                await _drain(d)
                await d.aclose()

            asyncio.run(main())
        assert r.seen() == []
