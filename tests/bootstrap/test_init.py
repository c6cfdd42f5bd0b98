"""`talon init`: what the host has decides which probes a starter config switches on.

The tools are only detected (an executable of the name on PATH), never run,
so plain executable stub files stand in for them; redis is a real
redis-server, because detection really PINGs it.
"""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from talon.adapters.inventory import Inventory, detect_inventory, redis_answer
from talon.bootstrap.install import write_private
from talon.bootstrap.starter import starter_config
from talon.config import load
from talon.node import NodeIdentity
from tests.support import procs
from tests.support.procs import talon_cli

EVERYWHERE = {"script.root_disk", "script.tmp_writable"}


def _write(files_dir: Path, inventory: Inventory, identity: NodeIdentity) -> Path:
    files = starter_config(inventory, identity)
    write_private(files_dir / "config.toml", files.config)
    write_private(files_dir / files.services_name, files.services)
    return files_dir / "config.toml"


def _enabled(config: Path, identity: NodeIdentity) -> tuple[set[str], set[str], tuple[str, ...]]:
    loaded = load(config, identity=identity, env={"PATH": os.defpath})
    enabled = {p.key for p in loaded.probes if p.enabled}
    return enabled, {p.key for p in loaded.probes}, loaded.warnings


def _inventories(tmp: Path) -> dict[str, tuple[Inventory, set[str]]]:
    kubeconfig = tmp / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    return {
        "nothing": (Inventory(), set()),
        "everything": (
            Inventory(
                runtime_kind="colima",
                cluster=True,
                kubeconfig=str(kubeconfig),
                redis=True,
                redis_address="127.0.0.1:6380",
                process_manager="systemd",
                extra_path=(str(tmp / "bin"), "/opt/with space/bin"),
                found=('tool "quoted" at C:\\odd\\path', "a line with 'single' quotes"),
            ),
            {"runtime.containers", "k8s.api", "k8s.nodes", "redis.redis"},
        ),
        "native engine": (
            Inventory(runtime_kind="docker", runtime_socket=str(tmp / "engine.sock")),
            {"runtime.containers"},
        ),
        "lima and a cluster without one kubeconfig": (
            Inventory(runtime_kind="lima", cluster=True, process_manager="launchd"),
            {"runtime.containers", "k8s.api", "k8s.nodes"},
        ),
        "redis only": (Inventory(redis=True), {"redis.redis"}),
        "supervisord without its url": (Inventory(process_manager="supervisord"), set()),
    }


@pytest.mark.parametrize(
    "case",
    [
        "nothing",
        "everything",
        "native engine",
        "lima and a cluster without one kubeconfig",
        "redis only",
        "supervisord without its url",
    ],
)
def test_the_starter_loads_cleanly_and_enables_exactly_what_was_found(
    case: str, tmp_path: Path, identity: NodeIdentity
) -> None:
    inventory, expected = _inventories(tmp_path)[case]
    config = _write(tmp_path / "cfg", inventory, identity)
    enabled, written, warnings = _enabled(config, identity)
    assert enabled == EVERYWHERE | expected
    assert written == EVERYWHERE | {"runtime.containers", "k8s.api", "k8s.nodes", "redis.redis"}
    assert warnings == ()
    data = tomllib.loads(config.read_text())
    manager = inventory.process_manager
    assert data["process_manager"]["kind"] == (manager if manager != "supervisord" else "null")
    assert data["runtime"]["kind"] == inventory.runtime_kind
    assert data["exec"]["path"] == list(inventory.extra_path)
    assert data["runtime"].get("socket", "") == inventory.runtime_socket
    services = tomllib.loads((tmp_path / "cfg" / "services.toml").read_text())
    for probe in services["k8s"].values():
        assert probe.get("kubeconfig", "") == (inventory.kubeconfig if inventory.cluster else "")
    for line in inventory.found:  # what was found heads the config, as comments
        assert f"#   - {line}\n" in config.read_text()


def _stubs(bin_dir: Path, *names: str) -> None:
    """Executables that are only looked up, never run."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        path = bin_dir / name
        path.write_text("#!/bin/sh\nexit 99\n")
        path.chmod(0o755)


@pytest.fixture
def unix_socket(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "e.sock"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        yield path


@pytest.fixture
def redis_port(tmp_path: Path) -> Iterator[int]:
    (tmp_path / "redis").mkdir()
    with procs.redis_server(tmp_path / "redis") as port:
        yield port


def test_detect_finds_every_tool_a_kubeconfig_and_a_redis_that_answers(
    tmp_path: Path, redis_port: int
) -> None:
    bin_dir = tmp_path / "bin"
    _stubs(bin_dir, "colima", "limactl", "docker", "kubectl", "redis-server", "systemctl")
    (tmp_path / "kubeconfig").write_text("{}")
    (tmp_path / "systemd").mkdir()
    env = {
        "PATH": str(bin_dir),
        "HOME": str(tmp_path / "home"),
        "KUBECONFIG": str(tmp_path / "kubeconfig"),
    }
    found = detect_inventory(
        env,
        redis_address=("127.0.0.1", redis_port),
        platform="linux",
        systemd_marker=tmp_path / "systemd",
    )
    assert found.runtime_kind == "colima"  # it runs the lima tool itself: colima wins
    assert found.cluster
    assert found.kubeconfig == str(tmp_path / "kubeconfig")
    assert found.redis
    assert found.redis_address == f"127.0.0.1:{redis_port}"
    assert found.process_manager == "systemd"
    assert found.extra_path == (str(bin_dir),)  # under a service manager's PATH, R1
    text = "\n".join(found.found)
    assert str(bin_dir / "kubectl") in text
    assert f"answering PING on 127.0.0.1:{redis_port}" in text


def _detect(env: dict[str, str], tmp: Path, **more: object) -> Inventory:
    """Detection cut off from this host's own engine socket, systemd and redis."""
    options: dict[str, object] = {
        "redis_address": ("127.0.0.1", procs.free_port()),
        "platform": "linux",
        "systemd_marker": tmp / "no-systemd",
        "conventional_socket": str(tmp / "no-engine.sock"),
        **more,
    }
    return detect_inventory(env, **options)  # type: ignore[arg-type]


def test_detect_with_nothing_on_path_finds_nothing(tmp_path: Path) -> None:
    env = {"PATH": str(tmp_path / "empty"), "HOME": str(tmp_path), "KUBECONFIG": os.devnull}
    free = procs.free_port()
    found = _detect(env, tmp_path, redis_address=("127.0.0.1", free))
    assert found == Inventory(redis_address=f"127.0.0.1:{free}", found=found.found), found
    assert any("no cluster client" in line for line in found.found)
    assert any("no process manager" in line for line in found.found)


def test_a_cluster_client_without_a_kubeconfig_is_no_cluster(tmp_path: Path) -> None:
    _stubs(tmp_path / "bin", "kubectl", "limactl")
    env = {"PATH": str(tmp_path / "bin"), "HOME": str(tmp_path), "KUBECONFIG": os.devnull}
    found = _detect(env, tmp_path)
    assert not found.cluster
    assert found.runtime_kind == "lima"
    assert any("but no kubeconfig" in line for line in found.found)
    # $HOME's default kubeconfig counts when KUBECONFIG is unset
    (tmp_path / ".kube").mkdir()
    (tmp_path / ".kube" / "config").write_text("{}")
    del env["KUBECONFIG"]
    found = _detect(env, tmp_path)
    assert found.cluster
    assert found.kubeconfig == str(tmp_path / ".kube" / "config")
    # several files in KUBECONFIG: a cluster, but no single file to write into the probes
    (tmp_path / "second").write_text("{}")
    env["KUBECONFIG"] = os.pathsep.join(
        [str(tmp_path / ".kube" / "config"), str(tmp_path / "second")]
    )
    found = _detect(env, tmp_path)
    assert found.cluster
    assert found.kubeconfig == ""


def test_an_engine_socket_named_by_the_environment_is_written_into_the_config(
    tmp_path: Path, unix_socket: Path
) -> None:
    env = {
        "PATH": str(tmp_path / "empty"),
        "HOME": str(tmp_path),
        "DOCKER_HOST": f"unix://{unix_socket}",
    }
    found = _detect(env, tmp_path)
    assert found.runtime_kind == "docker"
    assert found.runtime_socket == str(unix_socket)  # a service manager passes no such variable
    env["DOCKER_HOST"] = f"unix://{tmp_path / 'plain'}"
    (tmp_path / "plain").write_text("")  # a regular file is not a socket
    assert _detect(env, tmp_path).runtime_kind == "null"


def test_the_conventional_engine_socket_needs_no_setting(tmp_path: Path, unix_socket: Path) -> None:
    found = _detect({"PATH": ""}, tmp_path, conventional_socket=str(unix_socket))
    assert found.runtime_kind == "docker"
    assert found.runtime_socket == ""  # the adapter finds it by itself


def test_the_vm_runtimes_own_socket_is_found_under_its_home(
    tmp_path: Path, unix_socket: Path
) -> None:
    sock_dir = tmp_path / "vmhome" / "default"
    sock_dir.mkdir(parents=True)
    unix_socket.rename(sock_dir / "docker.sock")
    env = {"PATH": "", "HOME": str(tmp_path), "COLIMA_HOME": str(tmp_path / "vmhome")}
    found = _detect(env, tmp_path)
    assert found.runtime_kind == "docker"
    assert found.runtime_socket == str(sock_dir / "docker.sock")


def test_redis_detection_says_when_a_password_is_wanted_and_stays_on_loopback(
    tmp_path: Path,
) -> None:
    with procs.redis_server(tmp_path) as port:
        with socket.create_connection(("127.0.0.1", port), 2) as conn:
            conn.sendall(b"CONFIG SET requirepass s3cret\r\n")
            assert conn.recv(16).startswith(b"+OK")
        assert redis_answer("127.0.0.1", port) == "auth"
        found = _detect({"PATH": ""}, tmp_path, redis_address=("127.0.0.1", port))
        assert not found.redis
        assert any("wants a password" in line for line in found.found)
    assert redis_answer("127.0.0.1", procs.free_port()) == "none"
    with pytest.raises(ValueError, match="loopback"):
        redis_answer("192.0.2.1", 6379)


# ------------------------------------------------------------------ the command


def talon(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TALON_")}
    env |= {
        "TALON_CONFIG_DIR": str(tmp / "cfg"),
        "TALON_STATE_DIR": str(tmp / "state"),
        "TALON_LOG_DIR": str(tmp / "log"),
        "HOME": str(tmp / "home"),
        "NODE_ID": "init-test",
    }
    return talon_cli(*args, env=env, cwd=tmp)


def test_init_print_writes_nothing_and_shows_both_files(tmp_path: Path) -> None:
    done = talon(tmp_path, "init", "--print")
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "cfg").exists()
    assert "Found on this host:" in done.stdout
    assert f"--- {tmp_path / 'cfg' / 'config.toml'} ---" in done.stdout
    assert f"--- {tmp_path / 'cfg' / 'services.toml'} ---" in done.stdout
    assert "[script.root_disk]" in done.stdout
    assert "Nothing was written (--print)." in done.stdout


def test_init_writes_a_private_config_that_loads_and_refuses_to_overwrite_it(
    tmp_path: Path, identity: NodeIdentity
) -> None:
    config = tmp_path / "cfg" / "config.toml"
    services = tmp_path / "cfg" / "services.toml"
    done = talon(tmp_path, "init")
    assert done.returncode == 0, done.stderr
    for path in (config, services):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "# Talon's configuration for node 'init-test'" in config.read_text()
    enabled, _, _ = _enabled(config, identity)
    assert enabled >= EVERYWHERE

    config.write_text(config.read_text() + "# the operator's own line\n")
    again = talon(tmp_path, "init")
    assert again.returncode == 1
    assert "already exist: not overwritten" in again.stderr
    assert "--force" in again.stderr
    assert "Traceback" not in again.stderr
    assert config.read_text().endswith("# the operator's own line\n")

    forced = talon(tmp_path, "init", "--force")
    assert forced.returncode == 0, forced.stderr
    assert "the operator's own line" not in config.read_text()


def test_init_writes_where_it_is_told(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere" / "talon.toml"
    done = talon(tmp_path, "init", "--path", str(elsewhere))
    assert done.returncode == 0, done.stderr
    assert elsewhere.is_file()
    assert (elsewhere.parent / "services.toml").is_file()
    assert not (tmp_path / "cfg").exists()
    by_config = tmp_path / "other" / "config.toml"
    done = talon(tmp_path, "--config", str(by_config), "init")
    assert done.returncode == 0, done.stderr
    assert by_config.is_file()
