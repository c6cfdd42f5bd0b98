"""Configuration: the original Rust Talon's two TOML files, plus Talon's additions."""

from talon.config.loader import LoadedConfig, load, parse_services
from talon.config.models import TalonConfig
from talon.config.probes import (
    EndpointSpec,
    HttpProbe,
    K8sProbe,
    ProbeSpec,
    RedisProbe,
    ScriptProbe,
    ServiceProbe,
    TcpProbe,
)

__all__ = [
    "EndpointSpec",
    "HttpProbe",
    "K8sProbe",
    "LoadedConfig",
    "ProbeSpec",
    "RedisProbe",
    "ScriptProbe",
    "ServiceProbe",
    "TalonConfig",
    "TcpProbe",
    "load",
    "parse_services",
]
