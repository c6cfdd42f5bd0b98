"""The worker's env: [worker] env, the env file, then secrets leased through the FAKE `secrets`."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from talon.actions.secrets import Secrets
from talon.adapters.process import NullProcessManager
from talon.config.loader import load
from talon.config.models import ORIGINAL_WORKER_SECRETS, WorkerConfig
from talon.config.outputs import SecretsConfig
from talon.errors import ConfigError
from talon.node import NodeIdentity
from talon.supervisor.worker import WorkerSupervisor
from talon.supervisor.workerenv import build_env
from tests.actions.fake_sos import FakeSosTools
from tests.supervisor.test_worker import _config, _until
from tests.support.procs import free_port

EXAMPLES = Path(__file__).parents[2] / "examples"
VALUE = "tok-3f9a1c"  # what the fake store holds: must never be logged


class Said:
    """Records the supervisor's log lines."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, dict[str, Any]]] = []

    def info(self, event: str, **fields: Any) -> None:
        self.lines.append((event, fields))


def _fakes(tmp_path: Path) -> tuple[FakeSosTools, dict[str, str]]:
    fakes = FakeSosTools(tmp_path / "fakes")
    fakes.set_state({"secrets": {"api_token": VALUE}})
    return fakes, {**os.environ, **fakes.env}


def test_env_layers_env_then_env_file_then_leases_and_skips_a_failed_lease(
    tmp_path: Path,
) -> None:
    fakes, env = _fakes(tmp_path)
    (tmp_path / "worker.env").write_text("FROM_FILE=1\nAPI_TOKEN=from-file\nWORKER_ROLE=file\n")
    config = WorkerConfig(
        command=["true"],
        env={"WORKER_ROLE": "host", "ROLE_ONLY": "x"},
        env_file=str(tmp_path / "worker.env"),
        secrets={"API_TOKEN": "api_token", "MISSING_TOKEN": "not_stored"},
    )
    secrets = Secrets(SecretsConfig(timeout_secs=5), env)
    built, failed = asyncio.run(build_env(config, env, secrets))
    assert built["API_TOKEN"] == VALUE  # the lease wins over the env file
    assert (built["WORKER_ROLE"], built["ROLE_ONLY"], built["FROM_FILE"]) == ("file", "x", "1")
    assert "MISSING_TOKEN" not in built  # skipped, as the original did
    assert [(f.env, f.secret) for f in failed] == [("MISSING_TOKEN", "not_stored")]
    assert "not_stored" in failed[0].error
    assert "secrets add" in failed[0].error
    assert sorted(fakes.calls()) == [  # leased at once: in any order
        ["secrets", "lease", "api_token", "--ttl", "24h"],
        ["secrets", "lease", "not_stored", "--ttl", "24h"],
    ]
    assert VALUE in secrets.known_values()  # masked wherever Talon redacts


def test_a_real_worker_gets_a_leased_secret_and_a_failed_lease_is_logged(
    tmp_path: Path,
) -> None:
    _, env = _fakes(tmp_path)
    port = free_port()
    script = f'echo "token=$API_TOKEN role=$WORKER_ROLE"; exec {sys.executable} -m talon.lab.worker --port {port}'
    config = _config(
        tmp_path,
        port,
        command=["sh", "-c", script],
        env={"WORKER_ROLE": "host"},
        secrets={"API_TOKEN": "api_token", "GONE": "gone_secret"},
        log_stdout=str(tmp_path / "out.log"),
    )
    said = Said()

    async def main() -> dict[str, Any]:
        sup = WorkerSupervisor(
            config,
            env=env,
            process_manager=NullProcessManager,
            log_dir=tmp_path / "log",
            log=said,
            secrets=Secrets(SecretsConfig(timeout_secs=5), env),
        )
        task = asyncio.create_task(sup.run())
        try:
            await _until("healthy", lambda: sup.health["ok"])
            return sup.status()
        finally:
            await sup.shutdown()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    status = asyncio.run(main())
    assert f"token={VALUE} role=host" in (tmp_path / "out.log").read_text()
    assert [(m["env"], m["secret"]) for m in status["secrets_not_leased"]] == [
        ("GONE", "gone_secret")
    ]
    failures = [fields for event, fields in said.lines if event == "worker.secret_not_leased"]
    assert [(f["env"], f["secret"]) for f in failures] == [("GONE", "gone_secret")]
    assert "gone_secret" in failures[0]["error"]
    assert VALUE not in repr(said.lines)
    assert VALUE not in repr(status)


def test_an_original_format_config_gets_the_originals_worker_env_and_secrets(
    tmp_path: Path, identity: NodeIdentity
) -> None:
    shutil.copytree(EXAMPLES / "reference", tmp_path / "ref")
    worker = load(tmp_path / "ref" / "config.toml", identity=identity).config.worker
    assert worker is not None
    assert worker.env == {"WORKER_ROLE": "host"}
    assert worker.secrets == dict(ORIGINAL_WORKER_SECRETS)
    assert worker.secrets["CLAUDE_CODE_OAUTH_TOKEN"] == "claude_oauth_token"
    assert len(worker.secrets) == 7


def test_a_talon_config_sets_its_own_and_bad_env_names_are_refused(
    tmp_path: Path, identity: NodeIdentity
) -> None:
    path = tmp_path / "config.toml"
    (tmp_path / "services.toml").write_text("")
    path.write_text('[worker]\ncommand = ["w"]\n[worker.secrets]\nAPI_TOKEN = "api_token"\n')
    worker = load(path, identity=identity).config.worker
    assert worker is not None
    assert (worker.secrets, worker.env) == ({"API_TOKEN": "api_token"}, {})
    path.write_text('[worker]\ncommand = ["w"]\n[worker.secrets]\n"1-BAD" = "api_token"\n')
    with pytest.raises(ConfigError, match="secrets"):
        load(path, identity=identity)
