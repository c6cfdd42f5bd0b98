"""Where the lab's Kubernetes parts live, and how they are made at ``talon lab up``.

| path                          | what                                             |
|-------------------------------|--------------------------------------------------|
| kube/pki/                     | the lab CA, the API server's and clients' certs  |
| kube/kubeconfig               | contexts ``lab`` (localhost) and ``lab-vm``      |
| kube/cache/                   | KUBECACHEDIR: never the user's cache (gotcha 8)  |
| kube/rbac-guard.json          | the manifest the RBAC guard applies (F6)         |
| vm/kube/state.json            | the cluster's objects ("etcd", in the VM)        |
| vm/kube/bin/                  | tools inside the pods (``redis-cli`` shim)       |
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from talon.lab.kube import pki
from talon.lab.kube.seed import guard_manifest, initial_state
from talon.lab.procs import module_argv

ADMIN = "lab-admin"


def pki_dir(lab: Path) -> Path:
    return lab / "kube" / "pki"


def kubeconfig_path(lab: Path) -> Path:
    return lab / "kube" / "kubeconfig"


def cache_dir(lab: Path) -> Path:
    return lab / "kube" / "cache"


def guard_path(lab: Path) -> Path:
    return lab / "kube" / "rbac-guard.json"


def state_path(lab: Path) -> Path:
    return lab / "vm" / "kube" / "state.json"


def shim_dir(lab: Path) -> Path:
    return lab / "vm" / "kube" / "bin"


def prepare(lab: Path, vm: str, ports: dict[str, int], logs: dict[str, str], api_port: int) -> None:
    """Certificates, kubeconfig, shims and the first cluster state (each kept if present)."""
    ca = pki.authority(pki_dir(lab))
    if not (pki_dir(lab) / "apiserver.crt").exists():
        pki.issue(
            ca,
            "apiserver",
            "kube-apiserver",
            ips=("127.0.0.1", vm),
            dns=("localhost",),
            server=True,
        )
    if not (pki_dir(lab) / f"{ADMIN}.crt").exists():
        pki.issue(ca, ADMIN, ADMIN, organizations=("system:masters",))
    _write_shims(lab, vm, ports["redis"])
    path = os.pathsep.join([str(shim_dir(lab)), os.defpath])
    if not state_path(lab).exists():
        state = initial_state(vm, ports, logs, path)
        state_path(lab).parent.mkdir(parents=True, exist_ok=True)
        state_path(lab).write_text(json.dumps(state, indent=1, sort_keys=True))
    guard_path(lab).write_text(json.dumps(guard_manifest(), indent=2))
    cache_dir(lab).mkdir(parents=True, exist_ok=True)
    write_kubeconfig(lab, {"lab": f"127.0.0.1:{api_port}", "lab-vm": f"{vm}:{api_port}"})


def write_kubeconfig(lab: Path, servers: dict[str, str]) -> Path:
    """A kubeconfig (JSON is YAML) with one cluster and context per server address."""
    d = pki_dir(lab)
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": next(iter(servers)),
        "clusters": [
            {
                "name": name,
                "cluster": {
                    "server": f"https://{addr}",
                    "certificate-authority": str(d / "ca.crt"),
                },
            }
            for name, addr in servers.items()
        ],
        "users": [
            {
                "name": ADMIN,
                "user": {
                    "client-certificate": str(d / f"{ADMIN}.crt"),
                    "client-key": str(d / f"{ADMIN}.key"),
                },
            }
        ],
        "contexts": [
            {"name": name, "context": {"cluster": name, "user": ADMIN}} for name in servers
        ],
    }
    path = kubeconfig_path(lab)
    path.write_text(json.dumps(config, indent=2))
    path.chmod(0o600)
    return path


def _write_shims(lab: Path, vm: str, redis_port: int) -> None:
    """``redis-cli`` inside pod redis-0 talks to the VM's real redis (LAB-NOTES gotcha 6:
    the shim execs the absolute path, or it would call itself forever)."""
    real = shutil.which("redis-cli")
    shim_dir(lab).mkdir(parents=True, exist_ok=True)
    shim = shim_dir(lab) / "redis-cli"
    if real is None:
        shim.write_text("#!/bin/sh\necho 'redis-cli is not installed' >&2\nexit 127\n")
    else:
        shim.write_text(f'#!/bin/sh\nexec {real} -h {vm} -p {redis_port} "$@"\n')
    shim.chmod(0o755)


def kube_server_argv(lab: Path, bind: str) -> list[str]:
    """The emulated API server's command line (``bind`` is HOST:PORT)."""
    return module_argv("talon.lab.kube.server", "--dir", str(lab), "--bind", bind)


def kubectl_env(lab: Path) -> dict[str, str]:
    """kubectl against the lab: its kubeconfig, and its discovery cache inside the lab."""
    return {
        **os.environ,
        "KUBECONFIG": str(kubeconfig_path(lab)),
        "KUBECACHEDIR": str(cache_dir(lab)),
    }


def drop_binding(lab: Path, name: str) -> None:
    """Delete a cluster role binding with the real kubectl, as RBAC drift would (F6)."""
    kubectl(lab, "delete", "clusterrolebinding", name, "--ignore-not-found")


def apply_guard(lab: Path) -> None:
    """Apply the RBAC guard's manifest with the real kubectl, as the guard does."""
    kubectl(lab, "apply", "-f", str(guard_path(lab)))


def kubectl(lab: Path, *args: str, timeout_s: float = 20.0) -> str:
    """Run the real kubectl against the lab's API (the lab's own fault verbs use it)."""
    import subprocess

    env = kubectl_env(lab)
    argv = ["kubectl", "--request-timeout=5s", *args]
    try:
        done = subprocess.run(
            argv, env=env, capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except FileNotFoundError:
        raise RuntimeError("kubectl is not installed: run scripts/setup.sh") from None
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{' '.join(argv)} gave no answer within {timeout_s:g}s") from None
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout
