"""Probe declarations of the services file, one model per kind.

The original format's ``[launchd.NAME]``, ``[http.NAME]`` and ``[script.NAME]``
are accepted unchanged; ``tcp``, ``redis``, ``service``, ``k8s``, ``runtime``,
``container`` and ``ssh`` are Talon's additions, as are ``class``, ``layer``,
``tags``, ``informational``, ``enabled`` and the ``endpoint`` table.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from talon.config.probe_base import (
    EndpointSpec,
    HostPort,
    Layer,
    NonBlank,
    PathClass,
    ProbeBase,
    ProbeClass,
    Remote,
    Timeout,
    check_host,
    check_http_url,
    split_host_port,
)

__all__ = [
    "KIND_MODELS",
    "ContainerProbe",
    "EndpointSpec",
    "HostPort",
    "HttpProbe",
    "K8sProbe",
    "Layer",
    "NonBlank",
    "PathClass",
    "ProbeBase",
    "ProbeClass",
    "ProbeSpec",
    "RedisProbe",
    "Remote",
    "RuntimeProbe",
    "ScriptProbe",
    "ServiceProbe",
    "SshProbe",
    "TcpProbe",
    "Timeout",
    "check_host",
    "check_http_url",
    "split_host_port",
]


class HttpProbe(ProbeBase):
    kind: Literal["http"] = "http"
    url: str
    method: Literal["GET", "HEAD"] = "GET"
    expect_status: list[Annotated[int, Field(ge=100, le=599)]] | None = Field(
        None, description="Accepted status codes; default any 2xx or 3xx, as Kubernetes does."
    )
    body_contains: str | None = None
    tls_verify: bool = True
    endpoint: EndpointSpec | None = None
    remote: Remote = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_http_url(value)


class TcpProbe(ProbeBase):
    kind: Literal["tcp"] = "tcp"
    address: HostPort = Field(description="HOST:PORT of the localhost (or only) path.")
    endpoint: EndpointSpec | None = None
    remote: Remote = None


class RedisProbe(ProbeBase):
    kind: Literal["redis"] = "redis"
    address: HostPort = "127.0.0.1:6379"
    db: Annotated[int, Field(ge=0, le=1_000)] = 0
    password_env: str | None = Field(
        None, description="Environment variable holding the password (never the password)."
    )
    check_persistence: bool = Field(
        False, description="Also fail when INFO persistence reports a failed AOF write/rewrite."
    )
    endpoint: EndpointSpec | None = None
    remote: Remote = None


class ScriptProbe(ProbeBase):
    kind: Literal["script"] = "script"
    command: NonBlank = Field(
        description="Run with `sh -c`; exit 0 ok, 1 warning, 2 critical, 3 unknown."
    )
    exit_codes: Literal["nagios", "zero_ok"] = Field(
        "nagios",
        description="nagios: 0 ok, 1 warning, 2 critical, 3 unknown; zero_ok: 0 ok, anything "
        "else critical (the original Talon's rule; the default in an original-format "
        "services file). Either way 126/127 (not executable, not found) is unknown.",
    )
    in_vm: bool = Field(
        False,
        description="Run inside the VM through the runtime's shell (a VM-side witness); the "
        "script is passed as one word (R6).",
    )


class ServiceProbe(ProbeBase):
    """A service of the host's process manager; ``[launchd.NAME]`` (the original format's)
    and ``[systemd.NAME]`` are other spellings: the configured manager answers all three."""

    kind: Literal["service", "launchd", "systemd"] = "service"
    label: NonBlank


K8sCheck = Literal["api", "node_ready", "node_schedulable", "daemonset", "can_i", "exec", "logs"]
_K8S_NEEDS: dict[str, tuple[str, ...]] = {
    "daemonset": ("namespace", "daemonset"),
    "can_i": ("verb", "resource"),
    "exec": ("namespace", "pod", "command"),
    "logs": ("namespace", "pod"),
}


class K8sProbe(ProbeBase):
    kind: Literal["k8s"] = "k8s"
    probe_class: ProbeClass = Field("infra", alias="class")
    layer: Layer = "cluster"
    check: K8sCheck
    node: str | None = Field(None, description="Node name; default: every node.")
    namespace: str | None = None
    daemonset: str | None = None
    count: Literal["ready", "available"] = Field(
        "ready",
        description="daemonset: the status count that must reach desiredNumberScheduled (> 0): "
        "numberReady ('ready'), or numberAvailable, equal to it ('available').",
    )
    tolerate_taints: list[str] | None = Field(
        None,
        description="node_schedulable: when set, any NoSchedule taint fails the node unless "
        "its key is listed here (e.g. node-role.kubernetes.io/control-plane). Unset: only a "
        "cordon (spec.unschedulable, or its taint) does.",
    )
    verb: str | list[str] | None = Field(
        None, description="can_i: the verb, or several (every one must be allowed)."
    )
    resource: str | None = None
    subresource: str | None = None
    as_user: str | list[str] | None = Field(
        None,
        alias="as",
        description="can_i: identity to impersonate, or several (every one must be allowed).",
    )
    pod: str | None = Field(None, description="exec, logs: the pod, in `namespace`.")
    container: str | None = Field(
        None, description="exec, logs: the pod's container; default: its first."
    )
    command: list[NonBlank] | None = Field(
        None, description='exec: argv run in the pod (no shell), e.g. ["redis-cli", "ping"].'
    )
    expect: str | None = Field(
        None,
        description="exec, logs: text the output must contain (exec: its stdout, whatever "
        "the exit code). Unset: exec passes on exit 0, logs when the logs can be read.",
    )
    tail_lines: Annotated[int, Field(ge=1, le=10_000)] = Field(
        1, description="logs: how many of the last lines to read."
    )
    kubeconfig: str | None = None
    context: str | None = None
    server: HostPort | None = Field(
        None,
        description="HOST:PORT of the API server, overriding the kubeconfig's; needed by "
        "`endpoint`, whose paths then reach the API on localhost and on the VM address.",
    )
    endpoint: EndpointSpec | None = None

    @field_validator("verb", "as_user")
    @classmethod
    def _one_or_more(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list) and (not value or not all(v.strip() for v in value)):
            raise ValueError("must name at least one, and none empty")
        return value

    @model_validator(mode="after")
    def _needs(self) -> K8sProbe:
        missing = [k for k in _K8S_NEEDS.get(self.check, ()) if getattr(self, k) is None]
        if missing:
            raise ValueError(f"check = {self.check!r} needs {', '.join(missing)}")
        if self.command is not None and not self.command:
            raise ValueError('command must name the program to run, e.g. ["redis-cli", "ping"]')
        if self.endpoint is not None and self.server is None:
            raise ValueError('endpoint needs server = "HOST:PORT" (the localhost path)')
        return self

    @property
    def verbs(self) -> tuple[str, ...]:
        return (self.verb,) if isinstance(self.verb, str) else tuple(self.verb or ())

    @property
    def identities(self) -> tuple[str | None, ...]:
        """can_i: who is asked for; ``None`` is the client's own identity."""
        if self.as_user is None:
            return (None,)
        return (self.as_user,) if isinstance(self.as_user, str) else tuple(self.as_user)


_CONTAINER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$")


class RuntimeProbe(ProbeBase):
    """The container runtime answers on its control path (socket or the VM's shell)."""

    kind: Literal["runtime"] = "runtime"
    probe_class: ProbeClass = Field("infra", alias="class")
    layer: Layer = "runtime"
    min_uptime_secs: Annotated[int, Field(ge=1, le=86_400 * 366)] | None = Field(
        None,
        description="Warn while the VM has been up for less than this: it restarted (or "
        "crash-loops). Default: no uptime check.",
    )


class ContainerProbe(ProbeBase):
    """The container engine answers its API, and optionally one container is running."""

    kind: Literal["container"] = "container"
    probe_class: ProbeClass = Field("infra", alias="class")
    layer: Layer = "runtime"
    socket: str | None = Field(
        None,
        description="The engine's API socket: /path or unix:///path. Default: the runtime "
        "adapter's socket, else the environment's, else the conventional one.",
    )
    container: str | None = Field(
        None,
        description="Name or ID of a container that must be running (and healthy, if it has "
        "a health check).",
    )
    restart_unhealthy: bool = Field(
        True,
        description="Restart the container through the engine's API when it runs but its "
        "HEALTHCHECK says unhealthy (needs `container` and a runtime adapter that declares "
        "restart_container). A container that is not running is never started.",
    )
    stop_timeout_secs: Annotated[int, Field(ge=0, le=3600)] | None = Field(
        None,
        description="Seconds the engine waits after SIGTERM before SIGKILL when Talon restarts "
        "the container; default: the container's own stop timeout, else the engine's 10 s. "
        "[healing] restart_timeout_secs bounds the whole restart.",
    )

    @field_validator("socket")
    @classmethod
    def _unix_socket(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("unix:///", "/", "~/", "$")):
            raise ValueError(f"must be a unix socket path (/path or unix:///path), got {value!r}")
        return value

    @field_validator("container")
    @classmethod
    def _container_name(cls, value: str | None) -> str | None:
        if value is not None and not _CONTAINER_NAME.match(value):
            raise ValueError(
                f"{value!r} is not a container name or ID (letters, digits, '_', '.', '-')"
            )
        return value

    @model_validator(mode="after")
    def _restart_needs_a_container(self) -> ContainerProbe:
        keys = ("restart_unhealthy", "stop_timeout_secs")
        given = [k for k in keys if k in self.model_fields_set]
        if given and self.container is None:
            raise ValueError(
                f"{' and '.join(given)} {'needs' if len(given) == 1 else 'need'} "
                'container = "NAME" (without it the probe only checks that the engine answers)'
            )
        return self


_SSH_USER = re.compile(r"^[A-Za-z0-9._][A-Za-z0-9._-]{0,63}$")
_SSH_OPTION = re.compile(r"^([A-Za-z][A-Za-z0-9]*)=(\S.*)$")
# Options the probe sets from its own keys, or always; ssh keeps the FIRST value it sees.
_SSH_OWNED = {
    "batchmode": "it is always yes: Talon never lets ssh prompt",
    "connecttimeout": "it follows timeout_secs",
    "stricthostkeychecking": "use strict_host_key_checking",
    "userknownhostsfile": "use known_hosts_file",
    "port": "use port",
    "user": "use user",
    "identityfile": "use identity_file",
    "controlmaster": "every check is a fresh connection",
    "controlpath": "every check is a fresh connection",
    "remotecommand": "use command",
}


class SshProbe(ProbeBase):
    """A host is reachable over ssh and a command there exits 0 (BatchMode: never a prompt)."""

    kind: Literal["ssh"] = "ssh"
    probe_class: ProbeClass = Field("infra", alias="class")
    layer: Layer = "host"
    host: str = Field(description="Host name, IP address or ssh config alias to reach.")
    port: Annotated[int, Field(ge=1, le=65_535)] = Field(22, description="The sshd port.")
    user: str | None = Field(
        None, description="Remote user; default: ssh's (its config, or yours)."
    )
    identity_file: str | None = Field(
        None,
        description="Private key to offer, and only that one (IdentitiesOnly); ~ and $VARS "
        "expanded. Default: ssh's own keys and agent.",
    )
    command: NonBlank = Field(
        "true",
        description="Run on the host with sh, passed as one word (R6): exit 0 ok, 1 warning, "
        "2 critical, 3 unknown, as a script probe.",
    )
    strict_host_key_checking: Literal["yes", "accept-new"] = Field(
        "accept-new",
        description="'accept-new' trusts a host's key on first contact and pins it; 'yes' only "
        "connects to hosts already in known_hosts_file. Either way a CHANGED key is refused.",
    )
    known_hosts_file: str | None = Field(
        None,
        description="Where host keys are pinned; default ssh_known_hosts in Talon's state "
        "directory, so Talon never writes to your own known_hosts.",
    )
    ssh_config: str | None = Field(
        None,
        description="ssh client config file (ssh -F), or 'none' to read none; default: "
        "ssh's own (yours, then the system's).",
    )
    ssh_options: list[str] = Field(
        default_factory=list,
        description="Extra ssh options as KEY=VALUE, each passed as -o KEY=VALUE.",
    )
    remote: Remote = None

    @field_validator("strict_host_key_checking", mode="before")
    @classmethod
    def _never_no(cls, value: object) -> object:
        if isinstance(value, str) and value.lower() in ("no", "off", "false"):
            raise ValueError(
                f"{value!r} would accept any host key, even a changed one (a man-in-the-middle);"
                " use 'accept-new' (trust on first contact) or 'yes'"
            )
        if value is False:
            raise ValueError("must be 'yes' or 'accept-new', not false")
        return value

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        return check_host(value)

    @field_validator("user")
    @classmethod
    def _user(cls, value: str | None) -> str | None:
        if value is not None and not _SSH_USER.match(value):
            raise ValueError(f"{value!r} is not a user name (letters, digits, '.', '_', '-')")
        return value

    @field_validator("identity_file", "known_hosts_file", "ssh_config")
    @classmethod
    def _path(cls, value: str | None, info: ValidationInfo) -> str | None:
        # A probe does not know where the services file is: a relative path would be
        # relative to wherever Talon happens to run.
        if value is None or (info.field_name == "ssh_config" and value == "none"):
            return value
        if not value.startswith(("/", "~/", "$")):
            raise ValueError(f"must be an absolute path (/PATH, ~ or $VAR first), got {value!r}")
        return value

    @field_validator("ssh_options")
    @classmethod
    def _options(cls, value: list[str]) -> list[str]:
        for option in value:
            found = _SSH_OPTION.match(option)
            if not found:
                raise ValueError(
                    f'{option!r} is not KEY=VALUE (e.g. "ServerAliveInterval=5"); '
                    "each becomes -o KEY=VALUE"
                )
            why = _SSH_OWNED.get(found.group(1).lower())
            if why:
                raise ValueError(f"{option!r} cannot be set here: {why}")
        return value

    @property
    def target(self) -> str:
        """``user@host:port``, as results show which machine answered."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.user + '@' if self.user else ''}{host}:{self.port}"


ProbeSpec = (
    HttpProbe
    | TcpProbe
    | RedisProbe
    | ScriptProbe
    | ServiceProbe
    | K8sProbe
    | RuntimeProbe
    | ContainerProbe
    | SshProbe
)

KIND_MODELS: dict[str, type[ProbeBase]] = {
    "http": HttpProbe,
    "tcp": TcpProbe,
    "redis": RedisProbe,
    "script": ScriptProbe,
    "service": ServiceProbe,
    "launchd": ServiceProbe,
    "systemd": ServiceProbe,
    "k8s": K8sProbe,
    "runtime": RuntimeProbe,
    "container": ContainerProbe,
    "ssh": SshProbe,
}
