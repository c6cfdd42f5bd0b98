"""The cyclic GC paced to the cycle (talon.daemon.gc_pacing): a probe cycle leaves
nothing for the collector, and settling freezes, raises the young threshold, frees
what a reload dropped, and restores CPython's settings."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import weakref
from collections.abc import Callable, Iterator

import pytest

from talon.config import HttpProbe, ProbeSpec, ScriptProbe, TcpProbe, load
from talon.daemon.gc_pacing import YOUNG_PER_PROBE, GcPacing, young_threshold
from talon.daemon.loop import Daemon
from talon.node import NodeIdentity
from talon.probes import ProbeContext, Status, run_cycle
from tests.support.procs import free_port


@pytest.fixture
def pacing() -> Iterator[GcPacing]:
    p = GcPacing()
    try:
        yield p
    finally:
        p.restore()


def _every_outcome(host: str, port: int) -> list[ProbeSpec]:
    base = f"http://{host}:{port}"
    closed = free_port()

    def http(name: str, path: str, **kw: object) -> HttpProbe:
        return HttpProbe.model_validate(
            {"name": name, "kind": "http", "url": base + path, "timeout_secs": 0.3, **kw}
        )

    return [
        http("ok", "/ok"),
        http("body", "/chunked", body_contains="needle"),
        http("mismatch", "/health", body_contains="absent"),
        http("status", "/fail"),
        http("hang", "/hang"),
        http("empty", "/empty"),
        http("garbage", "/garbage"),
        HttpProbe(name="refused", kind="http", url=f"http://127.0.0.1:{closed}/", timeout_secs=1),
        TcpProbe(name="tcp", kind="tcp", address=f"{host}:{port}", timeout_secs=1),
        TcpProbe(name="tcp-refused", kind="tcp", address=f"127.0.0.1:{closed}", timeout_secs=1),
        ScriptProbe(name="script", kind="script", command="exit 2", timeout_secs=2),
    ]


def test_a_cycle_of_every_probe_outcome_leaves_no_garbage(
    farm: tuple[str, int], ctx: ProbeContext
) -> None:
    """Nothing a check allocates is left in a reference cycle: reference counting frees it
    all, so a raised young threshold defers no memory (the HTTP parser and its callbacks
    once formed a cycle: five objects a check)."""
    probes = _every_outcome(*farm)

    async def cycles() -> list[Status]:
        await run_cycle(probes, ctx)  # warm: lazy imports, caches, the loop's own objects
        gc.collect()
        gc.disable()
        try:
            for _ in range(3):
                report = await run_cycle(probes, ctx)
            return [r.status for r in report.results]
        finally:
            found = gc.collect()
            gc.enable()
            assert found == 0, f"{found} objects in reference cycles after 3 cycles"

    statuses = asyncio.run(cycles())
    assert statuses.count(Status.OK) == 3  # ok, body, tcp; the others failed as they should
    assert len(statuses) == len(probes)


def test_settle_freezes_the_heap_and_sizes_the_young_generation_to_the_cycle(
    pacing: GcPacing,
) -> None:
    young, *older = pacing.original
    pacing.settle(1000)
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == (1000 * YOUNG_PER_PROBE, *older)
    assert pacing.settled_for == 1000
    pacing.settle(3)  # a few probes: never below CPython's own threshold
    assert gc.get_threshold()[0] == young == young_threshold(3, young)
    pacing.restore()
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == pacing.original


class _Config:
    """Stands for what a config held: objects in a cycle, which only the collector frees."""

    def __init__(self) -> None:
        self.me = self


def test_settling_again_after_a_reload_frees_what_only_the_old_config_held(
    pacing: GcPacing,
) -> None:
    old: _Config | None = _Config()
    gone = weakref.ref(old)
    pacing.settle(10)  # frozen with the rest of the heap
    old = None
    gc.collect()
    assert gone() is not None  # frozen objects are never collected...
    pacing.settle(10)  # ...so the reload's settle unfreezes first
    assert gone() is None


def test_the_daemon_settles_after_the_first_cycle_of_each_config_and_restores_on_stop(
    identity: NodeIdentity, farm: tuple[str, int]
) -> None:
    """The real Daemon in this process: settled for 1 probe after its first cycle, for 3
    after a SIGHUP reload, and CPython's settings back once it has stopped."""
    config = identity.config_dir / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(
        'check_interval_secs = 1\n[health]\nenabled = false\n[process_manager]\nkind = "null"\n'
    )
    services = identity.config_dir / "services.toml"

    def probes(n: int) -> None:
        address = f"{farm[0]}:{farm[1]}"
        services.write_text("".join(f'[tcp.t{i}]\naddress = "{address}"\n' for i in range(n)))

    probes(1)
    daemon = Daemon(load(config, identity=identity), config_path=config)
    original = gc.get_threshold()

    async def until(what: str, done: Callable[[], bool]) -> None:
        try:
            async with asyncio.timeout(30):
                while not done():  # noqa: ASYNC110 (the daemon has no event for it)
                    await asyncio.sleep(0.02)
        except TimeoutError:
            raise AssertionError(f"timed out waiting for {what}") from None

    async def scenario() -> None:
        run = asyncio.create_task(daemon.run())
        await until("the first settle", lambda: daemon.gc.settled_for == 1 or run.done())
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[0] == young_threshold(1, original[0])
        probes(3)
        os.kill(os.getpid(), signal.SIGHUP)  # the daemon's own handler: reload now
        await until("the reload's settle", lambda: daemon.gc.settled_for == 3 or run.done())
        daemon.stop("test")
        assert await run == 0
        # restored by the daemon itself, on its way out
        assert daemon.gc.settled_for is None
        assert gc.get_freeze_count() == 0
        assert gc.get_threshold() == original

    try:
        asyncio.run(scenario())
    finally:
        daemon.gc.restore()  # whatever failed above, this process gets CPython's GC back
