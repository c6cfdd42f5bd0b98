"""Configuration: the original Rust Talon's two TOML files, plus Talon's additions."""

from talon.config.loader import LoadedConfig, load, parse_services
from talon.config.models import TalonConfig
from talon.config.probes import (
    ContainerProbe,
    EndpointSpec,
    HttpProbe,
    K8sProbe,
    ProbeSpec,
    RedisProbe,
    RuntimeProbe,
    ScriptProbe,
    ServiceProbe,
    TcpProbe,
)

__all__ = [
    "ContainerProbe",
    "EndpointSpec",
    "HttpProbe",
    "K8sProbe",
    "LoadedConfig",
    "ProbeSpec",
    "RedisProbe",
    "RuntimeProbe",
    "ScriptProbe",
    "ServiceProbe",
    "TalonConfig",
    "TcpProbe",
    "load",
    "parse_services",
]
