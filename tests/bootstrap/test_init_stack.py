"""`talon init` on a Mac with Colima writes the original's built-in stack profile (issue 20).

The host is injected (an ``Inventory`` and a ``NodeIdentity`` saying macOS): the
starter is pure, and what it writes must load here as it would there.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from talon.adapters.inventory import Inventory
from talon.bootstrap.install import write_private
from talon.bootstrap.starter import starter_config
from talon.config import load
from talon.config.builtins import Timeouts, profile_named
from talon.config.builtins.expand import timeouts
from talon.config.models import TalonConfig
from talon.node import NodeIdentity

GENERIC = {"runtime.containers", "k8s.api", "k8s.nodes", "redis.redis"}


def _mac(tmp_path: Path, platform: str = "macos") -> NodeIdentity:
    return NodeIdentity(
        node_id="panda",
        platform=platform,
        arch="arm64",
        config_dir=tmp_path / "config",
        state_dir=tmp_path / "state",
        log_dir=tmp_path / "log",
    )


def _written(tmp_path: Path, identity: NodeIdentity, inventory: Inventory) -> Path:
    files = starter_config(inventory, identity)
    write_private(tmp_path / "cfg" / "config.toml", files.config)
    write_private(tmp_path / "cfg" / files.services_name, files.services)
    return tmp_path / "cfg" / "config.toml"


def test_init_on_a_mac_with_colima_writes_the_profile(tmp_path: Path) -> None:
    profile = profile_named("original")
    assert profile is not None
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    mac = _mac(tmp_path)
    inventory = Inventory(
        runtime_kind="colima", cluster=True, kubeconfig=str(kubeconfig), process_manager="launchd"
    )
    config = _written(tmp_path, mac, inventory)
    stack = tomllib.loads(config.read_text())["stack"]
    assert stack == {"profile": profile.name, "kubeconfig": str(kubeconfig)}
    # every key the profile reads is there, commented, with the original's value
    assert '# cluster_container = "joelclaw-controlplane-1"\n' in config.read_text()
    assert "# api_port = 6443\n" in config.read_text()
    loaded = load(config, identity=mac, env={"PATH": os.defpath})
    keys = [p.key for p in loaded.probes]
    assert keys[:17] == [t.key for t in profile.build(profile.defaults, _timeouts())]
    assert keys[17:] == ["script.root_disk", "script.tmp_writable"]  # the host's, as before
    assert not GENERIC & set(keys)  # the profile's probes stand in for the generic ones
    assert all(p.kubeconfig == str(kubeconfig) for p in loaded.probes if p.kind == "k8s")  # type: ignore[attr-defined]
    assert loaded.config.runtime.kind == "colima"


def test_elsewhere_init_writes_no_profile(tmp_path: Path) -> None:
    for platform, runtime in (("linux", "colima"), ("macos", "lima"), ("macos", "null")):
        identity = _mac(tmp_path / platform / runtime, platform)
        config = _written(tmp_path / platform / runtime, identity, Inventory(runtime_kind=runtime))
        assert "stack" not in tomllib.loads(config.read_text())
        keys = {p.key for p in load(config, identity=identity, env={"PATH": os.defpath}).probes}
        assert keys >= GENERIC


def _timeouts() -> Timeouts:
    return timeouts(TalonConfig())
