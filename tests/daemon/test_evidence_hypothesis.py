"""A failed recovery's bundle and notice name seed 004's hypothesis (issue 19 point 8).

Real probes (a listener on the VM's address 127.0.0.7, nothing on localhost: a dead
forward), the real core through a failed recovery, the real executor keeping the
evidence and sending the notice to a real command channel that writes its stdin to a
file. Only the heal is scripted: a static VM has no forwarding to restart."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import structlog

from talon.actions.outcome import DONE, Outcome
from talon.capabilities import Capability
from talon.config import load
from talon.core import Action, ActionKind, CoreState, Facts, NodeState, Platform
from talon.core.model import HEALS
from talon.daemon import executor as executor_module
from talon.daemon.cycle import Watch
from talon.daemon.executor import Executor
from talon.daemon.outputs import Outputs
from talon.daemon.view import CycleView
from talon.daemon.wiring import Wiring
from talon.evidence.bundle import Bundles
from talon.lab.substrate import render_toml
from talon.node import NodeIdentity
from talon.probes import run_cycle
from talon.store import StateStore
from talon.store.journal import Journal
from talon.web.metrics import TalonMetrics
from tests.support.clocks import Hands

VM = "127.0.0.7"
INCIDENT = "test-node-20261205T101500Z-3f9a2c"
END = "\n--end--\n"
APPEND = '{ cat; printf "\\n--end--\\n"; } >> "$0"'  # each message, then END


@contextlib.contextmanager
def _guest_only() -> Iterator[int]:
    """A port that answers on the VM's address and refuses on localhost."""
    for _ in range(20):
        guest = socket.socket()
        guest.bind((VM, 0))
        guest.listen(8)
        port = int(guest.getsockname()[1])
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                break
        guest.close()
    else:
        pytest.skip("no port free on both 127.0.0.1 and the VM address")
    try:
        yield port
    finally:
        guest.close()


@dataclass
class Node:
    w: Wiring
    outputs: Outputs
    executor: Executor
    notices: Path
    state_dir: Path

    async def aclose(self) -> None:
        await self.outputs.aclose()
        await self.w.aclose()

    async def notice(self, starts: str, timeout: float = 10.0) -> str:
        """The first message the command channel got that starts with ``starts``."""
        for _ in range(int(timeout / 0.05)):
            text = self.notices.read_text() if self.notices.exists() else ""
            found = [m for m in text.split(END) if m.startswith(starts)]
            if found:
                return found[0]
            await asyncio.sleep(0.05)
        raise AssertionError(f"no notice starting {starts!r}: {text!r}")


def _node(identity: NodeIdentity, port: int, hands: Hands) -> Node:
    notices = identity.config_dir.parent / "notices.txt"
    settings = {
        "runtime": {"kind": "static", "vm_address": VM},
        "process_manager": {"kind": "null"},
        "healing": {"warmup_secs": 1},
        "notify": {"channel": [{"name": "file", "command": ["sh", "-c", APPEND, str(notices)]}]},
    }
    identity.config_dir.mkdir(parents=True)
    config = identity.config_dir / "config.toml"
    config.write_text(render_toml(settings))
    (identity.config_dir / "services.toml").write_text(
        f'[tcp.typesense]\naddress = "127.0.0.1:{port}"\n'
        'endpoint = { via = ["localhost", "vm"] }\n'
        "critical = true\ncritical_after_consecutive_failures = 1\n"
    )
    clock = hands.clock()
    state_dir = identity.state_dir
    w = Wiring.build(load(config, identity=identity), state_dir, clock)
    w.core = replace(w.core, platform=Platform(frozenset({Capability.RESTART_FORWARDING})))
    store = StateStore(state_dir)
    outputs = Outputs(
        store=store,
        journal=Journal(store.journal_path),
        bundles=Bundles(state_dir / "incidents"),
        clock=clock,
        wiring=lambda: w,
        log=structlog.get_logger("test"),
        metrics=TalonMetrics(identity.node_id, identity.platform),
        node_id=identity.node_id,
        platform=identity.platform,
    )
    executor = Executor(wiring=lambda: w, outputs=outputs, state_dir=state_dir, clock=clock)
    return Node(w, outputs, executor, notices, state_dir)


def test_a_failed_recovery_over_a_dead_forward_names_stale_usernet_in_bundle_and_notice(
    identity: NodeIdentity,
) -> None:
    hands = Hands()

    class HealsDone:
        """The executor for everything but the heal, which says it restarted the bridge."""

        def __init__(self, executor: Executor) -> None:
            self.executor = executor

        async def run(self, action: Action, view: CycleView) -> Outcome:
            if action.kind in HEALS:
                return Outcome(DONE, "scripted: the forwarding was restarted")
            return await self.executor.run(action, view)

    async def no_facts(w: Wiring) -> Facts:
        return Facts()

    async def scenario(port: int) -> None:
        node = _node(identity, port, hands)
        watch = Watch(
            state=CoreState(),
            clock=hands.clock(),
            runner=HealsDone(node.executor),
            record=node.outputs.step,
            facts=no_facts,
        )
        try:
            await watch.run_once(node.w)  # split-brain: the bridge is "restarted"
            assert watch.state.node is NodeState.VERIFYING
            hands.tick(5)  # past the warmup: the forward is still dead
            cycle = await watch.run_once(node.w)
            assert watch.state.node is NodeState.HOLD
            notify = next(a for a in cycle.actions if a.kind is ActionKind.NOTIFY)
            assert "notify:failed-recovery-" in notify.key
            text = await node.notice("failed recovery")
        finally:
            await watch.aclose()
            await node.aclose()

        assert text.startswith("failed recovery: tcp.typesense regressed")
        [line] = [ln for ln in text.splitlines() if ln.startswith("hypothesis: ")]
        assert line.startswith("hypothesis: stale_usernet_recovery — ")
        assert "tcp.typesense" in line
        assert "localhost" in line

        incident = watch.state.incident
        assert incident is not None
        bundle = node.outputs.bundles.bundle(incident.id)
        regressed = [doc for name, doc in bundle.evidence() if "recovery-regressed" in name]
        [doc] = regressed
        named = doc["hypothesis"]
        assert named["name"] == "stale_usernet_recovery"
        assert line == f"hypothesis: {named['name']} — {named['why']}"  # one source
        assert {c["name"]: c["supported"] for c in named["considered"]} == {
            "healer_induced_churn": False,
            "control_path_collapse": False,
            "stale_usernet_recovery": True,
            "guest_runtime_failure": False,
        }
        assert doc["snapshot"]["healers"] == {"others_busy": False, "actions": []}
        before = [doc for name, doc in bundle.evidence() if "recovery-regressed" not in name]
        assert before
        assert all("hypothesis" not in d for d in before)
        records = [r for r in bundle.timeline() if r["kind"] == "hypothesis"]
        assert [r["name"] for r in records] == ["stale_usernet_recovery"]
        assert bundle.summary().hypothesis == "stale_usernet_recovery"
        ends = [r for r in bundle.timeline() if r["kind"] == "action.end"]
        assert any("hypothesis: stale_usernet_recovery" in r["detail"] for r in ends)

    with _guest_only() as port:
        asyncio.run(scenario(port))


def _notify(slot: str) -> Action:
    return Action(ActionKind.NOTIFY, f"{INCIDENT}/notify/{slot}/1", INCIDENT, "failed recovery: x")


def test_a_notice_without_this_steps_capture_works_the_hypothesis_out_itself(
    identity: NodeIdentity,
) -> None:
    """A recurrence notice whose capture did not happen: worked out from what the cycle saw,
    with Talon's own runtime actions from the journal."""

    async def scenario(port: int) -> None:
        node = _node(identity, port, Hands())
        try:
            w = node.w
            report = await run_cycle(w.loaded.probes, w.ctx, bulkheads=w.loaded.config.bulkheads)
            view = CycleView(CoreState(), report)
            outcome = await node.executor.run(_notify("notify:recurrence-bridge_heal:x"), view)
            assert outcome.status is DONE
            recurrence = await node.notice("failed recovery")
            node.notices.unlink()
            plain = await node.executor.run(_notify("notify:hold-cleared"), view)
            assert plain.status is DONE
            cleared = await node.notice("failed recovery")
        finally:
            await node.aclose()
        assert "hypothesis: stale_usernet_recovery — " in recurrence
        assert "hypothesis" not in cleared  # only failed recoveries and recurrences name one

    with _guest_only() as port:
        asyncio.run(scenario(port))


def test_when_the_hypothesis_cannot_be_worked_out_the_notice_still_goes_out(
    identity: NodeIdentity, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> dict[str, object]:
        raise RuntimeError("journal unreadable")

    monkeypatch.setattr(executor_module, "base_facts", broken)

    async def scenario(port: int) -> None:
        node = _node(identity, port, Hands())
        try:
            view = CycleView(CoreState(), None)
            outcome = await node.executor.run(_notify("notify:failed-recovery-5000"), view)
            assert outcome.status is DONE
            text = await node.notice("failed recovery")
        finally:
            await node.aclose()
        assert "hypothesis: unclassified (not worked out: RuntimeError: journal unreadable)" in text
        assert text.startswith("failed recovery: x")
        journal = [json.loads(line) for line in (node.state_dir / "journal.jsonl").open()]
        assert [e["outcome"] for e in journal if e["event"] == "end"] == ["done"]

    with _guest_only() as port:
        asyncio.run(scenario(port))
