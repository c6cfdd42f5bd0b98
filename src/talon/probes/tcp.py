"""The ``tcp`` probe: does something accept connections on each path?"""

from __future__ import annotations

from functools import partial

from talon.config.probes import TcpProbe, split_host_port
from talon.probes.context import ProbeContext
from talon.probes.endpoints import plan, resolve
from talon.probes.net import tcp_connect
from talon.report import Observation


async def probe(spec: TcpProbe, ctx: ProbeContext) -> Observation:
    host, port = split_host_port(spec.address)
    paths = plan(host, port, spec.endpoint, ctx.vm_address, spec.remote)
    return await resolve(paths, partial(tcp_connect, timeout=spec.timeout_secs))
