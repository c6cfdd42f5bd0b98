"""Things that are valid but will not do what the operator probably expects."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from talon.config.models import TalonConfig
from talon.config.probes import ServiceProbe, SshProbe
from talon.node import NodeIdentity, expand_path

# probe kinds checked on sockets, in process; every other kind runs a command
SOCKET_KINDS = frozenset({"http", "tcp", "redis"})
# CPU of one check on the 2-core reference VM (docs/performance.md, `make bench`): an
# HTTP check 0.25-0.31 ms, TCP 0.12 ms, rounded up; a probe that runs a command 0.74-1.3 ms
# in Talon plus 0.9-1.3 ms in the child, rounded up. The event loop runs on one core.
SOCKET_PROBE_CPU_S = 0.0004
COMMAND_PROBE_CPU_S = 0.003


def _is(path: Path, test: Literal["exists", "is_dir", "is_file"]) -> bool:
    """``path.exists()`` (or is_dir, is_file), False for a path the OS will not look up
    (a name too long, a loop): those raise where a missing file answers False."""
    try:
        return bool(getattr(path, test)())
    except OSError:
        return False


def collect_warnings(
    config: TalonConfig, identity: NodeIdentity, env: Mapping[str, str]
) -> list[str]:
    from talon.kinds import detect_process_manager

    out: list[str] = []
    manager = detect_process_manager(config.process_manager.model_dump(), env)
    if config.heal_script and not _is(expand_path(config.heal_script, env), "exists"):
        out.append(f"heal_script {config.heal_script!r} does not exist on this machine")
    if config.worker is not None:
        if not config.worker.command:
            out.append("[worker] has no command: the worker will not be supervised")
        if config.worker.dir and not _is(expand_path(config.worker.dir, env), "is_dir"):
            out.append(f"worker.dir {config.worker.dir!r} does not exist on this machine")
        if config.worker.env_file and not _is(expand_path(config.worker.env_file, env), "is_file"):
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
    out.extend(_cycle_warnings(config))
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


def cycle_estimate(config: TalonConfig) -> tuple[float, float]:
    """(CPU seconds of one cycle, seconds of one cycle in which every probe hangs until
    its timeout), from the per-probe costs above and the bulkheads' slots."""
    import math

    enabled = [p for p in config.service_probes if p.enabled]
    cpu = sum(
        SOCKET_PROBE_CPU_S if p.kind in SOCKET_KINDS else COMMAND_PROBE_CPU_S for p in enabled
    )
    hung = 0.0
    for name in ("infra", "service", "app"):
        mine = [p.timeout_secs for p in enabled if p.probe_class == name]
        if mine:  # the class's probes go through its slots in waves
            waves = math.ceil(len(mine) / getattr(config.bulkheads, name))
            hung = max(hung, waves * max(mine))
    return cpu, hung


def _cycle_warnings(config: TalonConfig) -> list[str]:
    """A config too large for its interval on a machine like the reference VM."""
    interval = config.check_interval_secs
    cpu, hung = cycle_estimate(config)
    count = sum(p.enabled for p in config.service_probes)
    out = []
    if cpu > interval:
        out.append(
            f"{count} probes need about {cpu:.1f} s of CPU per cycle (measured on a 2-core VM, "
            f"docs/performance.md), more than check_interval_secs = {interval}: cycles will "
            "run late. Raise check_interval_secs, or split the probes across nodes"
        )
    slots = {n: getattr(config.bulkheads, n) for n in ("infra", "service", "app")}
    queued = any(
        sum(p.enabled and p.probe_class == n for p in config.service_probes) > s
        for n, s in slots.items()
    )
    if queued and hung > interval:
        out.append(
            f"{count} probes queue behind the [bulkheads] slots ({slots['infra']} infra, "
            f"{slots['service']} service, {slots['app']} app): if they hang until their "
            f"timeouts a cycle takes about {hung:.0f} s, more than check_interval_secs = "
            f"{interval}. Raise the [bulkheads] slots, lower timeout_secs, or raise "
            "check_interval_secs"
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
    if probe.identity_file and not _is(expand_path(probe.identity_file, env), "is_file"):
        out.append(
            f"{probe.key}: identity_file {probe.identity_file!r} does not exist on this machine"
        )
    return out
