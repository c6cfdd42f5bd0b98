"""F9 / R23 under a real `talon run` and a real supervisord: one owner of the worker.

supervisord runs the worker as a program; Talon is configured with that
program as the worker's external label. Talon must defer (never start a
second copy, never touch supervisord's), say so in `talon status`, and keep
checking every cycle: when the program is removed from supervisord, Talon
takes the worker over.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import psutil

from tests.supervisor.test_worker_e2e import Node, _alive, _worker_entries, running
from tests.support.supervisord import RealSupervisord


def _worker_argv(node: Node) -> list[str]:
    return [
        sys.executable,
        "-m",
        "talon.lab.worker",
        "--port",
        str(node.port),
        "--record",
        str(node.record),
    ]


def test_f09_supervisord_owns_the_worker_then_talon_takes_over(tmp_path: Path) -> None:
    node = Node(tmp_path)
    with RealSupervisord(tmp_path / "sv", {"worker": shlex.join(_worker_argv(node))}) as sv:
        theirs = sv.wait_state("worker", "RUNNING")["pid"]
        node.write(
            {"external_label": "worker"},
            process_manager={"kind": "supervisord", "supervisord_url": sv.url},
        )
        with running(node) as run:
            deferring = run.wait_for(
                "Talon deferring to supervisord",
                lambda: (w := run.daemon().get("worker") or {}).get("state") == "deferring" and w,
            )
            assert deferring["owner"]["manager"] == "supervisord"
            assert deferring["owner"]["pid"] == theirs
            cycles = run.cycles()
            run.wait_for("three more cycles", lambda: run.cycles() >= cycles + 3)
            # Re-checked every cycle, and never a second copy nor a touch of theirs.
            assert _worker_entries(run, "start") == []
            assert [e["what"] for e in run.journal() if e.get("event") == "worker"] == ["defer"]
            assert sv.info("worker")["pid"] == theirs
            assert _alive(theirs)
            assert "supervisord owns" in run.talon("status").stdout

            sv.remove_program("worker")  # the operator hands the worker to Talon
            assert not _alive(theirs)
            ours = run.wait_for(
                "Talon running its own worker",
                lambda: (
                    (w := run.daemon().get("worker") or {}).get("state") == "running"
                    and w.get("pid")
                ),
            )
            assert ours != theirs
            assert psutil.Process(ours).ppid() == run.pid  # Talon's child, not supervisord's
            whats = [e["what"] for e in run.journal() if e.get("event") == "worker"]
            assert whats[:3] == ["defer", "own", "start"]
            assert run.stop() == 0
        assert not _alive(ours)
