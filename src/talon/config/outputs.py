"""Talon-only sections for what leaves the node: notifications, events, secrets, logs, evidence.

Secrets are never written in these files: a value that needs one names where
it lives (``env:NAME`` or ``secret:NAME``), and the shell resolves it when it
sends (R26).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from talon.config.probe_base import check_http_url

_SECRET_REF = re.compile(r"^(env|secret):[A-Za-z_][A-Za-z0-9_.\-/]*$")


def check_secret_ref(value: str) -> str:
    if not _SECRET_REF.match(value):
        raise ValueError(
            f"must name where the secret lives, as env:NAME or secret:NAME, got {value[:4]}…; "
            "secrets are never written in the config file in clear"
        )
    return value


SecretRef = Annotated[str, AfterValidator(check_secret_ref)]
Seconds = Annotated[int, Field(ge=1, le=86_400 * 7)]
EventName = Literal["notify", "sos"]
ALL_EVENTS: tuple[EventName, ...] = ("notify", "sos")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class ChannelConfig(_Section):
    """One way to reach a human: an apprise URL, or a command that gets the message on stdin."""

    name: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
    url: str | None = Field(
        None,
        description="An apprise URL (tgram://, ntfys://, slack://, mailtos://, json:// ...); "
        "the text {secret} in it is replaced by the channel's secret when sending.",
    )
    command: list[str] | None = Field(
        None,
        description="argv run with the message on stdin and TALON_TITLE, TALON_EVENT, "
        "TALON_NODE_ID, TALON_INCIDENT in its env (e.g. osascript for iMessage).",
    )
    secret: SecretRef | None = Field(None, description="env:NAME or secret:NAME.")
    events: list[EventName] = Field(
        default_factory=lambda: list(ALL_EVENTS),
        description="Which of Talon's messages go to this channel.",
    )

    @model_validator(mode="after")
    def _one_target(self) -> ChannelConfig:
        if (self.url is None) == (self.command is None):
            raise ValueError("set exactly one of url (an apprise URL) or command (an argv)")
        if self.command is not None and not self.command:
            raise ValueError("command must not be empty")
        if self.url is not None and "{secret}" in self.url and self.secret is None:
            raise ValueError('url contains {secret} but no secret = "env:NAME" is set')
        return self


NotifyRoute = Literal["local", "alertmanager", "both"]


class NotifyConfig(_Section):
    timeout_secs: Seconds = Field(10, description="Per channel and delivery.")
    retry_secs: Seconds = Field(60, description="First retry of a failed delivery (F16).")
    retry_max_secs: Seconds = Field(3600, description="Retries back off up to this.")
    max_attempts: Annotated[int, Field(ge=1, le=100)] = 10
    channel: list[ChannelConfig] = Field(default_factory=list)
    route: NotifyRoute = Field(
        "local",
        description="Who pages: local (Talon's own channels), alertmanager (Prometheus + "
        "Alertmanager page; Talon's channels are used only while Alertmanager's /-/ready "
        "does not answer 200), or both.",
    )
    alertmanager_url: str | None = Field(
        None,
        description="Alertmanager's base URL (e.g. http://127.0.0.1:9093); its /-/ready is "
        "checked before each delivery when route = alertmanager.",
    )

    @field_validator("alertmanager_url")
    @classmethod
    def _am_url(cls, value: str | None) -> str | None:
        return None if value is None else check_http_url(value).rstrip("/")

    @model_validator(mode="after")
    def _unique_names(self) -> NotifyConfig:
        names = [c.name for c in self.channel]
        if len(set(names)) != len(names):
            raise ValueError("two channels share a name; give each [[notify.channel]] its own")
        if self.route != "local" and self.alertmanager_url is None:
            raise ValueError(
                f'route = "{self.route}" needs alertmanager_url: set [notify] alertmanager_url '
                '(e.g. "http://127.0.0.1:9093") or use route = "local"'
            )
        return self


class SinkConfig(_Section):
    url: str = Field(description="http(s) URL; {secret} is replaced by the sink's secret.")
    secret: SecretRef | None = None

    @model_validator(mode="after")
    def _http(self) -> SinkConfig:
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"url must start with http:// or https://, got {self.url!r}")
        if "{secret}" in self.url and self.secret is None:
            raise ValueError('url contains {secret} but no secret = "env:NAME" is set')
        return self


class EventsConfig(_Section):
    """CloudEvents over HTTP (structured JSON), e.g. to an Inngest event endpoint."""

    timeout_secs: Seconds = 5
    sink: list[SinkConfig] = Field(default_factory=list)


class SecretsConfig(_Section):
    command: list[str] = Field(
        default_factory=list,
        description="argv that prints one secret; the NAME of secret:NAME is appended as the "
        "last argument. Its stdout must be exactly one non-empty line.",
    )
    timeout_secs: Seconds = 10


class LogConfig(_Section):
    file: str = Field("", description="JSON-lines log; default talon.jsonl in the log directory.")
    max_bytes: Annotated[int, Field(ge=10_000, le=10**10)] = 10 * 1024 * 1024
    keep: Annotated[int, Field(ge=1, le=100)] = Field(5, description="Rotated files kept.")
    level: Literal["debug", "info", "warning", "error"] = "info"


class EvidenceConfig(_Section):
    redis_aof: str = Field(
        "",
        description="Redis's appendonlydir (or its manifest, or a single AOF file): inspected "
        "read-only with redis-check-aof when an incident involves AOF damage (R27).",
    )
    commands: dict[str, str] = Field(
        default_factory=dict,
        description="name -> read-only shell command whose output every evidence capture keeps.",
    )
    log_files: list[str] = Field(
        default_factory=list, description="Files whose tail every evidence capture keeps."
    )
    tail_lines: Annotated[int, Field(ge=1, le=10_000)] = 200
    keep_bundles: Annotated[int, Field(ge=1, le=10_000)] = Field(
        100, description="Closed incident bundles kept; the oldest are removed."
    )
