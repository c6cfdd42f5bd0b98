"""Talon-only sections ``[fleet]`` (the peers ``talon fleet status`` reads) and ``[deadman]``.

``[deadman]`` is the watchdog's own watchdog: a healthchecks.io-compatible
ping URL that every cycle reports to, so a dead or wedged Talon is noticed
from outside. Its URL is a secret (whoever knows it can report for this node),
so it is best written as ``env:NAME`` or ``secret:NAME``; a plain URL is
accepted too, and never echoed back in an error message.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from talon.config.outputs import SecretRef, check_secret_ref
from talon.config.probes import check_http_url

Timeout = Annotated[float, Field(gt=0, le=60)]
LabelName = Annotated[str, Field(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$", max_length=64)]
PeerName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
FailSignal = Literal["recovering", "failed recovery", "degraded hold"]
DEFAULT_FAIL_WHEN: tuple[FailSignal, ...] = ("failed recovery", "degraded hold")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class PeerConfig(_Section):
    """One node of the fleet, read through its ``/health``."""

    name: PeerName = Field(description="How the fleet view names this peer; unique.")
    url: str = Field(description="The peer's /health URL, e.g. http://10.0.0.5:9999/health.")
    token: SecretRef | None = Field(
        None,
        description="The peer's [health] token (env:NAME or secret:NAME), sent as "
        "Authorization: Bearer.",
    )
    timeout_secs: Timeout | None = Field(
        None, description="Bound of this peer's answer; default [fleet] timeout_secs."
    )
    labels: dict[LabelName, Annotated[str, Field(max_length=256)]] = Field(
        default_factory=dict,
        description="Prometheus target labels for `talon fleet targets` (e.g. platform, env); "
        "what the peer's /health says about itself (node_id, platform, arch) wins.",
    )

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_http_url(value)

    @field_validator("labels")
    @classmethod
    def _labels(cls, labels: dict[str, str]) -> dict[str, str]:
        for name in labels:
            if name.startswith("__"):
                raise ValueError(
                    f"label {name!r}: names starting with __ are Prometheus's own; rename it"
                )
        return labels


class FleetConfig(_Section):
    """``talon fleet status``: every peer's /health, read at once, each bounded."""

    peers: list[PeerConfig] = Field(
        default_factory=list, description="The other nodes, one [[fleet.peers]] table each."
    )
    timeout_secs: Timeout = Field(
        3.0, description="Bound of each peer's answer (the whole command waits at most this long)."
    )
    stale_after_secs: Annotated[float, Field(gt=0, le=86_400)] | None = Field(
        None,
        description="Also call a peer stale when its last cycle finished longer ago than this "
        "(its own clock); without it only the peer's own stale flag counts.",
    )
    include_self: bool = Field(
        True,
        description="Also read this node's own /health (from [health] bind and token), named "
        "by its node id, unless a peer already has that URL or name.",
    )

    @field_validator("peers")
    @classmethod
    def _unique_names(cls, peers: list[PeerConfig]) -> list[PeerConfig]:
        seen: dict[str, int] = {}
        for index, peer in enumerate(peers):
            if peer.name in seen:
                raise ValueError(
                    f"peers {seen[peer.name] + 1} and {index + 1} are both named {peer.name!r}; "
                    "give each [[fleet.peers]] its own name"
                )
            seen[peer.name] = index
        return peers


class DeadmanConfig(_Section):
    """A dead-man's switch: healthchecks.io-compatible pings, one pair per cycle."""

    url: str | None = Field(
        None,
        description="The ping URL (e.g. https://hc-ping.com/UUID), best as env:NAME or "
        "secret:NAME since whoever knows it can report for this node; unset: no pings.",
    )
    send_start: bool = Field(
        True, description="Ping URL/start when a cycle begins (a wedged cycle then shows as down)."
    )
    timeout_secs: Annotated[int, Field(ge=1, le=60)] = Field(5, description="Bound of each ping.")
    min_interval_secs: Annotated[int, Field(ge=0, le=86_400)] = Field(
        30,
        description="At most one start/end pair this often (hosted healthchecks.io rate-limits); "
        "a change between success and failure is always sent at once. Keep it well below the "
        "check's period.",
    )
    fail_when: list[FailSignal] = Field(
        default_factory=lambda: list(DEFAULT_FAIL_WHEN),
        description="Signals reported as URL/fail (with the reasons); any other signal is a "
        "success. A dead internal task is always a failure.",
    )

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None or value.startswith(("env:", "secret:")):
            return None if value is None else check_secret_ref(value)
        return check_http_url(value, show=False)
