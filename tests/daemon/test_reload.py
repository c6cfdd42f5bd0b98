"""The config watcher (F13, F30): it never dies on a file, and it compares content, not
only mtimes, so a fix saved within the same mtime tick as the bad edit is picked up."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from talon.config import LoadedConfig, load
from talon.daemon.reload import Reloader
from talon.node import NodeIdentity

GOOD = '[tcp.db]\naddress = "127.0.0.1:5432"\n'
BAD = '[tcp.db]\naddress = "127.0.0.1:99999"\n'  # same length as the fix below
FIXED = '[tcp.db]\naddress = "127.0.0.1:15432"\n'


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.config_error: list[bool] = []

    def error(self, event: str, **kw: Any) -> None:
        self.events.append((event, kw))

    def info(self, event: str, **kw: Any) -> None:
        self.events.append((event, kw))

    def set_config_error(self, value: bool) -> None:
        self.config_error.append(value)


def _save(path: Path, text: str, mtime_ns: int) -> None:
    path.write_text(text)
    os.utime(path, ns=(mtime_ns, mtime_ns))


def test_the_watcher_survives_any_load_and_picks_up_a_fix_saved_in_the_same_mtime_tick(
    identity: NodeIdentity,
) -> None:
    identity.config_dir.mkdir(parents=True)
    config = identity.config_dir / "config.toml"
    services = identity.config_dir / "services.toml"
    config.write_text('[process_manager]\nkind = "null"\n')
    services.write_text(GOOD)
    good = load(config, identity=identity)
    assert len(BAD) == len(FIXED)
    calls: list[Path] = []

    def loader(path: Path, **kw: Any) -> LoadedConfig:
        calls.append(path)
        if len(calls) == 1:  # a loader bug, once
            raise RuntimeError("boom")
        return load(path, **kw)

    recorder = Recorder()
    reloader = Reloader(
        config,
        identity,
        lambda: good,
        allow_insecure=False,
        log=recorder,
        metrics=recorder,
        on_change=lambda: None,
        loader=loader,
    )
    reloader.baseline()
    assert reloader.poll() is False  # nothing changed: nothing loaded

    tick = services.stat().st_mtime_ns + 1_000_000_000
    _save(services, BAD, tick)
    reloader.poll()  # the loader raises: logged, the last good config kept
    assert "RuntimeError: boom" in (reloader.error or "")
    assert reloader.take() is None

    reloader.poll(forced=True)  # SIGHUP: the bad file's own error, with its line
    assert reloader.error is not None
    assert f"{services}:2 [tcp.db.address]" in reloader.error
    assert reloader.take() is None

    _save(services, FIXED, tick)  # the fix: same size, same mtime, other content
    assert reloader.poll() is True
    assert reloader.error is None
    fresh = reloader.take()
    assert fresh is not None
    assert [getattr(p, "address", None) for p in fresh.probes] == ["127.0.0.1:15432"]
    assert recorder.config_error == [True, True, False]
    assert [e for e, _ in recorder.events] == [
        "config.invalid",
        "config.invalid",
        "config.reloaded",
    ]
    assert reloader.poll() is False  # and it settles
