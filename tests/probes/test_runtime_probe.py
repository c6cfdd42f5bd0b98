"""The ``runtime`` probe: the adapter's control-path verdict, bounded, plus an uptime warning."""

from __future__ import annotations

import asyncio
import textwrap
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from talon.adapters.runtime.colima import ColimaRuntime
from talon.config import load
from talon.config.probes import ContainerProbe, RuntimeProbe
from talon.errors import ConfigError
from talon.node import NodeIdentity
from talon.probes import ErrorKind, ProbeContext, Status
from talon.probes import runtime as runtime_probe
from talon.probes.runner import run_cycle
from talon.report import Observation
from tests.adapters.runtime.fakes import FakeTools


class StubRuntime:
    """A runtime whose verdict the test sets; it counts the calls."""

    name = "stub"

    def __init__(
        self, healthy: bool = True, uptime: float | None = None, hang: bool = False
    ) -> None:
        self.healthy = healthy
        self.uptime = uptime
        self.hang = hang
        self.health_detail = "" if healthy else "GET /_ping: refused"
        self.uptime_calls = 0

    async def is_healthy(self) -> bool:
        if self.hang:
            await asyncio.sleep(3600)
        return self.healthy

    async def vm_address(self) -> str | None:
        return None

    async def uptime_s(self) -> float | None:
        self.uptime_calls += 1
        return self.uptime

    def ssh_command(self, script: str) -> list[str]:
        return ["sh", "-c", script]

    async def force_cycle(self) -> None: ...

    async def restart_forwarding(self) -> None: ...

    async def facts(self) -> dict[str, Any]:
        return {}


def _run(ctx: ProbeContext, runtime: object, **fields: Any) -> Observation:
    spec = RuntimeProbe.model_validate({"name": "vm", "kind": "runtime", **fields})
    return asyncio.run(runtime_probe.probe(spec, replace(ctx, runtime=runtime)))  # type: ignore[arg-type]


def test_healthy(ctx: ProbeContext) -> None:
    stub = StubRuntime()
    obs = _run(ctx, stub)
    assert obs.status is Status.OK
    assert obs.message == "stub is healthy"
    assert stub.uptime_calls == 0  # no uptime asked unless min_uptime_secs is set


def test_unhealthy_says_why(ctx: ProbeContext) -> None:
    obs = _run(ctx, StubRuntime(healthy=False))
    assert obs.status is Status.CRITICAL
    assert obs.error_kind is ErrorKind.NOT_READY
    assert obs.message == "stub is not healthy: GET /_ping: refused"


def test_no_runtime_is_unknown_not_critical(ctx: ProbeContext) -> None:
    obs = _run(ctx, ctx.runtime)  # the null runtime
    assert obs.status is Status.UNKNOWN
    assert obs.error_kind is ErrorKind.UNAVAILABLE
    assert "no container runtime" in obs.message


def test_a_runtime_whose_tool_is_missing_is_unknown_tool_missing(
    ctx: ProbeContext, tmp_path: Path
) -> None:
    """F26: the runtime's own tool is not on PATH: this node's tooling, not a dead VM."""
    runtime = ColimaRuntime({"PATH": str(tmp_path), "HOME": str(tmp_path)})
    obs = _run(ctx, runtime)
    assert (obs.status, obs.error_kind) == (Status.UNKNOWN, ErrorKind.TOOL_MISSING), obs
    assert f"colima is not available: colima: No such file or directory (PATH={tmp_path})" in (
        obs.message
    )
    assert "fix: install colima, or add its directory to [exec] path" in obs.message


def test_a_hung_runtime_costs_only_the_timeout(ctx: ProbeContext) -> None:
    started = time.monotonic()
    obs = _run(ctx, StubRuntime(hang=True), timeout_secs=0.2)
    assert time.monotonic() - started < 2
    assert obs.status is Status.CRITICAL
    assert obs.error_kind is ErrorKind.TIMEOUT


def test_a_recent_restart_is_a_warning(ctx: ProbeContext) -> None:
    obs = _run(ctx, StubRuntime(uptime=30.0), min_uptime_secs=120)
    assert obs.status is Status.WARNING
    assert "up only 30s" in obs.message
    assert obs.detail["uptime_s"] == 30.0


def test_a_long_uptime_is_ok(ctx: ProbeContext) -> None:
    obs = _run(ctx, StubRuntime(uptime=600.0), min_uptime_secs=120)
    assert obs.status is Status.OK
    assert obs.message == "stub is healthy, up 10m"


def test_with_the_colima_adapter_in_a_cycle(ctx: ProbeContext, tmp_path: Path) -> None:
    tools = FakeTools(tmp_path)
    tools.set_state(
        {"vms": {"default": {"status": "Running"}}, "guest": {"cat /proc/uptime": "45.0 1.0\n"}}
    )
    cycle_ctx = replace(ctx, runtime=ColimaRuntime(tools.env), env=tools.env)
    spec = RuntimeProbe.model_validate(
        {"name": "vm", "kind": "runtime", "min_uptime_secs": 120, "critical": True}
    )
    report = asyncio.run(run_cycle([spec], cycle_ctx))
    (result,) = report.results
    assert result.key == "runtime.vm"
    assert (result.probe_class, result.layer) == ("infra", "runtime")
    assert result.status is Status.WARNING
    assert "up only 45s" in result.message


def _write(tmp_path: Path, config: str, services: str) -> Path:
    (tmp_path / "config.toml").write_text(textwrap.dedent(config))
    (tmp_path / "services.toml").write_text(textwrap.dedent(services))
    return tmp_path / "config.toml"


def test_services_file_kinds_and_their_default_timeout(
    tmp_path: Path, identity: NodeIdentity
) -> None:
    path = _write(
        tmp_path,
        """
        [probes]
        colima_timeout_secs = 7
        service_timeout_secs = 4
        """,
        """
        [runtime.vm]
        critical = true
        min_uptime_secs = 120

        [container.web]
        container = "web"
        socket = "unix:///run/e.sock"

        [container.quick]
        timeout_secs = 2
        """,
    )
    probes = {p.key: p for p in load(path, identity=identity, env={}).probes}
    vm, web, quick = probes["runtime.vm"], probes["container.web"], probes["container.quick"]
    assert isinstance(vm, RuntimeProbe)
    assert isinstance(web, ContainerProbe)
    assert (vm.timeout_secs, web.timeout_secs, quick.timeout_secs) == (7, 7, 2)
    assert vm.min_uptime_secs == 120
    assert (web.container, web.socket) == ("web", "unix:///run/e.sock")


def test_services_file_rejects_a_bad_container_probe(
    tmp_path: Path, identity: NodeIdentity
) -> None:
    path = _write(tmp_path, "", '[container.web]\nsocket = "tcp://10.0.0.1:2375"\n')
    with pytest.raises(ConfigError, match="unix socket"):
        load(path, identity=identity, env={})
