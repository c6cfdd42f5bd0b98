"""Things that are valid but will not do what the operator probably expects."""

from __future__ import annotations

from collections.abc import Mapping

from talon.config.models import TalonConfig
from talon.config.probes import ServiceProbe, SshProbe
from talon.node import NodeIdentity, expand_path

# probe kinds checked on sockets, in process; every other kind runs a command
SOCKET_KINDS = frozenset({"http", "tcp", "redis"})


def collect_warnings(
    config: TalonConfig, identity: NodeIdentity, env: Mapping[str, str]
) -> list[str]:
    from talon.kinds import detect_process_manager

    out: list[str] = []
    manager = detect_process_manager(config.process_manager.model_dump(), env)
    if config.heal_script and not expand_path(config.heal_script, env).exists():
        out.append(f"heal_script {config.heal_script!r} does not exist on this machine")
    if config.worker is not None:
        if not config.worker.command:
            out.append("[worker] has no command: the worker will not be supervised")
        if config.worker.dir and not expand_path(config.worker.dir, env).is_dir():
            out.append(f"worker.dir {config.worker.dir!r} does not exist on this machine")
        if config.worker.env_file and not expand_path(config.worker.env_file, env).is_file():
            out.append(
                f"worker.env_file {config.worker.env_file!r} does not exist on this machine: "
                "the worker will start without it"
            )
        if config.worker.external and manager == "null":
            out.append(
                f"worker: external label {config.worker.external!r} cannot be looked up without "
                "a process manager ([process_manager] kind): Talon will supervise the worker "
                "itself"
            )
    spawning = [p.key for p in config.service_probes if p.enabled and p.kind not in SOCKET_KINDS]
    if config.event_loop == "uvloop" and spawning:
        out.append(
            f"event_loop = 'uvloop': {len(spawning)} probe(s) start a process every cycle "
            f"({', '.join(spawning[:3])}{' ...' if len(spawning) > 3 else ''}); uvloop forks "
            "the whole interpreter for each, about 4x the CPU of the stock loop's vfork "
            "(docs/performance.md): keep event_loop = 'asyncio' unless HTTP and TCP checks "
            "dominate"
        )
    for probe in config.service_probes:
        if not probe.enabled:
            continue
        if isinstance(probe, ServiceProbe) and manager == "null":
            out.append(
                f"{probe.key}: no process manager is configured or detected ([process_manager] "
                f"kind = {config.process_manager.kind!r} on {identity.platform}); this probe "
                "will report 'unknown'"
            )
        if isinstance(probe, SshProbe):
            out.extend(_ssh_warnings(probe, config, env))
        endpoint = getattr(probe, "endpoint", None)
        if endpoint and "vm" in endpoint.paths and config.runtime.kind == "null":
            out.append(
                f"{probe.key}: endpoint path 'vm' is skipped: no container runtime is "
                "configured to discover the VM address ([runtime])"
            )
    return out


def _ssh_warnings(probe: SshProbe, config: TalonConfig, env: Mapping[str, str]) -> list[str]:
    import shutil

    from talon.node import exec_path

    out = []
    path = exec_path(config.exec.path, env.get("PATH") if config.exec.inherit_path else None)
    if shutil.which("ssh", path=path) is None:
        out.append(
            f"{probe.key}: no ssh client on Talon's PATH ([exec] path): this probe will "
            "report 'unknown'"
        )
    if probe.identity_file and not expand_path(probe.identity_file, env).is_file():
        out.append(
            f"{probe.key}: identity_file {probe.identity_file!r} does not exist on this machine"
        )
    return out
