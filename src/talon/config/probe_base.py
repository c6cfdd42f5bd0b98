"""What every probe of the services file shares: its common keys (``ProbeBase``), the
endpoint table, and the validators of hosts, ports and URLs the kinds use."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from talon.config.locate import shown
from talon.faults import Fault

ProbeClass = Literal["infra", "service", "app"]
Layer = Literal["host", "runtime", "cluster", "service", "app"]
PathClass = Literal["localhost", "vm", "dns"]
Timeout = Annotated[float, Field(gt=0, le=3600)]

_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_-]{1,63})*\.?$"
)


def check_host(host: str) -> str:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not _HOSTNAME.match(host):
            raise ValueError(f"{shown(host)} is not a valid host name or IP address") from None
    return host


def check_http_url(value: str, *, show: bool = True) -> str:
    """An http(s) URL with a valid host and port; ``show=False`` keeps the URL out of errors."""
    said = shown(value) if show else "the URL given"
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"must start with http:// or https://, got {said}")
    if not parts.hostname:
        raise ValueError(f"has no host: {said}")
    check_host(parts.hostname)
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"has a port out of range 1-65535: {said}") from None
    if port == 0:
        raise ValueError(f"has a port out of range 1-65535: {said}")
    return value


def split_host_port(value: str) -> tuple[str, int]:
    """``host:port`` or ``[v6]:port`` -> (host, port), with both checked."""
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not (port.isascii() and port.isdigit()):
        raise ValueError(f"must be HOST:PORT, got {shown(value)}")
    if len(port) > 5 or not 1 <= int(port) <= 65_535:
        raise ValueError(f"port {shown(port)} is out of range 1-65535")
    return check_host(host), int(port)


def _host_port(value: str) -> str:
    split_host_port(value)
    return value


def _non_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


HostPort = Annotated[str, AfterValidator(_host_port)]
NonBlank = Annotated[str, AfterValidator(_non_blank)]


class EndpointSpec(BaseModel):
    """Ordered paths to one service: the probe tries them and says which answered.

    The localhost path is the probe's own ``url``/``address``; ``vm`` uses the
    address the container-runtime adapter discovers; ``dns`` the name below.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    via: list[PathClass] | None = Field(
        None, description="Paths in order of preference; default localhost, vm, then dns if set."
    )
    dns: str | None = Field(None, description="In-cluster DNS name for the 'dns' path.")
    port: Annotated[int, Field(ge=1, le=65_535)] | None = Field(
        None, description="Port on the VM and DNS paths, if it differs from the localhost one."
    )

    @field_validator("via")
    @classmethod
    def _unique(cls, value: list[PathClass] | None) -> list[PathClass] | None:
        if value is not None and not value:
            raise ValueError("must list at least one of 'localhost', 'vm', 'dns'")
        if value is not None and len(set(value)) != len(value):
            raise ValueError("lists a path twice")
        return value

    @field_validator("dns")
    @classmethod
    def _dns_host(cls, value: str | None) -> str | None:
        return None if value is None else check_host(value)

    @model_validator(mode="after")
    def _dns_needs_name(self) -> EndpointSpec:
        if self.via and "dns" in self.via and not self.dns:
            raise ValueError(
                "via lists 'dns' but no dns name is set; add dns = \"svc.ns.svc.cluster.local\""
            )
        return self

    @property
    def paths(self) -> tuple[PathClass, ...]:
        if self.via is not None:
            return tuple(self.via)
        return ("localhost", "vm", "dns") if self.dns else ("localhost", "vm")


Remote = Annotated[
    bool | None,
    Field(
        description="The target is across the WAN (true) or on this network (false). When every "
        "remote probe fails while local ones pass, that is network_down. Default: remote for "
        "any non-loopback address."
    ),
]


class ProbeBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str
    kind: str
    critical: bool = False
    critical_after_consecutive_failures: Annotated[int, Field(ge=1, le=1_000)] = 1
    timeout_secs: Timeout = 5.0
    probe_class: ProbeClass = Field("service", alias="class")
    layer: Layer = "service"
    tags: list[str] = Field(default_factory=list)
    informational: bool = Field(
        False, description="Shown and counted, never a reason to heal (R4)."
    )
    enabled: bool = Field(True, description="A disabled probe is reported as skipped.")
    nodes: list[str] | None = Field(
        None,
        description="Nodes this probe's target is placed on; elsewhere it is 'not hosted here'.",
    )
    witness_for: str | None = Field(
        None, description="KIND.NAME of the service this VM-side probe witnesses (split-brain)."
    )
    classify_as: Fault | None = Field(
        None, description="The fault this probe's failure means, e.g. redis_aof_corrupt."
    )
    verify: bool = Field(
        True,
        description="Part of the verification gate: after a heal, recovery is declared only "
        "once this probe (with the others of the gate) stays green. false: reported and "
        "escalated as usual, but a heal's verification does not wait for it.",
    )
    service: str | None = Field(
        None,
        alias="restart",
        description="The process manager's label a restart acts on (also spelled `restart`). "
        "Default: a [service.NAME] (or [launchd.NAME]) probe restarts its label; an http probe "
        "restarts the label of the service probe of the same name, when there is one (as the "
        "original Talon did); any other probe restarts nothing and escalates.",
    )

    @field_validator("classify_as", mode="before")
    @classmethod
    def _fault(cls, value: object) -> object:
        """A fault's name, as the file spells it (the loader validates strictly, where an
        enum takes only its own members)."""
        if value is None or isinstance(value, Fault):
            return value
        if isinstance(value, str) and value in {f.value for f in Fault}:
            return Fault(value)
        raise ValueError(f"must be one of {', '.join(Fault)}, got {shown(value)}")

    @property
    def key(self) -> str:
        """The probe's unique name across kinds, e.g. ``http.typesense``."""
        return f"{self.kind}.{self.name}"
