"""What this host has, for `talon init`: tools, sockets, a kubeconfig, a redis that answers.

Tools are only *detected*, never run: one counts when an executable of its
name is on the children's PATH (``env["PATH"]``, the PATH Talon's own probes
get, R1). The only I/O besides ``stat`` is one bounded PING to a loopback
redis. The answer is expressed in neutral facts (a ``[runtime] kind``, whether
a cluster and a redis are there, the process manager's kind) so `talon init`
can write a starter configuration without naming a single tool itself.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from talon.adapters.process.factory import SYSTEMD_RUNNING, detect_kind
from talon.adapters.runtime.engine import CONVENTIONAL_SOCKET
from talon.node import MACOS_PATH, SYSTEM_PATH, home_dir

REDIS_ADDRESS = ("127.0.0.1", 6379)
PING_TIMEOUT_S = 0.5


@dataclass(frozen=True)
class Inventory:
    """Neutral facts about this host; ``found`` says the same for a human."""

    runtime_kind: str = "null"  # a value of [runtime] kind: colima, lima, docker or null
    runtime_socket: str = ""  # an engine socket to configure; "" when the adapter finds it alone
    cluster: bool = False  # the cluster client is on PATH and a kubeconfig exists
    kubeconfig: str = ""  # the one file the cluster client reads ("" when several or none)
    redis: bool = False  # something answered PING with PONG at redis_address
    redis_address: str = "127.0.0.1:6379"
    process_manager: str = "null"  # a value of [process_manager] kind, as auto resolves it
    extra_path: tuple[str, ...] = ()  # non-system dirs of detected tools: [exec] path (R1)
    found: tuple[str, ...] = ()  # one line per fact, for printing


def _which(name: str, path: str) -> str:
    return shutil.which(name, path=path) or ""


def _is_socket(path: str) -> bool:
    try:
        return Path(path).is_socket()
    except OSError:
        return False


def engine_socket(env: Mapping[str, str], conventional: str = CONVENTIONAL_SOCKET) -> str:
    """The first container-engine socket that exists: DOCKER_HOST (unix://), the
    conventional path, then colima's default profile's; "" when none does."""
    host = env.get("DOCKER_HOST", "").strip()
    colima_home = env.get("COLIMA_HOME", "").strip() or os.path.join(home_dir(env), ".colima")
    candidates = (
        host.removeprefix("unix://") if host.startswith("unix://") else "",
        conventional,
        os.path.join(colima_home, "default", "docker.sock"),
    )
    return next((c for c in candidates if c and _is_socket(c)), "")


def kubeconfig_files(env: Mapping[str, str]) -> list[str]:
    """The kubeconfig files kubectl would read that exist: $KUBECONFIG's list, else the default."""
    raw = env.get("KUBECONFIG", "").strip()
    names = [p for p in raw.split(os.pathsep) if p] if raw else []
    if not names:
        names = [os.path.join(home_dir(env), ".kube", "config")]
    return [name for name in names if Path(name).is_file()]


def redis_answer(host: str, port: int, *, timeout: float = PING_TIMEOUT_S) -> str:
    """``pong``, ``auth`` (answers, wants a password), ``other`` or ``none``; loopback only."""
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"redis detection only looks at loopback addresses, not {host}")
    try:
        with socket.create_connection((host, port), timeout=timeout) as conn:
            conn.settimeout(timeout)
            conn.sendall(b"*1\r\n$4\r\nPING\r\n")
            reply = conn.recv(64)
    except OSError:
        return "none"
    if reply.startswith(b"+PONG"):
        return "pong"
    if reply.startswith((b"-NOAUTH", b"-WRONGPASS", b"-ERR AUTH")):
        return "auth"
    return "other" if reply else "none"


def detect_inventory(
    env: Mapping[str, str],
    *,
    redis_address: tuple[str, int] = REDIS_ADDRESS,
    platform: str = sys.platform,
    systemd_marker: Path = SYSTEMD_RUNNING,
    conventional_socket: str = CONVENTIONAL_SOCKET,
) -> Inventory:
    """Look at this host through ``env`` (the children's environment, with their PATH)."""
    path = env.get("PATH", "")
    tools = {name: _which(name, path) for name in _TOOLS}
    found: list[str] = []

    socket_path = engine_socket(env, conventional_socket)
    if tools["colima"]:
        runtime = "colima"
        found.append(f'VM runtime: colima at {tools["colima"]} ([runtime] kind = "colima")')
    elif tools["limactl"]:
        runtime = "lima"
        found.append(f'VM runtime: lima (limactl at {tools["limactl"]}, instance "default")')
    elif socket_path:
        runtime = "docker"
        found.append(f"container engine: a native engine on {socket_path}")
    else:
        runtime = "null"
        found.append("no VM runtime (colima, limactl) and no container engine socket")
    if tools["docker"]:
        found.append(f"container CLI: docker at {tools['docker']}")
    if socket_path and runtime != "docker":
        found.append(f"engine socket: {socket_path}")

    configs = kubeconfig_files(env)
    cluster = bool(tools["kubectl"] and configs)
    if cluster:
        found.append(f"cluster: kubectl at {tools['kubectl']}, kubeconfig {', '.join(configs)}")
    elif tools["kubectl"]:
        found.append(
            f"kubectl at {tools['kubectl']}, but no kubeconfig ($KUBECONFIG or ~/.kube/config): "
            "no cluster probes"
        )
    else:
        found.append("no cluster client (kubectl)")

    host, port = redis_address
    address = f"{host}:{port}"
    answer = redis_answer(host, port)
    redis_tools = [tools[n] for n in ("redis-server", "redis-cli") if tools[n]]
    on_path = f" ({', '.join(redis_tools)})" if redis_tools else ""
    said = {
        "pong": f"redis: answering PING on {address}{on_path}",
        "auth": f"redis on {address} wants a password{on_path}: set password_env to probe it",
        "other": f"something on {address} answers, but not as redis",
        "none": f"no redis answering on {address}{on_path}",
    }
    found.append(said[answer])

    manager = detect_kind({"kind": "auto"}, env, platform=platform, systemd_marker=systemd_marker)
    found.append(f"process manager: {manager}" if manager != "null" else "no process manager")
    if tools["supervisord"] and manager == "null":
        found.append(
            f"supervisord at {tools['supervisord']}: to use it, set [process_manager] kind = "
            '"supervisord", supervisord_url and supervisord_conf_dir'
        )

    system = {*SYSTEM_PATH, *MACOS_PATH}
    used = [tools[n] for n in _RUN_BY_TALON if tools[n]]
    extra = tuple(dict.fromkeys(d for d in map(os.path.dirname, used) if d not in system))
    return Inventory(
        runtime_kind=runtime,
        # A service manager passes no DOCKER_HOST on: any socket but the conventional one
        # has to be written into the config.
        runtime_socket=socket_path
        if runtime == "docker" and socket_path != conventional_socket
        else "",
        cluster=cluster,
        kubeconfig=configs[0] if cluster and len(configs) == 1 else "",
        redis=answer == "pong",
        redis_address=address,
        process_manager=manager,
        extra_path=extra,
        found=tuple(found),
    )


_TOOLS = (
    "colima",
    "limactl",
    "docker",
    "kubectl",
    "redis-server",
    "redis-cli",
    "supervisord",
)
# The tools Talon's adapters run (a VM runtime runs its helpers with the same PATH).
_RUN_BY_TALON = ("colima", "limactl", "docker", "kubectl")
