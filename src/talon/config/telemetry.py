"""Talon-only ``[telemetry]``: OpenTelemetry traces over OTLP/HTTP (the ``otel`` extra).

Off unless asked for: an ``otlp_endpoint``, or ``enabled = true`` to take the
endpoint from the standard ``OTEL_EXPORTER_OTLP_*`` variables. See
``docs/telemetry.md``.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from talon.config.outputs import SecretRef
from talon.config.probes import check_http_url

_HEADER = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")  # an HTTP token (RFC 9110)


class TelemetryConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    enabled: bool | None = Field(
        None,
        description="Send traces. Default: on when otlp_endpoint is set. true without an "
        "otlp_endpoint takes OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT "
        "from the environment (else http://localhost:4318); false turns tracing off.",
    )
    otlp_endpoint: str = Field(
        "",
        description="The collector's OTLP/HTTP address, e.g. http://127.0.0.1:4318; "
        "/v1/traces is appended unless the URL already ends with it.",
    )
    service_name: Annotated[str, Field(min_length=1, max_length=128)] = Field(
        "talon", description="The service.name resource attribute."
    )
    timeout_secs: Annotated[int, Field(ge=1, le=300)] = Field(
        10, description="Bound of one export (retries included) and of the flush at shutdown."
    )
    headers: dict[str, SecretRef] = Field(
        default_factory=dict,
        description="Header name -> env:NAME or secret:NAME, sent with every export "
        "(e.g. Authorization = \"env:OTLP_AUTH\" holding 'Bearer ...'). Empty: the "
        "exporter reads OTEL_EXPORTER_OTLP_HEADERS.",
    )
    probe_events: Literal["failing", "all", "none"] = Field(
        "failing",
        description="Which probe results become events on the cycle span: the failing ones "
        "(default), all of them, or none.",
    )

    @property
    def active(self) -> bool:
        return self.enabled if self.enabled is not None else bool(self.otlp_endpoint)

    @field_validator("otlp_endpoint")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return check_http_url(value) if value else value

    @field_validator("headers")
    @classmethod
    def _header_names(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [name for name in value if not _HEADER.match(name)]
        if bad:
            raise ValueError(f"not a valid HTTP header name: {bad[0]!r}")
        return value
