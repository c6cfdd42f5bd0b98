"""Built-in stack profiles: a whole stack's probes by name, ``[stack] profile = "NAME"``.

One profile exists: the original Rust Talon's built-in probes (``original`` is
its alias). A config in the original's format gets it without asking, as the
original did (``talon.config.builtins.recognise``); any other config asks by
name. Every value the profile would otherwise hard-code is a ``[stack]`` key; a
key left out keeps the profile's default (the original's value).
"""

from __future__ import annotations

import functools
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from talon.config.builtins import original
from talon.config.builtins.base import Profile, Table, Timeouts
from talon.config.probes import HostPort, NonBlank

AUTO, NONE, ORIGINAL = "auto", "none", "original"
PROFILES: dict[str, Profile] = {original.PROFILE.name: original.PROFILE}
ALIASES: dict[str, str] = {ORIGINAL: original.PROFILE.name}

Port = Annotated[int, Field(ge=1, le=65_535)]


def profile_named(name: str) -> Profile | None:
    """The profile a name (or an alias) stands for; None for ``auto``/``none``/unknown."""
    return PROFILES.get(ALIASES.get(name, name))


def profile_for(runtime_kind: str, platform: str) -> Profile | None:
    """The profile `talon init` writes for a host with this runtime on this platform."""
    return next(
        (
            p
            for p in PROFILES.values()
            if p.runtime_kind == runtime_kind and platform in p.platforms
        ),
        None,
    )


@functools.cache
def _builtin_kinds() -> dict[str, str]:
    """KIND.NAME -> kind of every built-in of every profile (names do not depend on settings)."""
    neutral = Timeouts(runtime=1.0, cluster=1.0, service=1.0, critical_after=1)
    return {t.key: t.kind for p in PROFILES.values() for t in p.build(p.defaults, neutral)}


def builtin_keys() -> frozenset[str]:
    """Every KIND.NAME a built-in profile can add (to tell them from the services file's)."""
    return frozenset(_builtin_kinds())


def original_name(key: str) -> str:
    """A probe's name as the original Talon wrote it (``/health``, ``--check``): a built-in's
    bare name (``k8s_api``, ``vm:redis``) but ``http:NAME`` for its http ones; any other
    probe ``KIND:NAME`` (``launchd:gateway``), as the original named its dynamic probes."""
    kind = _builtin_kinds().get(key)
    if kind is not None and kind != "http":
        return key.split(".", 1)[1]
    return key.replace(".", ":", 1)


class StackConfig(BaseModel):
    """``[stack]``: which built-in profile, and the values it would otherwise hard-code."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    profile: str = Field(
        AUTO,
        description="A built-in stack profile by name ('original' is the original Talon's "
        "built-ins), 'none', or 'auto': the original's built-ins when config.toml is in the "
        "original's format (as the original gave them to every config), else none.",
    )
    disable: list[str] = Field(
        default_factory=list,
        description="Built-in probes (KIND.NAME) to switch off; they are reported as skipped.",
    )
    engine_socket: str | None = Field(
        None, description="The container engine's socket the cluster runs on."
    )
    cluster_container: NonBlank | None = Field(
        None, description="The container the cluster's node runs in."
    )
    node: NonBlank | None = Field(None, description="The node checked; default: every node.")
    namespace: NonBlank | None = Field(None, description="The services' namespace.")
    redis_pod: NonBlank | None = Field(None, description="The redis pod exec'd into.")
    flannel_namespace: NonBlank | None = None
    flannel_daemonset: NonBlank | None = None
    kubelet_client_users: list[NonBlank] | None = Field(
        None, description="The API server's kubelet-client identities that need nodes/proxy."
    )
    tolerate_taints: list[NonBlank] | None = Field(
        None, description="NoSchedule taint keys a schedulable node may carry."
    )
    api_port: Port | None = Field(None, description="The API's port inside the VM (witness).")
    redis_port: Port | None = Field(None, description="Redis's port inside the VM (witness).")
    inngest_port: Port | None = None
    typesense_port: Port | None = None
    worker_port: Port | None = None
    kubeconfig: NonBlank | None = Field(None, description="Default: the cluster client's own.")
    context: NonBlank | None = None
    kube_server: HostPort | None = Field(
        None,
        description="HOST:PORT of the API on this host; set, the cluster probes try it on "
        "localhost, then on the VM's address (a dead forward is then split-brain).",
    )

    @field_validator("profile")
    @classmethod
    def _known(cls, value: str) -> str:
        known = (AUTO, NONE, *ALIASES, *PROFILES)
        if value not in known:
            raise ValueError(f"must be one of {', '.join(known)}, got {value!r}")
        return value

    def settings(self) -> dict[str, Any]:
        """The profile keys this file sets (the others keep the profile's defaults)."""
        return self.model_dump(exclude={"profile", "disable"}, exclude_none=True)


__all__ = [
    "ALIASES",
    "AUTO",
    "NONE",
    "ORIGINAL",
    "PROFILES",
    "Profile",
    "StackConfig",
    "Table",
    "Timeouts",
    "builtin_keys",
    "original_name",
    "profile_for",
    "profile_named",
]
