"""The main configuration file (``config.toml``) as pydantic models.

The sections and keys of the original Rust Talon keep their names, defaults and
meaning; Talon-only settings live in new sections (``[runtime]``,
``[process_manager]``, ``[exec]``, ``[bulkheads]``). Every model forbids unknown
keys (R34) and range-checks its values.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from talon.config.builtins import StackConfig
from talon.config.fleet import DeadmanConfig, FleetConfig
from talon.config.outputs import (
    EventsConfig,
    EvidenceConfig,
    LogConfig,
    NotifyConfig,
    SecretRef,
    SecretsConfig,
)
from talon.config.probes import ProbeSpec, check_host
from talon.config.telemetry import TelemetryConfig

Seconds = Annotated[int, Field(ge=1, le=86_400 * 7)]
Port = Annotated[int, Field(ge=1, le=65_535)]
Count = Annotated[int, Field(ge=1, le=1_000)]
EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
SecretName = Annotated[
    str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class WorkerConfig(Section):
    """The worker process on the host that Talon supervises (issue: supervisor)."""

    dir: str = Field("", description="Working directory of the worker.")
    command: list[str] = Field(default_factory=list, description="argv of the worker.")
    external_launchd_label: str = Field(
        "", description="Label of an external supervisor of the worker; if loaded, defer to it."
    )
    external_label: str = Field(
        "",
        description="Talon-only: the same, in whatever process manager is configured (a "
        "launchd label, a systemd unit, a supervisord program); either key works.",
    )
    stable_secs: Seconds = Field(
        10,
        description="Talon-only: a run this long counts as a good start; it resets the crash "
        "backoff and the quick-exit count.",
    )
    port: Port = Field(3111, description="Port the worker listens on.")
    health_endpoint: str = Field("/api/inngest", description="GET path of the health check.")
    sync_endpoint: str = Field("/api/inngest", description="PUT path called after a start.")
    log_stdout: str = Field("", description="File the worker's stdout is appended to.")
    log_stderr: str = Field("", description="File the worker's stderr is appended to.")
    env_file: str = Field("", description="KEY=VALUE file loaded into the worker's env.")
    env: dict[EnvName, str] = Field(
        default_factory=dict,
        description='Talon-only: ENV_NAME = "value" set in the worker\'s env before env_file '
        '(an original-format config gets WORKER_ROLE = "host", as the original set it).',
    )
    secrets: dict[EnvName, SecretName] = Field(
        default_factory=dict,
        description='Talon-only: ENV_NAME = "secret_name", leased with `secrets lease NAME '
        "--ttl 24h` at each start (bounded by [secrets] timeout_secs) and set after env_file; "
        "a failed lease is logged and skipped. An original-format config gets the original's "
        "seven.",
    )
    drain_timeout_secs: Seconds = 5
    health_interval_secs: Seconds = 30
    health_failures_before_restart: Count = 3
    restart_backoff_max_secs: Seconds = 30
    startup_sync_delay_secs: Annotated[int, Field(ge=0, le=3600)] = 5
    http_timeout_secs: Seconds = 5

    @property
    def external(self) -> str:
        """The external supervisor's label, whichever key named it."""
        return self.external_label or self.external_launchd_label

    @field_validator("health_endpoint", "sync_endpoint")
    @classmethod
    def _absolute_path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"must be an absolute URL path starting with '/', got {value!r}")
        return value


# The original's worker got these leased secrets (worker.rs): what an original-format config
# gets as [worker] secrets (loader.py).
ORIGINAL_WORKER_SECRETS: Mapping[str, str] = MappingProxyType(
    {
        "CLAUDE_CODE_OAUTH_TOKEN": "claude_oauth_token",
        "TODOIST_CLIENT_SECRET": "todoist_client_secret",
        "TODOIST_API_TOKEN": "todoist_api_token",
        "FRONT_WEBHOOK_SECRET": "front_rules_webhook_secret",
        "FRONT_API_TOKEN": "front_api_token",
        "VERCEL_WEBHOOK_SECRET": "vercel_webhook_secret",
        "REVALIDATION_SECRET": "revalidation_secret",
    }
)


class EscalationConfig(Section):
    agent_cooldown_secs: Seconds = 600
    sos_cooldown_secs: Seconds = 14_400
    sos_recipient: str = ""
    sos_telegram_chat_id: str = ""
    sos_telegram_secret_name: str = Field(
        "", description="Name of the secret holding the Telegram token (never the token)."
    )
    critical_threshold_secs: Seconds = 900


class AgentConfig(Section):
    cloud_command: str = ""
    local_command: str = ""
    timeout_secs: Seconds = 300
    prompt_via: Literal["argument", "stdin"] = Field(
        "argument",
        description="Talon-only: how the command gets the prompt besides TALON_PROMPT_FILE "
        "and stdin: `argument` appends the prompt file's path (unless the command has "
        "{prompt}); `stdin` only on stdin, as the original Talon did (the default for an "
        "original-format config, whose `pi -p ...` reads its prompt from stdin).",
    )


class ProbesConfig(Section):
    colima_timeout_secs: Seconds = 5
    k8s_timeout_secs: Seconds = 10
    service_timeout_secs: Seconds = 5
    critical_after_consecutive_failures: Count = 2
    consecutive_failures_before_escalate: Count = 3

    @property
    def runtime_timeout_secs(self) -> int:
        """Default timeout of the runtime-layer probes: the original format's VM-runtime key."""
        return self.colima_timeout_secs


class HealthConfig(Section):
    enabled: bool = True
    bind: str = "127.0.0.1:9999"
    unhealthy_status: Literal[200, 503] = Field(
        503,
        description="Talon-only: the HTTP status of /health when the node is not well (the "
        "body says why either way); 200 answers as the original Talon did, always 200 "
        "(the default for an original-format config).",
    )
    storage_failing_status: Literal[200, 503] | None = Field(
        None,
        description="Talon-only: the HTTP status of /health while writes to the state "
        "directory fail (a full disk) and all else is well; the body's storage field says so "
        "either way. Default: as unhealthy_status (503; 200 for an original-format config).",
    )
    token: SecretRef | None = Field(
        None,
        description="Talon-only: a bearer token (env:NAME or secret:NAME) every request must "
        "carry; required for a bind address that is not loopback.",
    )

    @field_validator("bind")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if (
            not sep
            or not host
            or not (port.isascii() and port.isdigit())
            or not 1 <= int(port) <= 65_535
        ):
            raise ValueError(f"must be HOST:PORT with a port from 1 to 65535, got {value!r}")
        return value

    @field_validator("token")
    @classmethod
    def _token_for_the_network(cls, value: str | None, info: ValidationInfo) -> str | None:
        """A bind that is not loopback serves this node's state to the network: refused
        at load (``talon validate``, exit 2 at start, a reload kept out) without a token,
        rather than by the web server after start."""
        bind = info.data.get("bind")
        if value is None and info.data.get("enabled", True) and bind and not _loopback(bind):
            raise ValueError(
                f"[health] bind = {bind!r} is not a loopback address and [health] token is "
                "not set: anyone on the network could read this node's state. Add "
                'token = "env:TALON_HEALTH_TOKEN" to [health], or bind to 127.0.0.1'
            )
        return value


def _loopback(bind: str) -> bool:
    import ipaddress

    host = bind.rpartition(":")[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name may resolve to anything
        return False


class RuntimeConfig(Section):
    """Talon-only: which container-runtime adapter discovers the VM address."""

    kind: str = Field(
        "null",
        description="null: no VM; static: a VM at vm_address; lab: the lab at lab_dir; or a "
        "platform adapter (see `talon validate` for the list): a VM runtime with a profile, a "
        "native engine on its socket, or a remote host over ssh.",
    )
    vm_address: str | None = Field(None, description="VM address for kind = 'static'.")
    profile: str = Field(
        "default", description="The VM runtime's profile or instance name (force-cycle, shell)."
    )
    socket: str = Field(
        "",
        description="The container engine's API socket (unix path); default: the adapter's "
        "conventional one, or the one the engine's environment variable names.",
    )
    remote_host: str = Field("", description="ssh destination for kind = 'remote'.")
    ssh_options: list[str] = Field(
        default_factory=list, description="Extra ssh arguments for kind = 'remote'."
    )
    lab_dir: str | None = Field(None, description="The lab directory for kind = 'lab'.")
    lock_file: str = Field(
        "",
        description="The runtime lock every runtime action runs under (R19); helper scripts "
        "get its path as TALON_RUNTIME_LOCK. Default: runtime.lock in the state directory.",
    )
    engine_service: str = Field(
        "",
        description="A native engine: its own service in the process manager (a unit or "
        "label); a dead engine is restarted through it. Default: the conventional unit when "
        "the engine adapter knows one for this process manager; none elsewhere (escalated).",
    )

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        from talon.kinds import runtime_kinds

        if value not in runtime_kinds():
            raise ValueError(f"must be one of {', '.join(runtime_kinds())}, got {value!r}")
        return value

    @model_validator(mode="after")
    def _static_needs_address(self) -> RuntimeConfig:
        if self.kind == "remote" and not self.remote_host:
            raise ValueError("kind = 'remote' needs remote_host = \"HOST\" (an ssh destination)")
        if self.kind == "static" and not self.vm_address:
            raise ValueError("kind = 'static' needs vm_address = \"ADDRESS\"")
        if self.kind == "lab" and not self.lab_dir:
            raise ValueError("kind = 'lab' needs lab_dir = \"PATH\" (written by `talon lab up`)")
        if self.vm_address is not None:
            check_host(self.vm_address)
        return self


class ProcessManagerConfig(Section):
    """Talon-only: the process manager that owns host services."""

    kind: str = Field(
        "auto",
        description="auto: detected (launchd on macOS, systemd where it runs, supervisord "
        "when supervisord_url is set, else null); null, launchd, systemd, supervisord, or a "
        "registered plug-in's kind (`talon validate` lists them; the lab's is lab).",
    )
    systemd_scope: Literal["auto", "user", "system"] = Field(
        "auto", description="systemd: where units live; auto looks in both (R24)."
    )
    launchd_domain: Literal["auto", "gui", "system"] = Field(
        "auto", description="launchd: gui/UID or system; auto looks in both (R24)."
    )
    launchd_uid: Annotated[int, Field(ge=0)] | None = Field(
        None,
        description="launchd: the UID of the gui/UID domain; default: the user Talon runs as "
        "(set it when Talon runs as root but the services are a user's LaunchAgents).",
    )
    supervisord_url: str = Field(
        "",
        description="supervisord's XML-RPC endpoint: unix:///path/to/supervisor.sock or "
        "http://127.0.0.1:9001.",
    )
    supervisord_conf_dir: str = Field(
        "",
        description="A directory supervisord [include]s; `talon install` and enable write a "
        "program section there.",
    )
    timeout_secs: Seconds = Field(10, description="Bound of every process-manager call.")

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        from talon.kinds import process_manager_kinds

        if value not in process_manager_kinds():
            raise ValueError(f"must be one of {', '.join(process_manager_kinds())}, got {value!r}")
        return value

    @model_validator(mode="after")
    def _supervisord_needs_url(self) -> ProcessManagerConfig:
        if self.kind == "supervisord" and not self.supervisord_url:
            raise ValueError(
                "kind = 'supervisord' needs supervisord_url = \"unix:///PATH/supervisor.sock\""
            )
        return self


class ExecConfig(Section):
    """Talon-only: the environment every subprocess gets (R1)."""

    path: list[str] = Field(
        default_factory=list,
        description="Directories put first on PATH for scripts and tools; the system "
        "directories and Talon's own PATH follow.",
    )
    inherit_path: bool = Field(True, description="Append the PATH Talon was started with.")
    env: dict[str, str] = Field(
        default_factory=dict,
        description="Extra variables for every subprocess, e.g. KUBECACHEDIR; `~` and $VAR "
        "are expanded. Never secrets: those come from the environment Talon runs in.",
    )


class BulkheadConfig(Section):
    """Talon-only: how many probes of each class may run at once."""

    infra: Annotated[int, Field(ge=1, le=10_000)] = 256
    service: Annotated[int, Field(ge=1, le=10_000)] = 1024
    app: Annotated[int, Field(ge=1, le=10_000)] = 1024


class HealingConfig(Section):
    """Talon-only: verification windows, hold, and every tier's cooldown and budget.

    Defaults are the reference values of the healer that ran on the node
    (REGRESSIONS.md R13, R14, R17).
    """

    warmup_secs: Seconds = Field(
        120, description="Grace after a heal: transient failures tolerated."
    )
    durability_checks: Count = Field(6, description="Consecutive green checks that prove recovery.")
    durability_interval_secs: Seconds = Field(10, description="Probe interval while verifying.")
    durability_window_secs: Seconds = Field(90, description="The green checks must span this long.")
    hold_secs: Seconds = Field(
        1800, description="No force-cycle or heal script after a failed recovery."
    )
    force_cycle_confirm_ticks: Count = Field(
        2, description="Unhealthy ticks needed before a force-cycle."
    )
    force_cycle_confirm_window_secs: Seconds = 420
    force_cycle_cooldown_secs: Seconds = 900
    bridge_cooldown_secs: Seconds = 300
    heal_script_cooldown_secs: Seconds = 900
    restart_cooldown_secs: Seconds = 120
    rbac_cooldown_secs: Seconds = 300
    budget_per_incident: Count = Field(3, description="Attempts of one tier-1 action per incident.")
    critical_retry_secs: Seconds = Field(
        1800, description="A critical node retries a spent tier-1 action this often (R16)."
    )
    runtime_min_uptime_secs: Seconds = Field(
        120, description="Shorter uptimes count as a VM crash."
    )
    runtime_crash_loop_cycles: Count = Field(2, description="Short uptimes in a row: crash loop.")
    worker_crash_loop_restarts: Count = Field(
        5, description="Quick worker exits before escalating."
    )
    gate_patience_secs: Seconds = Field(
        600, description="A heal blocked this long by a waiting gate escalates meanwhile."
    )
    recurrence_heals: Count = Field(
        3, description="Heals of one fault on one target within the window before it is held."
    )
    recurrence_window_secs: Seconds = Field(
        21_600, description="The recurrence breaker's window (F29)."
    )
    rbac_guard_manifest: str = Field("", description="Manifest applied on rbac_drift.")
    bridge_timeout_secs: Seconds = Field(120, description="Restarting the port forwarding.")
    force_cycle_timeout_secs: Seconds = Field(600, description="Stopping and starting the VM.")
    restart_timeout_secs: Seconds = Field(120, description="Restarting one service.")
    rbac_timeout_secs: Seconds = Field(60, description="Applying the RBAC guard manifest.")


class TalonConfig(Section):
    """Everything Talon reads: ``config.toml`` plus the probes of the services file."""

    check_interval_secs: Seconds = 60
    heal_script: str = ""
    heal_timeout_secs: Seconds = 300
    services_file: str = "services.toml"
    # "uvloop": libuv's event loop (the optional extra talon[uvloop]): about a third less
    # CPU per check in a large cycle; see docs/performance.md.
    event_loop: Literal["asyncio", "uvloop"] = "asyncio"
    worker: WorkerConfig | None = None
    escalation: EscalationConfig = EscalationConfig()
    agent: AgentConfig = AgentConfig()
    probes: ProbesConfig = ProbesConfig()
    health: HealthConfig = HealthConfig()
    runtime: RuntimeConfig = RuntimeConfig()
    process_manager: ProcessManagerConfig = ProcessManagerConfig()
    exec: ExecConfig = ExecConfig()
    bulkheads: BulkheadConfig = BulkheadConfig()
    healing: HealingConfig = HealingConfig()
    notify: NotifyConfig = NotifyConfig()
    events: EventsConfig = EventsConfig()
    secrets: SecretsConfig = SecretsConfig()
    log: LogConfig = LogConfig()
    evidence: EvidenceConfig = EvidenceConfig()
    telemetry: TelemetryConfig = TelemetryConfig()
    fleet: FleetConfig = FleetConfig()
    deadman: DeadmanConfig = DeadmanConfig()
    stack: StackConfig = StackConfig()  # a built-in stack profile (talon.config.builtins)

    @field_validator("event_loop")
    @classmethod
    def _uvloop_installed(cls, value: str) -> str:
        import importlib.util

        if value == "uvloop" and importlib.util.find_spec("uvloop") is None:
            raise ValueError(
                "uvloop is not installed: install the extra (pip install 'talon[uvloop]')"
                ' or set event_loop = "asyncio"'
            )
        return value

    @model_validator(mode="after")
    def _lab_services_need_the_lab(self) -> TalonConfig:
        if self.process_manager.kind == "lab" and self.runtime.kind != "lab":
            raise ValueError(
                "[process_manager] kind = 'lab' needs [runtime] kind = 'lab' with lab_dir"
            )
        return self

    # Not a key of config.toml: filled from the services file by the loader.
    service_probes: tuple[ProbeSpec, ...] = Field(default=(), exclude=True)
