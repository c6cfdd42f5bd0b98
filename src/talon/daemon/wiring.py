"""Everything the daemon builds from one configuration, rebuilt whole on a reload (R28)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from talon.actions.events import EventSink
from talon.actions.notify import Notifier
from talon.actions.secrets import Secrets
from talon.actions.sos import sos_channels
from talon.adapters.kube import ClusterClient
from talon.clock import Clock
from talon.config import K8sProbe, LoadedConfig
from talon.core import CoreConfig
from talon.core_config import core_config
from talon.node import expand_path
from talon.probes import ProbeContext


@dataclass
class Wiring:
    loaded: LoadedConfig
    core: CoreConfig
    ctx: ProbeContext
    secrets: Secrets
    notifier: Notifier
    sink: EventSink
    runtime_lock: Path

    @classmethod
    def build(cls, loaded: LoadedConfig, state_dir: Path, clock: Clock) -> Wiring:
        config = loaded.config
        ctx = ProbeContext.from_config(config, loaded.identity)
        secrets = Secrets(config.secrets, ctx.env)
        lock = (
            expand_path(config.runtime.lock_file, ctx.env)
            if config.runtime.lock_file
            else state_dir / "runtime.lock"
        )
        return cls(
            loaded=loaded,
            core=core_config(config, loaded.identity.node_id, ctx.runtime, ctx.process_manager),
            ctx=ctx,
            secrets=secrets,
            notifier=Notifier(
                config.notify,
                secrets,
                env=ctx.env,
                outbox_path=state_dir / "outbox.json",
                timeline=clock,
                extra=sos_channels(config.escalation, platform=loaded.identity.platform),
            ),
            sink=EventSink(config.events, secrets),
            runtime_lock=lock,
        )

    def cluster_client(self) -> ClusterClient | None:
        """The cluster client of the first k8s probe (its kubeconfig, context and server)."""
        probe = next((p for p in self.loaded.probes if isinstance(p, K8sProbe)), None)
        if probe is None:
            return None
        from talon.probes.k8s import client_for

        return client_for(probe, self.ctx, f"https://{probe.server}" if probe.server else None)

    def can_i_probes(self) -> list[K8sProbe]:
        return [p for p in self.loaded.probes if isinstance(p, K8sProbe) and p.check == "can_i"]

    async def aclose(self) -> None:
        await self.ctx.aclose()
        await self.sink.aclose()
