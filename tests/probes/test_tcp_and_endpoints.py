"""The endpoint resolver with real listeners: 127.0.0.2 plays the VM address.

Principle 1 and 2 of DESIGN.md: several paths, each result says which answered,
and a service that answers on the VM address but not on localhost is visible
as such (the split-brain witness).
"""

from __future__ import annotations

import asyncio

from hypothesis import given
from hypothesis import strategies as st

from talon.config import EndpointSpec, TcpProbe
from talon.probes import ErrorKind, ProbeContext, Status
from talon.probes import tcp as tcp_probe
from talon.probes.endpoints import Path, plan, verdict
from talon.report import Observation, PathOutcome
from tests.support import procs


def _tcp(address: str, endpoint: EndpointSpec | None = None, timeout: float = 1.0) -> TcpProbe:
    return TcpProbe(name="t", kind="tcp", address=address, endpoint=endpoint, timeout_secs=timeout)


def _check(spec: TcpProbe, ctx: ProbeContext) -> Observation:
    return asyncio.run(tcp_probe.probe(spec, ctx))


def test_localhost_answers_first_when_it_works(vm_ctx: ProbeContext) -> None:
    with procs.silent_listener("127.0.0.1") as port, procs.farm(f"127.0.0.2:{port}"):
        obs = _check(_tcp(f"127.0.0.1:{port}", EndpointSpec()), vm_ctx)
    assert obs.status is Status.OK
    assert obs.endpoint_class == "localhost"


def test_vm_path_answers_when_localhost_refuses(vm_ctx: ProbeContext) -> None:
    """The F1/F2 witness: healthy through a fallback path, and the result says so."""
    port = procs.free_port("127.0.0.2")
    with procs.farm(f"127.0.0.2:{port}"):
        obs = _check(_tcp(f"127.0.0.1:{port}", EndpointSpec()), vm_ctx)
    assert obs.status is Status.OK
    assert obs.endpoint_class == "vm"
    localhost, vm = obs.paths
    assert (localhost.path_class, localhost.ok, localhost.error_kind) == (
        "localhost",
        False,
        ErrorKind.REFUSED,
    )
    assert (vm.path_class, vm.ok, vm.target) == ("vm", True, f"127.0.0.2:{port}")


def test_a_hung_localhost_costs_one_timeout_not_one_per_path(vm_ctx: ProbeContext) -> None:
    """F2: the forwarder is stopped (accepts, never answers) but the VM answers."""
    from tests.support.procs import farm

    port = procs.free_port("127.0.0.2")
    with farm(f"127.0.0.2:{port}"), procs.silent_listener("127.0.0.1") as hung:
        from talon.config import HttpProbe

        spec = HttpProbe(
            name="h",
            kind="http",
            url=f"http://127.0.0.1:{hung}/ok",
            timeout_secs=0.5,
            endpoint=EndpointSpec(port=port),
        )
        from talon.probes import http as http_probe

        obs = asyncio.run(http_probe.probe(spec, vm_ctx))
    assert obs.status is Status.OK
    assert obs.endpoint_class == "vm"
    assert obs.paths[0].error_kind is ErrorKind.TIMEOUT


def test_every_path_failing_is_reported_path_by_path(vm_ctx: ProbeContext) -> None:
    port = procs.free_port("127.0.0.2")
    obs = _check(_tcp(f"127.0.0.1:{port}", EndpointSpec()), vm_ctx)
    assert obs.status is Status.CRITICAL
    assert obs.endpoint_class is None
    assert [(p.path_class, p.error_kind) for p in obs.paths] == [
        ("localhost", ErrorKind.REFUSED),
        ("vm", ErrorKind.REFUSED),
    ]


def test_without_a_runtime_the_vm_path_is_not_tried_and_says_why(ctx: ProbeContext) -> None:
    obs = _check(_tcp(f"127.0.0.1:{procs.free_port()}", EndpointSpec()), ctx)
    vm = obs.paths[1]
    assert not vm.tried
    assert vm.error_kind is ErrorKind.UNAVAILABLE
    assert "no VM address" in vm.message


def test_dns_path_uses_the_configured_name(vm_ctx: ProbeContext) -> None:
    obs = _check(
        _tcp(f"127.0.0.1:{procs.free_port()}", EndpointSpec(via=["dns"], dns="localhost")), vm_ctx
    )
    assert obs.paths[0].path_class == "dns"
    assert obs.paths[0].target.startswith("localhost:")


def test_plain_remote_target_is_classed_remote() -> None:
    assert plan("192.0.2.10", 80, None, None) == [Path("remote", "192.0.2.10", 80)]
    assert plan("localhost", 80, None, None)[0].path_class == "localhost"  # type: ignore[union-attr]


def test_remote_overrides_the_address_class_for_gateways_and_lans() -> None:
    # a WAN target reached through a local gateway is still remote (F17)
    assert plan("127.0.0.1", 80, None, None, remote=True) == [Path("remote", "127.0.0.1", 80)]
    # a LAN target is not: it never takes part in a network_down verdict
    assert plan("192.0.2.10", 22, None, None, remote=False) == [Path("lan", "192.0.2.10", 22)]
    assert plan("127.0.0.1", 80, None, None, remote=False) == [Path("localhost", "127.0.0.1", 80)]


paths_strategy = st.lists(
    st.sampled_from(["localhost", "vm", "dns"]), min_size=1, max_size=3, unique=True
)


@given(
    via=paths_strategy, vm=st.one_of(st.none(), st.just("127.0.0.2")), port=st.integers(1, 65535)
)
def test_plan_keeps_the_configured_order(via: list[str], vm: str | None, port: int) -> None:
    endpoint = EndpointSpec(via=via, dns="svc.ns.svc.cluster.local")  # type: ignore[arg-type]
    planned = plan("127.0.0.1", port, endpoint, vm)
    assert [p.path_class for p in planned] == via
    for p in planned:
        if isinstance(p, Path):
            assert p.port == port
        else:
            assert p.path_class == "vm"
            assert vm is None


def test_a_slower_fallback_is_cancelled_once_localhost_answers(vm_ctx: ProbeContext) -> None:
    """The preferred path answered: the hung VM path is not waited for, and says so."""
    from talon.config import HttpProbe
    from talon.probes import http as http_probe

    with procs.farm("127.0.0.1:0") as [(_, port)], procs.silent_listener("127.0.0.2") as hung:
        spec = HttpProbe(
            name="h",
            kind="http",
            url=f"http://127.0.0.1:{port}/ok",
            timeout_secs=5,
            endpoint=EndpointSpec(via=["localhost", "vm"], port=hung),
        )
        obs = asyncio.run(http_probe.probe(spec, vm_ctx))
    assert obs.endpoint_class == "localhost"
    localhost, vm = obs.paths
    assert localhost.latency_ms is not None
    assert localhost.latency_ms < 5000
    assert not vm.tried
    assert vm.message == "not needed: a preferred path answered"


def _outcome(path_class: str, kind: ErrorKind | None, tried: bool = True) -> PathOutcome:
    return PathOutcome(path_class, f"{path_class}:1", False, 1.0 if tried else None, kind, "no")


def test_paths_whose_own_tool_failed_cannot_tell_so_the_answer_is_unknown() -> None:
    """F26: every path tried failed in its own tooling (a missing or hung client): unknown,
    with that kind; the untried VM path changes nothing."""
    missing = verdict(
        [
            _outcome("localhost", ErrorKind.TOOL_MISSING),
            _outcome("vm", ErrorKind.UNAVAILABLE, tried=False),
        ]
    )
    assert (missing.status, missing.error_kind) == (Status.UNKNOWN, ErrorKind.TOOL_MISSING)
    hung = verdict([_outcome("localhost", ErrorKind.TOOL_TIMEOUT)])
    assert (hung.status, hung.error_kind) == (Status.UNKNOWN, ErrorKind.TOOL_TIMEOUT)


def test_a_path_that_reached_the_target_decides_over_one_that_could_not_tell() -> None:
    mixed = verdict(
        [_outcome("localhost", ErrorKind.TOOL_TIMEOUT), _outcome("vm", ErrorKind.REFUSED)]
    )
    assert (mixed.status, mixed.error_kind) == (Status.CRITICAL, ErrorKind.REFUSED)
    assert mixed.message == "localhost localhost:1: no; vm vm:1: no"
    nothing_tried = verdict([_outcome("vm", ErrorKind.UNAVAILABLE, tried=False)])
    assert nothing_tried.status is Status.CRITICAL  # as before: no path could be tried
