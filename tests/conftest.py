from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from talon.adapters.command import exec_env
from talon.adapters.process import NullProcessManager
from talon.adapters.runtime import NullRuntime, StaticRuntime
from talon.node import NodeIdentity
from talon.probes import ProbeContext
from tests.support import procs


@pytest.fixture
def identity(tmp_path: Path) -> NodeIdentity:
    return NodeIdentity(
        node_id="test-node",
        platform="linux",
        arch="amd64",
        config_dir=tmp_path / "config",
        state_dir=tmp_path / "state",
        log_dir=tmp_path / "log",
    )


@pytest.fixture
def ctx(identity: NodeIdentity) -> ProbeContext:
    """A probe context with no VM."""
    return ProbeContext(identity, NullRuntime(), NullProcessManager(), exec_env())


@pytest.fixture
def vm_ctx(identity: NodeIdentity) -> ProbeContext:
    """A probe context whose runtime reports 127.0.0.2 as the VM address."""
    return ProbeContext(
        identity,
        StaticRuntime("127.0.0.2"),
        NullProcessManager(),
        exec_env(),
        vm_address="127.0.0.2",
    )


@pytest.fixture(scope="session")
def farm() -> Iterator[tuple[str, int]]:
    """One target farm for the session, on 127.0.0.1."""
    with procs.farm("127.0.0.1:0") as addresses:
        yield addresses[0]


@pytest.fixture(autouse=True)
def _no_user_kube_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # kubectl must never read or write the user's ~/.kube in tests.
    monkeypatch.setenv("KUBECACHEDIR", str(tmp_path / "kubecache"))
    monkeypatch.setenv("KUBECONFIG", os.devnull)
