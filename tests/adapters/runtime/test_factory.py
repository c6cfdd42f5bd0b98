"""build_runtime: each kind gets its config fields (as plain values); modules load only when chosen."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from talon.adapters.runtime.base import ContainerRuntime
from talon.adapters.runtime.colima import ColimaRuntime
from talon.adapters.runtime.engine import EngineRuntime
from talon.adapters.runtime.factory import build_runtime
from talon.adapters.runtime.lima import LimaRuntime
from talon.adapters.runtime.null import NullRuntime, StaticRuntime
from talon.adapters.runtime.remote import RemoteRuntime
from talon.config.models import ProbesConfig, RuntimeConfig
from talon.errors import AdapterUnavailable
from talon.lab.runtime import LabRuntime
from tests.support.procs import ROOT

ENV = {"PATH": "/usr/bin:/bin", "HOME": "/home/u"}


def _build(config: RuntimeConfig, timeout_s: float = 5) -> ContainerRuntime:
    return build_runtime(config.model_dump(), ENV, timeout_s=timeout_s)


def test_null_and_static() -> None:
    assert isinstance(_build(RuntimeConfig()), NullRuntime)
    static = _build(RuntimeConfig(kind="static", vm_address="10.0.0.9"))
    assert isinstance(static, StaticRuntime)
    assert static._address == "10.0.0.9"


def test_lab(tmp_path: Path) -> None:
    runtime = _build(RuntimeConfig(kind="lab", lab_dir=str(tmp_path)))
    assert isinstance(runtime, LabRuntime)
    assert runtime.lab.dir == tmp_path


def test_colima_gets_profile_socket_and_timeout() -> None:
    config = RuntimeConfig(kind="colima", profile="work", socket="/s/e.sock")
    runtime = _build(config, 7)
    assert isinstance(runtime, ColimaRuntime)
    assert (runtime.profile, runtime.engine_socket(), runtime.timeout_s) == ("work", "/s/e.sock", 7)
    assert runtime._env == ENV


def test_lima_gets_the_profile_as_instance_and_the_address() -> None:
    config = RuntimeConfig(kind="lima", profile="k8s", vm_address="192.168.105.2")
    runtime = _build(config, 3)
    assert isinstance(runtime, LimaRuntime)
    assert (runtime.instance, runtime._address, runtime.timeout_s) == ("k8s", "192.168.105.2", 3)


def test_native_engine_gets_the_socket() -> None:
    runtime = _build(RuntimeConfig(kind="docker", socket="~/e.sock"))
    assert isinstance(runtime, EngineRuntime)
    assert runtime.engine_socket() == "/home/u/e.sock"


def test_remote_gets_host_options_and_address() -> None:
    config = RuntimeConfig(
        kind="remote", remote_host="ops@node1", ssh_options=["-p", "2222"], vm_address="10.0.0.5"
    )
    runtime = _build(config)
    assert isinstance(runtime, RemoteRuntime)
    assert (runtime.host, runtime.ssh_options, runtime._address) == (
        "ops@node1",
        ("-p", "2222"),
        "10.0.0.5",
    )


def test_an_unknown_kind_is_adapter_unavailable() -> None:
    config = RuntimeConfig.model_construct(kind="hyperv")
    with pytest.raises(AdapterUnavailable, match="hyperv"):
        _build(config)


def test_probe_timeout_is_the_original_runtime_key() -> None:
    assert ProbesConfig(colima_timeout_secs=9).runtime_timeout_secs == 9


def test_platform_modules_and_aiohttp_load_only_when_used() -> None:
    code = (
        "import sys\n"
        "from talon.adapters.runtime import build_runtime\n"
        "from talon.config.models import RuntimeConfig\n"
        "build_runtime(RuntimeConfig().model_dump(), {}, timeout_s=1)\n"
        "assert 'talon.adapters.runtime.colima' not in sys.modules\n"
        "build_runtime(RuntimeConfig(kind='colima').model_dump(), {}, timeout_s=1)\n"
        "assert 'talon.adapters.runtime.colima' in sys.modules\n"
        "assert 'aiohttp' not in sys.modules, 'aiohttp imported eagerly'\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=30)
