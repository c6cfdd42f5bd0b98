"""Secrets never printed (issue 21, point 4): `talon config`, `validate`, config errors and
the status view mask tokens, passwords and query secrets; a bind on the network needs a
token at load, so `talon run` exits 2 instead of restarting a dead web server forever.

Also point 5's warning: a config too large for its interval says so, with the figure."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from talon.cli.main import cli
from talon.config import load
from talon.config.warnings import cycle_estimate
from talon.core.model import CoreState
from talon.errors import ConfigError
from talon.node import NodeIdentity
from talon.redact import redact_config, redact_text
from talon.status_view import status_view
from tests.support import procs

# every secret string that must never appear in any output
SECRETS = (
    "123456789:TgBotTokenValue",  # tgram://BOTTOKEN/CHAT
    "DiscordWebhookTok",
    "SlackTokB",
    "gotifyAppTok",
    "ntfyTopicSecret",
    "hunter2pass",  # https://user:PASS@host
    "bearerTok77",  # https://TOKEN@host
    "qTokenVal",  # ?token=
    "qKeyVal",  # ?key=
    "qPassVal",  # ?password=
    "qSecretVal",  # ?secret=
    "qApiKeyVal",  # ?api_key=
    "redisPw99",  # redis://:PW@host
    "workerEnvSecret",  # [worker] env API_TOKEN = "..."
)

CONFIG = """\
check_interval_secs = 60

[worker]
command = ["sh", "-c", "redis-cli -u redis://:redisPw99@127.0.0.1:6379 ping"]
env = { API_TOKEN = "workerEnvSecret", ROLE = "host" }

[health]
bind = "127.0.0.1:9999"
token = "env:TALON_HEALTH_TOKEN"

[[notify.channel]]
name = "tg"
url = "tgram://123456789:TgBotTokenValue/-1001234"

[[notify.channel]]
name = "discord"
url = "discord://111222/DiscordWebhookTok"

[[notify.channel]]
name = "slack"
url = "slack://SlackTokA/SlackTokB/SlackTokC/#ops"

[[notify.channel]]
name = "gotify"
url = "gotify://push.example.org/gotifyAppTok"

[[notify.channel]]
name = "ntfy"
url = "ntfys://ntfy.example.org/ntfyTopicSecret"

[[notify.channel]]
name = "hook"
url = "json://ops:hunter2pass@hooks.example.org/in?token=qTokenVal"
"""

SERVICES = """\
[http.auth]
url = "https://ops:hunter2pass@api.example.org/health?token=qTokenVal&key=qKeyVal"

[http.lone]
url = "https://bearerTok77@api.example.org/ping?password=qPassVal&secret=qSecretVal"

[http.apikey]
url = "http://127.0.0.1:8080/health?api_key=qApiKeyVal&verbose=1"

[script.cache]
command = "redis-cli -u redis://:redisPw99@10.0.0.5:6379 ping"
"""


def _files(root: Path, config: str = CONFIG, services: str = SERVICES) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.toml").write_text(config)
    (root / "services.toml").write_text(services)
    return root / "config.toml"


def _no_secret(text: str) -> None:
    leaked = [s for s in SECRETS if s in text]
    assert not leaked, f"printed: {leaked}\n{text}"


def _invoke(path: Path, command: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "TALON_CONFIG"}
    done = CliRunner().invoke(cli, ["-c", str(path), command], env=env, catch_exceptions=False)
    return done.output


def test_talon_config_and_validate_print_no_secret(tmp_path: Path) -> None:
    path = _files(tmp_path)
    shown = _invoke(path, "config")
    _no_secret(shown)
    data = json.loads(shown)
    # what is not a secret stays readable: hosts, references, ordinary values
    assert data["health"]["token"] == "env:TALON_HEALTH_TOKEN"
    assert data["worker"]["env"]["ROLE"] == "host"
    urls = {c["name"]: c["url"] for c in data["notify"]["channel"]}
    assert urls["gotify"] == "gotify://push.example.org/***"
    assert urls["tg"] == "tgram://***"
    assert urls["hook"].startswith("json://ops:***@hooks.example.org/in?token=***")
    http = {p["name"]: p["url"] for p in data["services"] if p["kind"] == "http"}
    assert http["apikey"] == "http://127.0.0.1:8080/health?api_key=***&verbose=1"
    _no_secret(_invoke(path, "validate"))


@pytest.mark.parametrize(
    ("config", "services"),
    [
        # a bad value next to the secrets (timeout is not a number), and a bad URL itself
        (CONFIG, SERVICES.replace("[http.apikey]\n", '[http.apikey]\ntimeout_secs = "x"\n')),
        (CONFIG.replace('url = "tgram://', 'url = 17\nx = "tgram://'), SERVICES),
        (CONFIG, SERVICES.replace("https://ops:", "ftp://ops:")),
        (
            CONFIG,
            SERVICES
            + '[http.bad]\nurl = "https://ops:hunter2pass@h.example.org:99999/?token=qTokenVal"\n',
        ),
    ],
)
def test_a_config_error_next_to_secrets_prints_none(
    tmp_path: Path, identity: NodeIdentity, config: str, services: str
) -> None:
    path = _files(tmp_path, config, services)
    with pytest.raises(ConfigError) as err:
        load(path, identity=identity)
    _no_secret(str(err.value))
    _no_secret(json.dumps([p.as_dict() for p in err.value.problems]))
    _no_secret(_invoke(path, "validate"))  # its JSON on stdout and its lines on stderr


def test_the_status_view_shows_no_secret(tmp_path: Path, identity: NodeIdentity) -> None:
    said = "curl: (22) https://ops:hunter2pass@api.example.org/?token=qTokenVal returned 500"
    probe = {
        "key": "script.cache",
        "kind": "script",
        "layer": "service",
        "class": "service",
        "status": "critical",
        "message": said,
        "paths": [{"path_class": "localhost", "target": "x", "ok": False, "message": said}],
    }
    report = {"started_at": 1.0, "finished_at": 2.0, "probes": [probe]}
    view = status_view(
        CoreState(), report, identity, 3.0, warnings=["tgram://123456789:TgBotTokenValue/1"]
    )
    shown = json.dumps(view)
    _no_secret(shown)
    assert "api.example.org" in shown  # the rest of the message stays


def test_redaction_masks_userinfo_query_secrets_and_apprise_tokens() -> None:
    cases = {
        "redis://:redisPw99@10.0.0.5:6379/0": "redis://:***@10.0.0.5:6379/0",
        "https://bearerTok77@h.example.org/": "https://***@h.example.org/",
        "discord://111222/DiscordWebhookTok": "discord://***",
        "http://h/x?a=1&token=qTokenVal&b=2": "http://h/x?a=1&token=***&b=2",
        "https://hooks.slack.com/services/T0/B0/SlackTokB": "https://hooks.slack.com/services/***",
        "ssh://deploy@host.example.org": "ssh://deploy@host.example.org",  # a user, no secret
    }
    assert {t: redact_text(t) for t in cases} == cases
    # a reference names where a secret lives: it stays; a literal under a secret key does not
    assert redact_config({"token": "env:X", "password": "lit3ral"}) == {
        "token": "env:X",
        "password": "***",
    }


BIND = '[health]\nbind = "0.0.0.0:9999"\n'


def test_a_network_bind_without_a_token_is_a_config_error(
    tmp_path: Path, identity: NodeIdentity
) -> None:
    path = _files(tmp_path, BIND, "")
    with pytest.raises(ConfigError) as err:
        load(path, identity=identity)
    [problem] = err.value.problems
    assert (problem.file, problem.key, problem.line) == (path, "health.token", 1)
    assert "0.0.0.0:9999" in problem.message
    assert 'token = "env:TALON_HEALTH_TOKEN"' in problem.message
    assert "127.0.0.1" in problem.message
    # with a token, on loopback, or with the server off, it loads
    for fixed in (
        BIND + 'token = "env:T"\n',
        '[health]\nbind = "[::1]:9999"\n',
        BIND + "enabled = false\n",
    ):
        load(_files(tmp_path, fixed, ""), identity=identity)


def test_talon_run_exits_2_at_start_on_a_network_bind_without_a_token(tmp_path: Path) -> None:
    path = _files(tmp_path, BIND, "")
    env = {
        **{k: v for k, v in os.environ.items() if k != "TALON_CONFIG"},
        "HOME": str(tmp_path),
        "TALON_STATE_DIR": str(tmp_path / "state"),
        "TALON_LOG_DIR": str(tmp_path / "log"),
    }
    done = procs.talon_cli("-c", str(path), "run", env=env)
    assert done.returncode == 2, done.stderr
    assert "[health.token]" in done.stderr
    assert "Traceback" not in done.stderr


def test_validate_warns_when_a_cycle_cannot_fit_its_interval(
    tmp_path: Path, identity: NodeIdentity
) -> None:
    many = "".join(f'[script.s{i}]\ncommand = "true"\ntimeout_secs = 5\n' for i in range(40))
    config = "check_interval_secs = 5\n[bulkheads]\nservice = 10\n"
    loaded = load(_files(tmp_path, config, many), identity=identity)
    cpu, hung = cycle_estimate(loaded.config)
    assert hung == 20  # 40 probes through 10 slots: 4 waves of 5 s
    [said] = [w for w in loaded.warnings if "queue behind the [bulkheads]" in w]
    assert "about 20 s" in said
    assert "check_interval_secs = 5" in said
    assert cpu < 1  # 40 scripts are no CPU problem
    assert not any("of CPU per cycle" in w for w in loaded.warnings)
    # with the default slots nothing queues: no warning
    fine = load(_files(tmp_path, "check_interval_secs = 5\n", many), identity=identity)
    assert not any("queue behind" in w for w in fine.warnings)
