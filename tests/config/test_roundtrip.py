"""Property: whatever valid probes are written to a services file come back unchanged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tomli_w
from hypothesis import given, settings
from hypothesis import strategies as st

from talon.config import parse_services
from talon.config.models import TalonConfig

names = st.from_regex(r"[a-z][a-z0-9_]{0,15}", fullmatch=True)
ports = st.integers(1, 65535)
hosts = st.sampled_from(["127.0.0.1", "localhost", "10.0.0.5", "svc.example.internal"])
common = {
    "critical": st.booleans(),
    "critical_after_consecutive_failures": st.integers(1, 1000),
    "timeout_secs": st.floats(0.001, 3600, allow_nan=False),
    "class": st.sampled_from(["infra", "service", "app"]),
    "layer": st.sampled_from(["host", "runtime", "cluster", "service", "app"]),
    "tags": st.lists(names, max_size=3),
    "informational": st.booleans(),
    "enabled": st.booleans(),
}
endpoint = st.fixed_dictionaries(
    {"via": st.lists(st.sampled_from(["localhost", "vm"]), min_size=1, max_size=2, unique=True)},
    optional={"port": ports},
)
kinds = {
    "http": st.fixed_dictionaries(
        {"url": st.builds(lambda h, p, path: f"http://{h}:{p}/{path}", hosts, ports, names)},
        optional={
            **common,
            "expect_status": st.lists(st.integers(100, 599), min_size=1, max_size=3),
            "body_contains": st.text(min_size=1, max_size=20),
            "endpoint": endpoint,
        },
    ),
    "tcp": st.fixed_dictionaries(
        {"address": st.builds(lambda h, p: f"{h}:{p}", hosts, ports)},
        optional={**common, "endpoint": endpoint},
    ),
    "script": st.fixed_dictionaries(
        {"command": st.text(min_size=1, max_size=40).filter(str.strip)}, optional=common
    ),
    "launchd": st.fixed_dictionaries(
        {"label": st.from_regex(r"com\.[a-z]{1,8}\.[a-z]{1,8}", fullmatch=True)}, optional=common
    ),
}
services = st.fixed_dictionaries(
    {}, optional={k: st.dictionaries(names, v, max_size=3) for k, v in kinds.items()}
)


@settings(max_examples=150, deadline=None)
@given(services)
def test_services_round_trip(data: dict[str, dict[str, dict[str, Any]]]) -> None:
    text = tomli_w.dumps(data)
    probes = parse_services(text, _toml(text), Path("services.toml"), TalonConfig())
    assert {p.key for p in probes} == {f"{k}.{n}" for k, sections in data.items() for n in sections}
    for probe in probes:
        written = data[probe.kind][probe.name]
        dumped = probe.model_dump(by_alias=True, exclude_none=True)
        for key, value in written.items():
            if key == "endpoint":
                assert dumped["endpoint"]["via"] == value["via"]
            else:
                assert dumped[key] == value, key


def _toml(text: str) -> dict[str, Any]:
    import tomllib

    return tomllib.loads(text)
