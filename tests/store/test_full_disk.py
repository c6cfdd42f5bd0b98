"""A full disk degrades, never blinds (F24, R31), on a real small tmpfs mounted by the test.

Every tmpfs is unmounted in the fixture's teardown, whatever the test did. The
end-to-end test starts a real `talon run` on a full state directory (with an
action the last Talon left open), breaks a service a real supervisord runs, and
watches the restart happen, journalled in memory; then frees the space and
watches every write resume by itself.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from talon.core import Action, ActionKind
from talon.store.files import StoreError, append_line, atomic_write
from talon.store.health import StorageHealth
from talon.store.journal import Journal

needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("mount") is None, reason="mounts a tmpfs: needs root"
)
PAGE = os.sysconf("SC_PAGE_SIZE")


@contextlib.contextmanager
def tmpfs(where: Path, size: str = "1m") -> Iterator[Path]:
    where.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    with tmpfs(tmp_path / "disk") as disk:
        yield disk


def fill(disk: Path) -> Path:
    """Fill ``disk`` to the last page; the filler is returned (remove it to free the space)."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as f:
        for chunk in (64 * 1024, PAGE):
            while True:
                try:
                    f.write(b"\0" * chunk)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
    return filler


def _action(n: int) -> Action:
    return Action(ActionKind.RESTART_SERVICE, f"n1-a/1c/restart_service:svc/{n}", "n1-a", "x")


@needs_root
def test_a_full_disk_tears_nothing_and_the_journal_keeps_its_records_in_memory(
    small_disk: Path,
) -> None:
    state = small_disk / "state"
    health = StorageHealth(state)
    journal = Journal(state / "journal.jsonl")
    assert journal.begin(_action(1), 1.0) is None
    on_disk = journal.path.read_bytes()
    # pad the journal to a page boundary, so the next append needs a page the disk lacks
    append_line(journal.path, b" " * (PAGE - len(on_disk) - 1))
    on_disk = journal.path.read_bytes()
    filler = fill(small_disk)

    error = journal.begin(_action(2), 2.0)
    assert error is not None
    assert "No space left" in error
    assert journal.seen(_action(2).key)  # remembered in memory: never fired twice
    assert journal.end(_action(2), 3.0, "done", "ok", 1.0) is not None
    assert journal.path.read_bytes() == on_disk  # nothing torn, nothing half-written
    with pytest.raises(StoreError):
        atomic_write(state / "state.json", b"{}" * PAGE)
    assert not [p for p in state.iterdir() if p.name.startswith(".state.json.")]
    assert health.failing().keys() == {"journal.jsonl", "state.json"}
    assert health.errors() == {"journal.jsonl": 2, "state.json": 1}

    filler.unlink()  # space returns: the next write takes the backlog first, in order
    assert journal.flush() is None
    assert journal.unwritten == []
    atomic_write(state / "state.json", b"{}")
    assert health.view()["ok"] is True
    assert health.errors() == {"journal.jsonl": 2, "state.json": 1}  # counted, not forgotten
    events = [(e["event"], e["key"]) for e in Journal(journal.path).entries()]
    assert events[-2:] == [("begin", _action(2).key), ("end", _action(2).key)]


@pytest.mark.parametrize(
    ("chosen", "unhealthy", "code"), [(None, 503, 503), (None, 200, 200), (200, 503, 200)]
)
def test_health_says_storage_failing_with_the_status_the_operator_chose(
    chosen: int | None, unhealthy: int, code: int
) -> None:
    from talon.core import CoreState
    from talon.node import NodeIdentity
    from talon.web.health import health_payload

    def health(storage: dict[str, object]) -> tuple[int, dict[str, object]]:
        return health_payload(
            state=CoreState(),
            identity=NodeIdentity("n1", "linux", "amd64", Path("/c"), Path("/s"), Path("/l")),
            now=10.0,
            last_cycle_started=9.0,
            last_cycle_finished=9.5,
            stale_after_s=60.0,
            shadow=False,
            config_error=None,
            tasks={"web": "running"},
            running_actions=[],
            version="t",
            unhealthy_status=unhealthy,
            storage=storage,
            storage_failing_status=chosen,
        )

    failing = {"ok": False, "failing": {"journal.jsonl": "No space left"}, "errors": {}}
    got, body = health(failing)
    assert got == code
    assert body["storage"] == failing
    assert body["reasons"] == (["storage failing: journal.jsonl"] if code == 503 else [])
    assert body["ok"] is (code == 200)
    assert health({"ok": True, "failing": {}, "errors": {"journal.jsonl": 3}})[0] == 200


# ------------------------------------------------------------- a real talon run
SERVICE = """\
import socket, sys
server = socket.create_server(("127.0.0.1", int(sys.argv[1])))
while True:
    conn, _ = server.accept()
    conn.settimeout(1)
    try:
        said = conn.recv(16)
    except OSError:
        said = b""
    conn.close()
    if said == b"break":  # wedged: alive, but no longer listening
        server.close()
        while True:
            socket.socket().close()
            __import__("time").sleep(3600)
"""


def _serves(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
        return True
    return False


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        body: bytes = r.read()
    return body.decode()


def _write_errors(metrics: str, file: str) -> float:
    found = re.search(
        rf'^talon_write_errors_total{{[^}}]*file="{re.escape(file)}"[^}}]*}} (\S+)$', metrics, re.M
    )
    return 0.0 if found is None else float(found.group(1))


@needs_root
def test_talon_run_on_a_full_disk_starts_heals_reports_and_resumes(tmp_path: Path) -> None:
    from talon.lab.daemon import LabDaemon
    from talon.lab.substrate import render_toml
    from tests.support.procs import free_port
    from tests.support.supervisord import RealSupervisord

    port, health = free_port(), free_port()
    script = tmp_path / "svc.py"
    script.write_text(SERVICE)
    home = tmp_path / "talon"
    config = home / "config" / "config.toml"
    config.parent.mkdir(parents=True)
    with (
        RealSupervisord(tmp_path / "sv", {"svc": f"{sys.executable} {script} {port}"}) as sv,
        tmpfs(home / "state") as state,
    ):
        sv.wait_state("svc", "RUNNING")
        config.write_text(
            render_toml(
                {
                    "": {"check_interval_secs": 1},
                    "healing": {
                        "warmup_secs": 2,
                        "durability_checks": 2,
                        "durability_interval_secs": 1,
                        "durability_window_secs": 2,
                    },
                    "health": {"bind": f"127.0.0.1:{health}"},
                    "process_manager": {
                        "kind": "supervisord",
                        "supervisord_url": sv.url,
                        "timeout_secs": 10,
                    },
                }
            )
        )
        (config.parent / "services.toml").write_text(
            f'[tcp.svc]\naddress = "127.0.0.1:{port}"\nrestart = "svc"\ncritical = true\n'
            "critical_after_consecutive_failures = 1\n"
        )
        # The last Talon died mid-action; its journal fills its page, so any append needs
        # a page the full disk does not have.
        opened = json.dumps({"event": "begin", "at": 1.0, **_record(_action(0))}).encode()
        padding = PAGE - len(opened) - 1 - len(b', "pad": ""')
        line = opened[:-1] + b', "pad": "' + b"x" * padding + b'"}'
        (state / "journal.jsonl").write_bytes(line + b"\n")
        assert (state / "journal.jsonl").stat().st_size == PAGE
        filler = fill(state)

        run = LabDaemon(None, home, config=config, health_port=health)
        run.start()
        try:
            # start-up on a full disk: no traceback, /health answers, storage failing
            code, body = run.wait_for("/health", lambda: _health(run))
            assert run.alive(), run.output()
            assert "Traceback" not in run.output()
            storage = run.wait_for("storage failing", lambda: _failing(run, "journal.jsonl"))
            assert {"state.json", "journal.jsonl"} <= storage["failing"].keys()
            assert storage["journal_in_memory"] >= 1  # the interrupted mark, in memory
            code, body = run.wait_for("healthy but for storage", lambda: _healthy_code(run))
            assert code == 503  # the default: as [health] unhealthy_status
            assert [r for r in body["reasons"] if r.startswith("storage failing: ")] == body[
                "reasons"
            ]

            # break the service: the restart still runs, journalled in memory
            pid = sv.info("svc")["pid"]
            with socket.create_connection(("127.0.0.1", port), 2) as conn:
                conn.sendall(b"break")
            run.wait_for("the restart", lambda: _restarts(run), timeout=40)
            assert sv.info("svc")["pid"] != pid  # supervisord really restarted it
            run.wait_for("the service back", lambda: _serves(port))
            assert _write_errors(_scrape(health), "journal.jsonl") >= 2
            assert _write_errors(_scrape(health), "state.json") >= 1
            assert not (state / "daemon.json").exists()

            # space returns: every write resumes by itself
            filler.unlink()
            run.wait_for(
                "storage ok", lambda: (_health(run) or (0, {}))[1].get("storage", {}).get("ok")
            )
            journal = [(e["event"], e.get("kind")) for e in run.journal()]
            assert ("interrupted", "restart_service") in journal
            assert ("begin", "restart_service") in journal
            assert ("end", "restart_service") in journal
            assert run.begun("restart_service")[-1]["key"] != _action(0).key
            run.wait_for("daemon.json", lambda: run.daemon().get("storage", {}).get("ok"))
            assert "Traceback" not in run.output()
        finally:
            if run.alive():
                run.stop()


def _record(action: Action) -> dict[str, object]:
    from talon.store.journal import action_record

    return action_record(action)


def _health(run: object) -> tuple[int, dict[str, object]] | None:
    from talon.lab.daemon import LabDaemon

    assert isinstance(run, LabDaemon)
    with contextlib.suppress(OSError, ValueError):
        return run.health()
    return None


def _failing(run: object, file: str) -> dict[str, object] | None:
    got = _health(run)
    storage = None if got is None else got[1].get("storage")
    if isinstance(storage, dict) and file in storage.get("failing", {}):
        return storage
    return None


def _healthy_code(run: object) -> tuple[int, dict[str, object]] | None:
    got = _health(run)
    if got is not None and got[1].get("state") == "healthy" and got[1].get("last_cycle"):
        return got
    return None


def _restarts(run: object) -> bool:
    from talon.lab.daemon import LabDaemon

    assert isinstance(run, LabDaemon)
    return any(
        e.get("kind") == "restart_service" and e.get("outcome") == "done"
        for e in run.events("action")
    )
