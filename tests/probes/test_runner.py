"""The cycle runner: concurrency, bulkheads, isolation of slow and broken probes (F12)."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request

from talon.config import HttpProbe, ProbeSpec, ScriptProbe
from talon.config.models import BulkheadConfig
from talon.probes import ErrorKind, ProbeContext, Status, run_cycle
from talon.probes.runner import PROBES
from talon.report import CycleReport, Observation
from tests.support import procs


def _http(name: str, url: str, timeout: float = 1.0, cls: str = "service") -> HttpProbe:
    return HttpProbe(name=name, kind="http", url=url, timeout_secs=timeout, **{"class": cls})  # type: ignore[arg-type]


def _cycle(probes: list[ProbeSpec], ctx: ProbeContext, **kw: object) -> CycleReport:
    return asyncio.run(run_cycle(probes, ctx, **kw))  # type: ignore[arg-type]


def test_hung_targets_cost_one_timeout_not_the_sum(ctx: ProbeContext) -> None:
    """F12: ten hung targets and healthy ones; the cycle ends after about one timeout."""
    with procs.farm("127.0.0.1:0") as [(host, port)]:
        hung = [_http(f"hang{i}", f"http://{host}:{port}/hang", timeout=1.0) for i in range(10)]
        fine = [_http(f"ok{i}", f"http://{host}:{port}/ok") for i in range(20)]
        started = time.monotonic()
        report = _cycle([*hung, *fine], ctx)
        wall = time.monotonic() - started
    assert wall < 5, wall  # the sum would be 10 s
    by_status = {r.key: r for r in report.results}
    assert all(by_status[f"http.hang{i}"].error_kind is ErrorKind.TIMEOUT for i in range(10))
    assert all(by_status[f"http.ok{i}"].status is Status.OK for i in range(20))


def test_the_slowest_of_the_last_cycle_start_first_and_results_keep_their_order(
    ctx: ProbeContext,
) -> None:
    started: list[str] = []

    async def record(spec: ProbeSpec, ctx: ProbeContext) -> Observation:
        started.append(spec.name)
        return Observation(Status.OK, spec.name)

    probes: list[ProbeSpec] = [
        ScriptProbe(name=n, kind="script", command="true") for n in ("a", "b", "c", "d")
    ]
    registry = {**PROBES, "script": record}
    last_ms = {"script.c": 1000.0, "script.a": 3.0, "script.d": 40.0}  # b is new
    report = _cycle(probes, ctx, registry=registry, last_ms=last_ms)
    assert started == ["c", "d", "a", "b"]
    assert [r.message for r in report.results] == ["a", "b", "c", "d"]
    started.clear()
    _cycle(probes, ctx, registry=registry)  # no last cycle: the configured order
    assert started == ["a", "b", "c", "d"]


def test_a_class_bulkhead_caps_concurrency_without_touching_other_classes(
    ctx: ProbeContext,
) -> None:
    with procs.farm("127.0.0.1:0") as [(host, port)]:
        app = [_http(f"app{i}", f"http://{host}:{port}/hang", 0.3, "app") for i in range(6)]
        infra = [_http(f"infra{i}", f"http://{host}:{port}/ok", 1.0, "infra") for i in range(3)]
        report = _cycle([*app, *infra], ctx, bulkheads=BulkheadConfig(app=2))
        with urllib.request.urlopen(f"http://{host}:{port}/stats", timeout=5) as response:
            stats = json.load(response)
    assert stats["hang_max_concurrent"] == 2  # never more than the app bulkhead
    assert all(r.status is Status.OK for r in report.results if r.probe_class == "infra")


def test_a_probe_that_raises_is_an_unknown_result_not_a_dead_cycle(ctx: ProbeContext) -> None:
    async def broken(spec: object, ctx: ProbeContext) -> Observation:
        raise RuntimeError("bug in a probe")

    registry = {**PROBES, "script": broken}
    probes: list[ProbeSpec] = [
        ScriptProbe(name="bad", kind="script", command="true"),
        HttpProbe(
            name="x", kind="http", url=f"http://127.0.0.1:{procs.free_port()}/", enabled=False
        ),
    ]
    report = _cycle(probes, ctx, registry=registry)
    bad, skipped = report.results
    assert bad.status is Status.UNKNOWN
    assert bad.error_kind is ErrorKind.INTERNAL
    assert "bug in a probe" in bad.message
    assert skipped.status is Status.SKIPPED


def test_a_probe_overrunning_its_timeout_is_stopped_by_the_backstop(ctx: ProbeContext) -> None:
    async def stuck(spec: object, ctx: ProbeContext) -> Observation:
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    spec = ScriptProbe(name="stuck", kind="script", command="true", timeout_secs=0.1)
    report = _cycle([spec], ctx, registry={**PROBES, "script": stuck})
    assert report.results[0].error_kind is ErrorKind.TIMEOUT


def test_results_carry_identity_and_the_vm_address_is_discovered(vm_ctx: ProbeContext) -> None:
    from dataclasses import replace

    from talon.config import EndpointSpec, TcpProbe

    port = procs.free_port("127.0.0.2")
    undiscovered = replace(vm_ctx, vm_address=None)  # the runner asks the runtime itself
    with procs.farm(f"127.0.0.2:{port}"):
        probe = TcpProbe(
            name="svc", kind="tcp", address=f"127.0.0.1:{port}", endpoint=EndpointSpec()
        )
        report = _cycle([probe], undiscovered)
    result = report.results[0]
    assert (result.node_id, result.platform, result.kind, result.probe_class) == (
        "test-node",
        "linux",
        "tcp",
        "service",
    )
    assert result.endpoint_class == "vm"
    assert report.node_id == "test-node"


def test_exit_code_follows_results(ctx: ProbeContext) -> None:
    """R33: 0 all ok, 1 only non-critical failures, 2 a critical failure."""
    ok = ScriptProbe(name="ok", kind="script", command="true")
    warn_critical = ScriptProbe(name="w", kind="script", command="exit 1", critical=True)
    fail = ScriptProbe(name="f", kind="script", command="exit 2")
    crit = ScriptProbe(name="c", kind="script", command="exit 2", critical=True)
    info = ScriptProbe(name="i", kind="script", command="exit 2", critical=True, informational=True)
    assert _cycle([ok], ctx).exit_code == 0
    assert _cycle([ok, fail], ctx).exit_code == 1
    assert _cycle([ok, warn_critical], ctx).exit_code == 1
    assert _cycle([ok, info], ctx).exit_code == 1
    assert _cycle([ok, fail, crit], ctx).exit_code == 2


def test_a_probe_placed_on_another_node_is_not_hosted_here(ctx: ProbeContext) -> None:
    """R4: a worker that moved to another machine is 'not hosted here', not down."""
    elsewhere = ScriptProbe(name="w", kind="script", command="exit 2", nodes=["other-node"])
    here = ScriptProbe(name="h", kind="script", command="true", nodes=["test-node"])
    report = _cycle([elsewhere, here], ctx)
    away, local = report.results
    assert away.status is Status.SKIPPED
    assert away.message == "not hosted here (placed on other-node)"
    assert local.status is Status.OK
    assert report.exit_code == 0
