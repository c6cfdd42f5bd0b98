"""Loading the two TOML files: the original format unchanged, and errors that say how to fix them.

R28 (a bad edit never silently drops probes) and R34 (unknown keys are errors;
values are range-checked, never truncated) land here.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from talon.config import HttpProbe, K8sProbe, ScriptProbe, ServiceProbe, load
from talon.config.models import TalonConfig
from talon.errors import ConfigError, ConfigProblem
from talon.node import NodeIdentity

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _write(dir: Path, config: str, services: str = "") -> Path:
    dir.mkdir(parents=True, exist_ok=True)
    (dir / "config.toml").write_text(config)
    (dir / "services.toml").write_text(services)
    return dir / "config.toml"


def _problems(path: Path, identity: NodeIdentity, **kw: object) -> list[ConfigProblem]:
    with pytest.raises(ConfigError) as info:
        load(path, identity=identity, **kw)  # type: ignore[arg-type]
    return info.value.problems


def test_reference_rust_format_loads_unchanged(tmp_path: Path, identity: NodeIdentity) -> None:
    shutil.copytree(EXAMPLES / "reference", tmp_path / "ref")
    loaded = load(tmp_path / "ref" / "config.toml", identity=identity)
    c = loaded.config
    assert (c.check_interval_secs, c.heal_timeout_secs) == (60, 300)
    assert c.worker is not None
    assert c.worker.command == ["bun", "run", "src/serve.ts"]
    assert (c.worker.port, c.worker.health_failures_before_restart) == (3111, 3)
    assert c.escalation.sos_telegram_secret_name == "telegram_bot_token"
    assert c.probes.critical_after_consecutive_failures == 2
    assert c.health.bind == "127.0.0.1:9999"
    # the services file's probes, after the original's built-ins (tests/config/test_builtins.py)
    kinds = {p.key: type(p) for p in loaded.probes[-4:]}
    assert kinds == {
        "launchd.voice_agent": ServiceProbe,
        "http.voice_agent": HttpProbe,
        "http.gateway_slack": HttpProbe,
        "script.nas_mount": ScriptProbe,
    }
    slack = next(p for p in loaded.probes if p.key == "http.gateway_slack")
    assert slack.critical_after_consecutive_failures == 3
    assert slack.timeout_secs == 5  # from [probes] service_timeout_secs


def test_documented_defaults() -> None:
    c = TalonConfig()
    assert (c.check_interval_secs, c.heal_timeout_secs, c.worker) == (60, 300, None)
    e, a, p = c.escalation, c.agent, c.probes
    assert (e.agent_cooldown_secs, e.sos_cooldown_secs, e.critical_threshold_secs) == (
        600,
        14400,
        900,
    )
    assert a.timeout_secs == 300
    assert (p.colima_timeout_secs, p.k8s_timeout_secs, p.service_timeout_secs) == (5, 10, 5)
    assert (p.critical_after_consecutive_failures, p.consecutive_failures_before_escalate) == (2, 3)
    assert (c.health.enabled, c.health.bind) == (True, "127.0.0.1:9999")
    from talon.config.models import WorkerConfig

    w = WorkerConfig()
    assert (w.drain_timeout_secs, w.health_interval_secs, w.health_failures_before_restart) == (
        5,
        30,
        3,
    )
    assert (w.restart_backoff_max_secs, w.startup_sync_delay_secs, w.http_timeout_secs) == (
        30,
        5,
        5,
    )


def test_probe_timeouts_default_from_the_probes_section(
    tmp_path: Path, identity: NodeIdentity
) -> None:
    path = _write(
        tmp_path,
        "[probes]\nservice_timeout_secs = 7\nk8s_timeout_secs = 12\n",
        '[script.a]\ncommand = "true"\n[k8s.api]\ncheck = "api"\n',
    )
    probes = {p.key: p for p in load(path, identity=identity).probes}
    assert probes["script.a"].timeout_secs == 7
    assert probes["k8s.api"].timeout_secs == 12
    assert isinstance(probes["k8s.api"], K8sProbe)
    assert (probes["k8s.api"].probe_class, probes["k8s.api"].layer) == ("infra", "cluster")


def test_unknown_key_names_file_line_and_suggestion(tmp_path: Path, identity: NodeIdentity) -> None:
    """R34: a typo is an error that says where and what was meant."""
    path = _write(tmp_path, "check_interval_secs = 30\n\n[worker]\ncommand = ['x']\nprot = 3111\n")
    [problem] = _problems(path, identity)
    assert problem.file == path
    assert problem.key == "worker.prot"
    assert problem.line == 5
    assert "did you mean 'port'" in problem.fix
    assert "config.toml:5 [worker.prot]" in problem.render()


def test_port_out_of_range_is_an_error_not_truncated(
    tmp_path: Path, identity: NodeIdentity
) -> None:
    """R34: the Rust Talon cast 70000 to u16 silently."""
    path = _write(tmp_path, "[worker]\ncommand = ['x']\nport = 70000\n")
    [problem] = _problems(path, identity)
    assert (problem.key, problem.line) == ("worker.port", 3)
    assert "65535" in problem.message


def test_wrong_type(tmp_path: Path, identity: NodeIdentity) -> None:
    path = _write(tmp_path, 'check_interval_secs = "often"\n')
    [problem] = _problems(path, identity)
    assert (problem.key, problem.line) == ("check_interval_secs", 1)
    assert "integer" in problem.message
    assert problem.fix == "write a value of the right type"


def test_every_problem_of_the_services_file_is_reported_at_once(
    tmp_path: Path, identity: NodeIdentity
) -> None:
    services = """
[http.web]
url = "htp://example"

[htp.typo]
url = "http://127.0.0.1/"

[script.s]
command = "true"
timeout_sec = 3

[tcp.t]
address = "127.0.0.1:0"

[http.e]
url = "http://127.0.0.1/"
endpoint = { via = ["dns"] }
"""
    path = _write(tmp_path, "", services)
    problems = {p.key: p for p in _problems(path, identity)}
    assert set(problems) == {
        "http.web.url",
        "htp",
        "script.s.timeout_sec",
        "tcp.t.address",
        "http.e.endpoint",
    }
    assert problems["http.web.url"].line == 3
    assert problems["http.web.url"].file == tmp_path / "services.toml"
    assert "http://" in problems["http.web.url"].message
    assert "[http.NAME]" in problems["htp"].fix
    assert "timeout_secs" in problems["script.s.timeout_sec"].fix
    assert problems["tcp.t.address"].line == 13
    assert "dns name" in problems["http.e.endpoint"].message


def test_a_section_cannot_restate_its_kind(tmp_path: Path, identity: NodeIdentity) -> None:
    path = _write(tmp_path, "", '[http.x]\nkind = "tcp"\nurl = "http://127.0.0.1/"\n')
    [problem] = _problems(path, identity)
    assert problem.key == "http.x.kind"


def test_toml_syntax_error_has_its_line(tmp_path: Path, identity: NodeIdentity) -> None:
    path = _write(tmp_path, "check_interval_secs = 60\n[worker\n")
    [problem] = _problems(path, identity)
    assert problem.line == 2
    assert "invalid TOML" in problem.message


def test_missing_files(tmp_path: Path, identity: NodeIdentity) -> None:
    [problem] = _problems(tmp_path / "nope.toml", identity)
    assert "config file not found" in problem.message
    path = _write(tmp_path, 'services_file = "elsewhere.toml"\n')
    [problem] = _problems(path, identity)
    assert problem.file == tmp_path / "elsewhere.toml"
    assert "services file not found" in problem.message
    assert "services_file" in problem.fix


def test_services_path_expands_home_and_variables(
    tmp_path: Path, identity: NodeIdentity, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TALON_TEST_SUB", "sub")
    (tmp_path / "home" / "sub").mkdir(parents=True)
    (tmp_path / "home" / "sub" / "s.toml").write_text('[script.x]\ncommand = "true"\n')
    path = _write(tmp_path / "cfg", 'services_file = "~/${TALON_TEST_SUB}/s.toml"\n')
    loaded = load(path, identity=identity)
    assert loaded.services_path == tmp_path / "home" / "sub" / "s.toml"
    assert [p.key for p in loaded.probes] == ["script.x"]


@pytest.mark.parametrize("mode", [0o664, 0o646])
def test_files_others_can_edit_are_refused(
    tmp_path: Path, identity: NodeIdentity, mode: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path, "", '[script.x]\ncommand = "true"\n')
    os.chmod(tmp_path / "services.toml", mode)
    [problem] = _problems(path, identity)
    assert "writable by group or others" in problem.message
    assert "chmod go-w" in problem.fix
    assert load(path, identity=identity, allow_insecure=True).probes
    monkeypatch.setenv("TALON_ALLOW_INSECURE_CONFIG", "1")
    assert load(path, identity=identity).probes


def test_a_bad_edit_raises_instead_of_dropping_probes(
    tmp_path: Path, identity: NodeIdentity
) -> None:
    """R28: the caller gets either a whole new config or an error; never a config with fewer probes."""
    path = _write(tmp_path, "", '[script.a]\ncommand = "true"\n[script.b]\ncommand = "true"\n')
    good = load(path, identity=identity)
    (tmp_path / "services.toml").write_text(
        '[script.a]\ncommand = "true"\n[script.b]\ncommand = \n'
    )
    with pytest.raises(ConfigError):
        load(path, identity=identity)
    assert [p.key for p in good.probes] == ["script.a", "script.b"]  # the old object is untouched


def test_static_runtime_needs_an_address(tmp_path: Path, identity: NodeIdentity) -> None:
    path = _write(tmp_path, '[runtime]\nkind = "static"\n')
    [problem] = _problems(path, identity)
    assert problem.key == "runtime"
    assert "vm_address" in problem.message


def test_all_examples_validate(tmp_path: Path, identity: NodeIdentity) -> None:
    for name in ("reference", "full"):
        shutil.copytree(EXAMPLES / name, tmp_path / name)
        load(tmp_path / name / "config.toml", identity=identity)
    shutil.copy(EXAMPLES / "config.toml", tmp_path)
    shutil.copy(EXAMPLES / "services.toml", tmp_path)
    assert load(tmp_path / "config.toml", identity=identity).probes


def test_warnings_name_what_will_not_work_as_expected(
    tmp_path: Path, identity: NodeIdentity
) -> None:
    path = _write(
        tmp_path,
        "[process_manager]\nkind = 'null'\n\n[worker]\ncommand = ['true']\n"
        "external_label = 'com.example.worker'\nenv_file = 'missing.env'\n",
        "[service.web]\nlabel = 'web'\n",
    )
    warnings = load(path, identity=identity).warnings
    assert any("missing.env" in w and "without it" in w for w in warnings), warnings
    assert any("com.example.worker" in w and "supervise the worker itself" in w for w in warnings)
    assert any("service.web" in w and "report 'unknown'" in w for w in warnings), warnings


def test_uvloop_asked_for_but_not_installed_says_how_to_get_it(
    tmp_path: Path, identity: NodeIdentity, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "uvloop" else real(name, *a)
    )
    path = _write(tmp_path, 'event_loop = "uvloop"\n')
    [problem] = _problems(path, identity)
    assert (problem.key, problem.line) == ("event_loop", 1)
    assert "pip install 'talon[uvloop]'" in problem.message
    assert 'event_loop = "asyncio"' in problem.message
    monkeypatch.undo()
    assert load(path, identity=identity).config.event_loop == "uvloop"  # installed here
    [typo] = _problems(_write(tmp_path / "b", 'event_loop = "uv"\n'), identity)
    assert typo.key == "event_loop"
    assert "'asyncio' or 'uvloop'" in typo.message


def test_uvloop_with_probes_that_run_commands_is_warned_about(
    tmp_path: Path, identity: NodeIdentity
) -> None:
    services = "[http.web]\nurl = 'http://127.0.0.1:9/'\n[script.disk]\ncommand = 'true'\n"
    on_uvloop = load(_write(tmp_path / "a", 'event_loop = "uvloop"\n', services), identity=identity)
    [warning] = [w for w in on_uvloop.warnings if "uvloop" in w]
    assert "1 probe(s) start a process every cycle (script.disk)" in warning
    stock = load(_write(tmp_path / "b", "", services), identity=identity)
    assert not [w for w in stock.warnings if "uvloop" in w]
    sockets_only = load(
        _write(tmp_path / "c", 'event_loop = "uvloop"\n', "[tcp.db]\naddress = '127.0.0.1:9'\n"),
        identity=identity,
    )
    assert not [w for w in sockets_only.warnings if "uvloop" in w]
