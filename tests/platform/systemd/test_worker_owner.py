"""F9 / R23 with a real systemd: a unit of a ``systemd --user`` manager runs the worker
and Talon is told it is the worker's external owner (``[worker] external_label``).
Talon must defer (never a second copy, never a touch of the unit), say so, and keep
checking; when the operator removes the unit, Talon takes the worker over."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import psutil
import pytest

from tests.supervisor.test_worker_e2e import Node, _alive, _worker_entries, running
from tests.support.systemd import Scope


def test_f09_a_systemd_unit_owns_the_worker_then_talon_takes_over(
    user_scope: Scope, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = Node(tmp_path)
    worker = [sys.executable, "-m", "talon.lab.worker", "--port", str(node.port)]
    worker += ["--record", str(node.record)]  # the command Talon would run, as a unit
    label = user_scope.unit("worker", f"ExecStart={shlex.join(worker)}\nRestart=always")
    theirs = user_scope.running_pid(label)
    for key, value in user_scope.env.items():  # Talon finds the user manager as in a session
        monkeypatch.setenv(key, value)
    node.write(
        {"external_label": label},
        process_manager={"kind": "systemd", "systemd_scope": "user", "timeout_secs": 5},
    )
    with running(node) as run:
        deferring = run.wait_for(
            "Talon deferring to systemd",
            lambda: (w := run.daemon().get("worker") or {}).get("state") == "deferring" and w,
        )
        assert deferring["owner"]["manager"] == "systemd"
        assert deferring["owner"]["domain"] == "user"
        assert deferring["owner"]["pid"] == theirs
        cycles = run.cycles()
        run.wait_for("three more cycles", lambda: run.cycles() >= cycles + 3)
        # Re-checked every cycle, and never a second copy nor a touch of the unit.
        assert _worker_entries(run, "start") == []
        assert [e["what"] for e in run.journal() if e.get("event") == "worker"] == ["defer"]
        shown = user_scope.show(label)
        assert (shown["MainPID"], shown["NRestarts"]) == (str(theirs), "0")
        status = " ".join(run.talon("status").stdout.split())  # unwrapped
        assert f"systemd owns {label!r} in user (running, pid {theirs})" in status

        # The operator hands the worker to Talon: the unit is stopped and removed.
        assert user_scope.ctl("stop", f"{label}.service").returncode == 0
        (user_scope.unit_dir / f"{label}.service").unlink()
        assert user_scope.ctl("daemon-reload").returncode == 0
        assert not _alive(theirs)
        ours = run.wait_for(
            "Talon running its own worker",
            lambda: (
                (w := run.daemon().get("worker") or {}).get("state") == "running" and w.get("pid")
            ),
        )
        assert ours != theirs
        assert psutil.Process(ours).ppid() == run.pid  # Talon's child, not systemd's
        whats = [e["what"] for e in run.journal() if e.get("event") == "worker"]
        assert whats[:3] == ["defer", "own", "start"]
        assert run.stop() == 0
    assert not _alive(ours)
