"""``[fleet]`` and ``[deadman]`` in config.toml: defaults, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from talon.config import load
from talon.errors import ConfigError, ConfigProblem
from talon.node import NodeIdentity


def _load_problems(tmp_path: Path, identity: NodeIdentity, config: str) -> list[ConfigProblem]:
    path = tmp_path / "config.toml"
    path.write_text(config)
    (tmp_path / "services.toml").write_text("")
    with pytest.raises(ConfigError) as info:
        load(path, identity=identity)
    return info.value.problems


def test_defaults(tmp_path: Path, identity: NodeIdentity) -> None:
    (tmp_path / "config.toml").write_text("")
    (tmp_path / "services.toml").write_text("")
    config = load(tmp_path / "config.toml", identity=identity).config
    assert config.fleet.peers == []
    assert (config.fleet.timeout_secs, config.fleet.stale_after_secs) == (3.0, None)
    assert config.fleet.include_self
    d = config.deadman
    assert d.url is None
    assert (d.send_start, d.timeout_secs, d.min_interval_secs) == (True, 5, 30)
    assert d.fail_when == ["failed recovery", "degraded hold"]


def test_a_full_fleet_section_loads(tmp_path: Path, identity: NodeIdentity) -> None:
    (tmp_path / "config.toml").write_text(
        "[fleet]\ntimeout_secs = 2.5\nstale_after_secs = 180\ninclude_self = false\n\n"
        '[[fleet.peers]]\nname = "hub"\nurl = "http://10.0.0.5:9999/health"\n'
        'token = "env:HUB_TOKEN"\ntimeout_secs = 1\n\n'
        '[[fleet.peers]]\nname = "nas-box"\nurl = "https://nas.example.org/health"\n\n'
        '[deadman]\nurl = "env:TALON_DEADMAN_URL"\nfail_when = ["recovering", "failed recovery"]\n'
        "min_interval_secs = 0\n"
    )
    (tmp_path / "services.toml").write_text("")
    config = load(tmp_path / "config.toml", identity=identity).config
    hub, nas = config.fleet.peers
    assert (hub.name, hub.token, hub.timeout_secs) == ("hub", "env:HUB_TOKEN", 1)
    assert (nas.token, nas.timeout_secs) == (None, None)
    assert config.deadman.url == "env:TALON_DEADMAN_URL"


def test_two_peers_with_one_name_are_refused_naming_the_key(
    tmp_path: Path, identity: NodeIdentity
) -> None:
    [problem] = _load_problems(
        tmp_path,
        identity,
        '[[fleet.peers]]\nname = "a"\nurl = "http://127.0.0.5:1/health"\n'
        '[[fleet.peers]]\nname = "b"\nurl = "http://127.0.0.6:1/health"\n'
        '[[fleet.peers]]\nname = "a"\nurl = "http://127.0.0.7:1/health"\n',
    )
    assert problem.key == "fleet.peers"
    assert "peers 1 and 3 are both named 'a'" in problem.message
    assert "give each [[fleet.peers]] its own name" in problem.message
    assert problem.line == 1
    assert problem.file == tmp_path / "config.toml"


@pytest.mark.parametrize(
    ("peer", "key", "said"),
    [
        ('name = "a"\nurl = "ftp://h/health"', "fleet.peers.0.url", "http:// or https://"),
        ('name = "a"\nurl = "http:///health"', "fleet.peers.0.url", "has no host"),
        ('name = "a"\nurl = "http://bad host/health"', "fleet.peers.0.url", "not a valid host"),
        ('name = "a"\nurl = "http://h:99999/health"', "fleet.peers.0.url", "out of range"),
        ('name = "a b"\nurl = "http://h/health"', "fleet.peers.0.name", "pattern"),
        ('name = "a"\nurl = "http://h/"\ntoken = "s3cr3t"', "fleet.peers.0.token", "env:NAME"),
        (
            'name = "a"\nurl = "http://h/"\ntimeout_secs = 0',
            "fleet.peers.0.timeout_secs",
            "greater than 0",
        ),
        ('url = "http://h/"', "fleet.peers.0.name", "missing"),
        ('name = "a"\nurl = "http://h/"\ntokn = "env:X"', "fleet.peers.0.tokn", "unknown key"),
    ],
)
def test_bad_peers_are_refused_naming_the_key(
    tmp_path: Path, identity: NodeIdentity, peer: str, key: str, said: str
) -> None:
    [problem] = _load_problems(tmp_path, identity, f"[[fleet.peers]]\n{peer}\n")
    assert problem.key == key
    assert said in problem.message


def test_a_token_written_in_clear_is_never_echoed(tmp_path: Path, identity: NodeIdentity) -> None:
    [problem] = _load_problems(
        tmp_path,
        identity,
        '[[fleet.peers]]\nname = "a"\nurl = "http://h/"\ntoken = "hunter2-very-secret"\n',
    )
    assert "very-secret" not in problem.render()


@pytest.mark.parametrize(
    ("deadman", "key", "said"),
    [
        ('url = "hc-ping.com/uuid-1234"', "deadman.url", "http:// or https://"),
        ('url = "env:"', "deadman.url", "env:NAME"),
        ('fail_when = ["stable"]', "deadman.fail_when.0", "recovering"),
        ("min_interval_secs = -1", "deadman.min_interval_secs", "greater than or equal to 0"),
        ("timeout_secs = 0", "deadman.timeout_secs", "greater than or equal to 1"),
    ],
)
def test_bad_deadman_settings_are_refused(
    tmp_path: Path, identity: NodeIdentity, deadman: str, key: str, said: str
) -> None:
    [problem] = _load_problems(tmp_path, identity, f"[deadman]\n{deadman}\n")
    assert problem.key == key
    assert said in problem.message


def test_a_bad_deadman_url_is_never_echoed(tmp_path: Path, identity: NodeIdentity) -> None:
    [problem] = _load_problems(
        tmp_path, identity, '[deadman]\nurl = "ftp://hc-ping.com/5f1b2c7e-0000-4000-8000-1234"\n'
    )
    assert "5f1b2c7e" not in problem.render()
