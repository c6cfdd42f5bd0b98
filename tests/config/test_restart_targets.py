"""What a failing probe restarts, as the original Talon chose it (issue 20 point 4):
``http.X`` restarts the label of the service probe of the same name (``launchd.X``), a
service probe its own label, an explicit ``restart`` key its target; a script (or any
other probe) restarts nothing and escalates, so a label that does not exist never
becomes a "failed recovery" and a hold (REGRESSIONS R15's class)."""

from __future__ import annotations

import shutil
from pathlib import Path

from talon.capabilities import ALL, NONE
from talon.config import load
from talon.core import ActionKind, NodeState
from talon.core_config import core_config
from talon.errors import ErrorKind
from talon.node import NodeIdentity
from tests.core.sim import Sim, config, down, policy, result

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


class _Adapter:
    def __init__(self, name: str, can: frozenset[object]) -> None:
        self.name = name
        self.capabilities = can


def test_the_reference_config_restarts_what_the_original_did(
    tmp_path: Path, identity: NodeIdentity
) -> None:
    shutil.copytree(EXAMPLES / "reference", tmp_path / "ref")
    loaded = load(tmp_path / "ref" / "config.toml", identity=identity)
    cfg = core_config(loaded.config, "n1", _Adapter("null", NONE), _Adapter("launchd", ALL))  # type: ignore[arg-type]
    targets = {key: p.restart_target for key, p in cfg.probes.items()}
    assert targets["launchd.voice_agent"] == "com.example.voice-agent"
    assert targets["http.voice_agent"] == "com.example.voice-agent"  # launchd.X's label
    assert targets["http.gateway_slack"] is None  # no service of that name: nothing
    assert targets["script.nas_mount"] is None  # a script never restarts anything


def test_an_explicit_restart_key_names_the_target(tmp_path: Path, identity: NodeIdentity) -> None:
    (tmp_path / "config.toml").write_text('services_file = "services.toml"\n')
    (tmp_path / "services.toml").write_text(
        '[script.nas_mount]\ncommand = "true"\nrestart = "com.example.nas-mounter"\n'
        '[tcp.db]\naddress = "127.0.0.1:5432"\nservice = "postgresql"\n'
    )
    loaded = load(tmp_path / "config.toml", identity=identity)
    cfg = core_config(loaded.config, "n1", _Adapter("null", NONE), _Adapter("systemd", ALL))  # type: ignore[arg-type]
    assert cfg.probes["script.nas_mount"].restart_target == "com.example.nas-mounter"
    assert cfg.probes["tcp.db"].restart_target == "postgresql"


def test_a_probe_with_no_restart_target_escalates_and_never_holds() -> None:
    sim = Sim(config(policy("script.nas_mount", restart_target=None), critical_threshold_secs=900))
    for _ in range(100):
        sim.tick(down("script.nas_mount", ErrorKind.EXIT_CODE))
    assert not sim.kinds(ActionKind.RESTART_SERVICE)
    assert sim.kinds(ActionKind.AGENT_CLOUD)
    assert sim.kinds(ActionKind.SOS)  # a human hears of it at the threshold
    assert sim.state.hold is None
    assert sim.state.failed_recovery_at is None
    assert sim.state.node is not NodeState.HOLD
    incident = sim.state.incident
    assert incident is not None
    (why,) = [d.reason for d in incident.trail if d.rule == "no_heal"]
    assert 'names no service to restart (add restart = "LABEL"' in why


def test_a_passing_probe_beside_it_is_not_blamed() -> None:
    sim = Sim(config(policy("script.nas_mount", restart_target=None), policy("http.web")))
    sim.tick(down("script.nas_mount", ErrorKind.EXIT_CODE), result("http.web"))
    assert sim.heals() == []


def test_an_original_format_config_keeps_the_originals_rules(
    tmp_path: Path, identity: NodeIdentity
) -> None:
    """Its scripts pass on exit 0 and fail on anything else, and its /health answers 200
    always (its gateway heartbeat reads the body); a Talon-format config keeps Talon's."""
    shutil.copytree(EXAMPLES / "reference", tmp_path / "ref")
    loaded = load(tmp_path / "ref" / "config.toml", identity=identity)
    scripts = {p.key: p for p in loaded.probes if p.kind == "script"}
    assert scripts["script.nas_mount"].exit_codes == "zero_ok"  # type: ignore[union-attr]
    assert loaded.config.health.unhealthy_status == 200
    assert loaded.config.agent.prompt_via == "stdin"  # its `pi -p` reads the prompt there
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "config.toml").write_text('services_file = "services.toml"\n')
    (tmp_path / "mine" / "services.toml").write_text('[script.x]\ncommand = "true"\n')
    mine = load(tmp_path / "mine" / "config.toml", identity=identity)
    assert mine.probes[0].exit_codes == "nagios"  # type: ignore[union-attr]
    assert mine.config.health.unhealthy_status == 503
    assert mine.config.agent.prompt_via == "argument"
