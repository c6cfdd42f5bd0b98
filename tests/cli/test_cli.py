"""The ``talon`` command, run as a real process: exit codes and JSON schema (R33)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.support import procs


def talon(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "TALON_CONFIG"}
    return procs.talon_cli(*args, env=env, cwd=cwd)


def _config(tmp_path: Path, services: str, config: str = "") -> Path:
    (tmp_path / "config.toml").write_text(config)
    (tmp_path / "services.toml").write_text(services)
    return tmp_path / "config.toml"


def _schema() -> dict[str, Any]:
    text = resources.files("talon").joinpath("schemas/check.schema.json").read_text()
    return json.loads(text)  # type: ignore[no-any-return]


@pytest.fixture
def mixed(tmp_path: Path, farm: tuple[str, int]) -> Path:
    port2 = procs.free_port("127.0.0.2")
    return _config(
        tmp_path,
        f"""
[http.up]
url = "http://127.0.0.1:{farm[1]}/health"
body_contains = "ok"
critical = true
[http.slow]
url = "http://127.0.0.1:{farm[1]}/hang"
timeout_secs = 0.5
[script.warn]
command = "echo almost full; exit 1"
[tcp.split]
address = "127.0.0.1:{port2}"
endpoint = {{ via = ["localhost", "vm"] }}
[launchd.agent]
label = "com.example.agent"
enabled = false
""",
        '[runtime]\nkind = "static"\nvm_address = "127.0.0.2"\n',
    )


def test_check_json_follows_the_documented_schema(mixed: Path) -> None:
    done = talon("--config", str(mixed), "check", "--json")
    report = json.loads(done.stdout)
    jsonschema.validate(report, _schema())
    assert done.returncode == report["exit_code"] == 1  # failures, none of them critical
    probes = {p["key"]: p for p in report["probes"]}
    assert probes["http.up"]["passed"]
    assert probes["http.slow"]["error_kind"] == "timeout"
    assert probes["script.warn"]["status"] == "warning"
    assert probes["launchd.agent"]["status"] == "skipped"
    assert [p["path_class"] for p in probes["tcp.split"]["paths"]] == ["localhost", "vm"]
    assert report["summary"]["total"] == 5


def test_check_on_uvloop_reports_what_it_reports_on_asyncio(mixed: Path) -> None:
    def outcome(config: Path) -> tuple[int, dict[str, tuple[str, str | None]]]:
        done = talon("--config", str(config), "check", "--json")
        report = json.loads(done.stdout)
        return done.returncode, {p["key"]: (p["status"], p["error_kind"]) for p in report["probes"]}

    text = mixed.read_text()
    mixed.write_text('event_loop = "uvloop"\n' + text)
    on_uvloop = outcome(mixed)
    mixed.write_text(text)
    assert on_uvloop == outcome(mixed)
    assert on_uvloop[1]["script.warn"] == ("warning", "exit_code")  # a child reaped by libuv


def test_check_exit_codes(tmp_path: Path, farm: tuple[str, int]) -> None:
    (tmp_path / "a").mkdir()
    ok = _config(tmp_path / "a", f'[http.up]\nurl = "http://127.0.0.1:{farm[1]}/ok"\n')
    assert talon("-c", str(ok), "check").returncode == 0
    (tmp_path / "b").mkdir()
    crit = _config(
        tmp_path / "b", f'[http.down]\nurl = "http://127.0.0.1:{farm[1]}/fail"\ncritical = true\n'
    )
    done = talon("-c", str(crit), "check")
    assert done.returncode == 2
    assert "http.down" in done.stdout
    assert "HTTP 500" in done.stdout


def test_check_only_selects_probes(mixed: Path) -> None:
    done = talon("-c", str(mixed), "check", "--json", "--only", "http.up")
    assert [p["key"] for p in json.loads(done.stdout)["probes"]] == ["http.up"]
    assert done.returncode == 0
    bad = talon("-c", str(mixed), "check", "--only", "http.nope")
    assert bad.returncode == 2
    assert "no such probe" in bad.stderr


def test_invalid_config_exits_2_with_a_clear_error(tmp_path: Path) -> None:
    path = _config(tmp_path, '[http.x]\nurl = "http://127.0.0.1:99999/"\n')
    done = talon("-c", str(path), "check")
    assert done.returncode == 2
    assert f"{tmp_path / 'services.toml'}:2 [http.x.url]" in done.stderr
    assert "fix:" in done.stderr


def test_validate_summary_and_errors(tmp_path: Path, mixed: Path) -> None:
    done = talon("-c", str(mixed), "validate")
    assert done.returncode == 0
    summary = json.loads(done.stdout)
    assert summary["ok"] is True
    assert summary["probes"]["by_kind"] == {"http": 2, "launchd": 1, "script": 1, "tcp": 1}
    assert summary["files"]["services"] == str(mixed.parent / "services.toml")
    (tmp_path / "bad").mkdir()
    bad = _config(tmp_path / "bad", "", "[worker]\nprot = 1\n")
    done = talon("-c", str(bad), "validate")
    assert done.returncode == 1
    errors = json.loads(done.stdout)["errors"]
    assert errors[0]["key"] == "worker.prot"
    assert errors[0]["line"] == 2
    assert "port" in errors[0]["fix"]


def test_config_and_dry_run_print_the_effective_configuration(mixed: Path) -> None:
    shown = talon("-c", str(mixed), "config")
    assert shown.returncode == 0
    data = json.loads(shown.stdout)
    assert data["probes"]["service_timeout_secs"] == 5
    assert {p["name"] for p in data["services"]} == {"up", "slow", "warn", "split", "agent"}
    assert data["runtime"]["vm_address"] == "127.0.0.2"
    assert json.loads(talon("-c", str(mixed), "--dry-run").stdout) == data


def test_insecure_config_is_refused_unless_allowed(tmp_path: Path) -> None:
    path = _config(tmp_path, '[script.x]\ncommand = "true"\n')
    os.chmod(path, 0o666)
    done = talon("-c", str(path), "check")
    assert done.returncode == 2
    assert "writable by group or others" in done.stderr
    assert talon("-c", str(path), "--allow-insecure-config", "check").returncode == 0


def test_cli_start_up_imports_nothing_heavy() -> None:
    """--help must stay fast: pydantic, rich, redis and httptools load only when a command needs them."""
    code = (
        "import sys, talon.cli.main; "
        "print([m for m in ('pydantic', 'rich', 'redis', 'httptools', 'platformdirs') if m in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_every_inject_verb_the_cli_offers_exists_and_names_its_fault_row() -> None:
    from talon.cli.lab import _linux_verbs, _verbs
    from talon.cli.main import FAULTS

    assert set(_verbs()) | set(_linux_verbs()) == set(FAULTS)
    assert set(_linux_verbs()) - set(_verbs()) == {"container-unhealthy"}  # no VM lab has one
    assert sorted(FAULTS.values(), key=lambda row: int(row[1:])) == [
        "F1", "F2", "F3", "F4", "F5", "F6", "F10", "F11", "F12", "F17", "F19", "F19", "F21", "F31"
    ]  # fmt: skip
