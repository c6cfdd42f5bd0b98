"""The original Talon's built-in probes as a stack profile (issue 20 points 2 and 6).

Pure: the profile's probes are built and loaded, never run, except the VM-side
connect witness, whose script runs here with ``sh -c`` against a real socket
on 127.0.0.1 (in the VM it runs the same way, through the runtime's shell).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from talon.config import ContainerProbe, HttpProbe, K8sProbe, ScriptProbe, load
from talon.config.builtins import (
    PROFILES,
    StackConfig,
    builtin_keys,
    original_name,
    profile_named,
)
from talon.config.builtins.expand import build
from talon.config.models import ProbesConfig, TalonConfig
from talon.config.probes import RuntimeProbe
from talon.errors import ConfigError
from talon.node import NodeIdentity

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PROFILE = profile_named("original")
assert PROFILE is not None

# The original's built-ins, in its order (REFERENCE-TALON 1.4), under Talon's KIND.NAME.
ORIGINAL = [
    "runtime.colima",
    "container.docker",
    "container.talos_container",
    "k8s.k8s_api",
    "k8s.node_ready",
    "k8s.node_schedulable",
    "k8s.flannel",
    "k8s.redis",
    "k8s.kubelet_proxy_rbac",
    "script.vm:docker",
    "script.vm:k8s_api",
    "script.vm:redis",
    "script.vm:inngest",
    "script.vm:typesense",
    "http.inngest",
    "http.typesense",
    "http.worker",
]
# is_builtin_critical_probe
CRITICAL = {
    "runtime.colima",
    "container.docker",
    "container.talos_container",
    "k8s.k8s_api",
    "k8s.node_ready",
    "k8s.node_schedulable",
    "k8s.redis",
    "k8s.kubelet_proxy_rbac",
}
# The seed's post-restart invariants: docker socket, kube API, kubelet proxy authz, a real
# exec path, Inngest, Typesense.
GATE = {
    "container.docker",
    "k8s.k8s_api",
    "k8s.kubelet_proxy_rbac",
    "k8s.redis",
    "http.inngest",
    "http.typesense",
}


def _probes(**stack: object) -> dict[str, object]:
    config = TalonConfig.model_validate({"stack": {"profile": "original", **stack}})
    return {p.key: p for p in build(PROFILE, config, Path("config.toml"), "")}


def test_names_order_critical_set_and_the_verification_gate() -> None:
    probes = _probes()
    assert list(probes) == ORIGINAL
    assert {k for k, p in probes.items() if p.critical} == CRITICAL  # type: ignore[attr-defined]
    assert {k for k, p in probes.items() if p.verify} == GATE  # type: ignore[attr-defined]
    assert all(p.enabled for p in probes.values())  # type: ignore[attr-defined]
    assert PROFILES[PROFILE.name] is PROFILE
    assert PROFILE.name == "colima-talos"


def test_original_names_for_health_and_check() -> None:
    names = [original_name(key) for key in ORIGINAL]
    assert names[:9] == [
        "colima",
        "docker",
        "talos_container",
        "k8s_api",
        "node_ready",
        "node_schedulable",
        "flannel",
        "redis",
        "kubelet_proxy_rbac",
    ]
    assert names[9:] == [
        "vm:docker",
        "vm:k8s_api",
        "vm:redis",
        "vm:inngest",
        "vm:typesense",
        "http:inngest",
        "http:typesense",
        "http:worker",
    ]
    assert builtin_keys() == set(ORIGINAL)
    assert original_name("launchd.gateway") == "launchd:gateway"
    assert original_name("script.nas_mount") == "script:nas_mount"


def test_timeouts_and_debounce_come_from_the_probes_section() -> None:
    probes = ProbesConfig(
        colima_timeout_secs=7,
        k8s_timeout_secs=11,
        service_timeout_secs=3,
        critical_after_consecutive_failures=4,
    )
    config = TalonConfig(probes=probes, stack=StackConfig(profile="original"))
    built = {p.key: p for p in build(PROFILE, config, Path("config.toml"), "")}
    runtime = {"runtime.colima"}
    service = {
        "k8s.redis",
        "script.vm:redis",
        "script.vm:inngest",
        "script.vm:typesense",
        "http.inngest",
        "http.typesense",
        "http.worker",
    }
    for key, probe in built.items():
        want = 7 if key in runtime else 3 if key in service else 11
        assert probe.timeout_secs == want, key
        if probe.critical:
            assert probe.critical_after_consecutive_failures == 4, key


def test_pass_rules_are_the_originals() -> None:
    p = _probes()
    docker, talos = p["container.docker"], p["container.talos_container"]
    assert isinstance(docker, ContainerProbe)
    assert isinstance(talos, ContainerProbe)
    assert (docker.socket, docker.container) == ("~/.colima/default/docker.sock", None)
    assert (talos.socket, talos.container) == (docker.socket, "joelclaw-controlplane-1")
    assert isinstance(p["runtime.colima"], RuntimeProbe)
    api, ready, sched, flannel, redis, rbac = (
        p[f"k8s.{n}"]
        for n in (
            "k8s_api",
            "node_ready",
            "node_schedulable",
            "flannel",
            "redis",
            "kubelet_proxy_rbac",
        )
    )
    assert all(isinstance(k, K8sProbe) for k in (api, ready, sched, flannel, redis, rbac))
    assert isinstance(sched, K8sProbe)
    assert isinstance(flannel, K8sProbe)
    assert isinstance(redis, K8sProbe)
    assert isinstance(rbac, K8sProbe)
    assert sched.tolerate_taints == [
        "node-role.kubernetes.io/control-plane",
        "node-role.kubernetes.io/master",
    ]
    assert (flannel.namespace, flannel.daemonset, flannel.count) == (
        "kube-system",
        "kube-flannel",
        "available",
    )
    assert (redis.check, redis.namespace, redis.pod, redis.command, redis.expect) == (
        "exec",
        "joelclaw",
        "redis-0",
        ["redis-cli", "ping"],
        "PONG",
    )
    assert (rbac.check, rbac.resource, rbac.subresource) == ("can_i", "nodes", "proxy")
    assert rbac.verbs == ("get", "create")
    assert rbac.identities == ("apiserver-kubelet-client", "kube-apiserver-kubelet-client")
    urls = {k: (h.url, h.expect_status) for k, h in p.items() if isinstance(h, HttpProbe)}
    assert urls == {
        "http.inngest": ("http://127.0.0.1:8288/health", [200]),
        "http.typesense": ("http://127.0.0.1:8108/health", [200]),
        "http.worker": ("http://127.0.0.1:3111/api/inngest", [200]),
    }
    worker = p["http.worker"]
    assert isinstance(worker, HttpProbe)
    assert (worker.probe_class, worker.endpoint) == ("app", None)  # on this host, never healed


def test_vm_witnesses_run_in_the_vm_and_name_what_they_witness() -> None:
    """R13: the witness ports come from config; this pins the API's current port, 6443."""
    p = _probes()
    witnessed = {
        "script.vm:docker": "container.docker",
        "script.vm:k8s_api": "k8s.k8s_api",
        "script.vm:redis": "k8s.redis",
        "script.vm:inngest": "http.inngest",
        "script.vm:typesense": "http.typesense",
    }
    for key, target in witnessed.items():
        probe = p[key]
        assert isinstance(probe, ScriptProbe)
        assert (probe.in_vm, probe.witness_for, probe.critical, probe.verify) == (
            True,
            target,
            False,
            False,
        )
        assert target in p
    ports = {"k8s_api": 6443, "redis": 6379, "inngest": 8288, "typesense": 8108}
    for name, port in ports.items():
        command = p[f"script.vm:{name}"].command  # type: ignore[attr-defined]
        assert f'("127.0.0.1", {port})' in command
    moved = _probes(api_port=16443)["script.vm:k8s_api"]
    assert '("127.0.0.1", 16443)' in moved.command  # type: ignore[attr-defined]


def test_the_connect_witness_passes_on_a_listener_and_is_critical_without_one() -> None:
    if shutil.which("python3") is None:
        pytest.skip("python3 is what the witness runs inside the VM; not installed here")
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        command = _probes(redis_port=port)["script.vm:redis"].command  # type: ignore[attr-defined]
        up = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=10)
    down = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=10)
    assert (up.returncode, up.stdout.strip()) == (0, f"127.0.0.1:{port} answers inside the VM")
    assert down.returncode == 2  # Nagios critical: a refused connect fails the witness
    assert f"127.0.0.1:{port} inside the VM:" in down.stdout


def test_every_hard_coded_value_is_a_stack_key() -> None:
    p = _probes(
        engine_socket="/run/other.sock",
        cluster_container="cp-1",
        node="cp-1",
        namespace="prod",
        redis_pod="cache-0",
        flannel_namespace="net",
        flannel_daemonset="flannel",
        kubelet_client_users=["kc"],
        tolerate_taints=["t"],
        inngest_port=18288,
        typesense_port=18108,
        worker_port=13111,
        kubeconfig="/k/config",
        context="panda",
        kube_server="127.0.0.1:16443",
    )
    talos, redis, rbac = p["container.talos_container"], p["k8s.redis"], p["k8s.kubelet_proxy_rbac"]
    assert (talos.socket, talos.container) == ("/run/other.sock", "cp-1")  # type: ignore[attr-defined]
    assert (redis.namespace, redis.pod) == ("prod", "cache-0")  # type: ignore[attr-defined]
    assert rbac.identities == ("kc",)  # type: ignore[attr-defined]
    assert p["k8s.node_schedulable"].tolerate_taints == ["t"]  # type: ignore[attr-defined]
    assert p["k8s.node_ready"].node == "cp-1"  # type: ignore[attr-defined]
    assert p["k8s.flannel"].daemonset == "flannel"  # type: ignore[attr-defined]
    assert p["http.worker"].url == "http://127.0.0.1:13111/api/inngest"  # type: ignore[attr-defined]
    for key in ("k8s.k8s_api", "k8s.redis", "k8s.flannel"):
        k8s = p[key]
        assert isinstance(k8s, K8sProbe)
        assert (k8s.kubeconfig, k8s.context, k8s.server) == (
            "/k/config",
            "panda",
            "127.0.0.1:16443",
        )
        assert k8s.endpoint is not None
        assert k8s.endpoint.paths == ("localhost", "vm")


def _write(dir: Path, config: str, services: str = "") -> Path:
    dir.mkdir(parents=True, exist_ok=True)
    (dir / "config.toml").write_text(config)
    (dir / "services.toml").write_text(services)
    return dir / "config.toml"


def test_the_reference_config_gets_the_builtins_as_the_original_did(
    tmp_path: Path, identity: NodeIdentity
) -> None:
    shutil.copytree(EXAMPLES / "reference", tmp_path / "ref")
    loaded = load(tmp_path / "ref" / "config.toml", identity=identity)
    keys = [p.key for p in loaded.probes]
    dynamic = ["launchd.voice_agent", "http.voice_agent", "http.gateway_slack", "script.nas_mount"]
    assert keys == ORIGINAL + dynamic
    assert loaded.config.runtime.kind == "colima"  # the stack's runtime: config.toml names none
    redis = next(p for p in loaded.probes if p.key == "k8s.redis")
    assert (redis.critical_after_consecutive_failures, redis.timeout_secs) == (2, 5)
    assert not [w for w in loaded.warnings if "built-in" in w]


def test_a_talon_config_asks_for_the_profile_by_name(
    tmp_path: Path, identity: NodeIdentity
) -> None:
    for name in ("colima-talos", "original"):
        path = _write(
            tmp_path / name,
            '[runtime]\nkind = "null"\n\n'
            f'[stack]\nprofile = "{name}"\nnamespace = "prod"\ndisable = ["http.worker"]\n',
            '[tcp.db]\naddress = "127.0.0.1:5432"\n'
            '[http.inngest]\nurl = "http://127.0.0.1:9288/health"\n',
        )
        loaded = load(path, identity=identity)
        probes = {p.key: p for p in loaded.probes}
        assert list(probes) == [k for k in ORIGINAL if k != "http.inngest"] + [
            "tcp.db",
            "http.inngest",
        ]
        assert probes["k8s.redis"].namespace == "prod"  # type: ignore[attr-defined]
        assert not probes["http.worker"].enabled
        assert probes["http.inngest"].url == "http://127.0.0.1:9288/health"  # type: ignore[attr-defined]
        assert loaded.config.runtime.kind == "null"  # named in config.toml: kept
        assert any("http.inngest replaces the built-in" in w for w in loaded.warnings)


def test_other_configs_get_no_builtins(tmp_path: Path, identity: NodeIdentity) -> None:
    shutil.copy(EXAMPLES / "config.toml", tmp_path)  # Talon's minimal example: no marker
    shutil.copy(EXAMPLES / "services.toml", tmp_path)
    assert not [
        p for p in load(tmp_path / "config.toml", identity=identity).probes if p.key in ORIGINAL
    ]
    none = _write(
        tmp_path / "none",
        '[probes]\ncolima_timeout_secs = 5\n[stack]\nprofile = "none"\n',
        '[script.a]\ncommand = "true"\n',
    )
    assert [p.key for p in load(none, identity=identity).probes] == ["script.a"]
    # the original's config.toml beside a services file that grew a Talon kind: said, not silent
    grew = _write(
        tmp_path / "grew",
        "[probes]\ncolima_timeout_secs = 5\n",
        '[tcp.db]\naddress = "127.0.0.1:1"\n',
    )
    loaded = load(grew, identity=identity)
    assert [p.key for p in loaded.probes] == ["tcp.db"]
    assert any('add [stack] profile = "original"' in w and "tcp" in w for w in loaded.warnings)


def test_stack_errors_name_the_key_and_the_fix(tmp_path: Path, identity: NodeIdentity) -> None:
    cases = {
        '[stack]\nprofile = "colima"\n': ("stack.profile", "must be one of auto, none, original"),
        '[stack]\nprofile = "original"\ndisable = ["http.workr"]\n': (
            "stack.disable",
            "'http.workr' is not a probe of profile 'colima-talos'",
        ),
        '[stack]\nprofile = "original"\napi_port = 70000\n': ("stack.api_port", "65535"),
        '[stack]\nprofile = "original"\nnamespce = "x"\n': ("stack.namespce", "unknown key"),
        '[stack]\nprofile = "original"\ncluster_container = "no spaces"\n': (
            "stack",
            "container.talos_container with an invalid container",
        ),
    }
    for i, (text, (key, said)) in enumerate(cases.items()):
        path = _write(tmp_path / str(i), text)
        with pytest.raises(ConfigError) as info:
            load(path, identity=identity)
        [problem] = info.value.problems
        assert (problem.file, problem.key) == (path, key), problem.render()
        assert said in problem.render(), problem.render()
        assert problem.line is not None
