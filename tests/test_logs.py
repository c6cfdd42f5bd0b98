"""JSON-lines logs: rotation, reconfiguration, write errors counted not raised (R31), tail."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from talon import logs
from talon.config.outputs import LogConfig


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    yield
    logs.reset_logging()


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_every_line_is_json_with_ts_level_event_and_bound_keys(tmp_path: Path) -> None:
    sink = logs.configure_logging(LogConfig(), log_dir=tmp_path, stderr=False)
    log = logs.get_logger(component="loop")
    log.info("cycle.done", probes=4, ok=True)
    log.warning("probe.failed", probe="redis.redis")
    logging.getLogger("talon.web").error("plain stdlib %s", "record")  # aiohttp's way
    assert sink.path == tmp_path / "talon.jsonl"
    lines = _lines(sink.path)
    assert [(line["level"], line["event"]) for line in lines] == [
        ("info", "cycle.done"),
        ("warning", "probe.failed"),
        ("error", "plain stdlib record"),
    ]
    assert list(lines[0])[:3] == ["ts", "level", "event"]
    assert lines[0] | {"ts": None} == {
        "ts": None,
        "level": "info",
        "event": "cycle.done",
        "component": "loop",
        "probes": 4,
        "ok": True,
    }
    assert lines[2]["logger"] == "talon.web"
    for line in lines:  # RFC 3339, UTC
        assert line["ts"].endswith("Z")
        ts = datetime.fromisoformat(line["ts"])
        assert ts.utcoffset() == timedelta(0)
    assert (sink.errors, sink.last_error) == (0, None)


def test_the_level_filters_and_exceptions_are_one_json_field(tmp_path: Path) -> None:
    sink = logs.configure_logging(LogConfig(level="warning"), log_dir=tmp_path, stderr=False)
    log = logs.get_logger()
    log.info("noise")
    try:
        raise ValueError("bad value")
    except ValueError:
        log.exception("it.broke")
    (line,) = _lines(sink.path)
    assert (line["level"], line["event"]) == ("error", "it.broke")
    assert "ValueError: bad value" in line["exception"]


def test_a_configured_file_path_is_used_and_expanded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TALON_TEST_LOGS", str(tmp_path / "elsewhere"))
    config = LogConfig(file="$TALON_TEST_LOGS/x.jsonl")
    sink = logs.configure_logging(config, log_dir=tmp_path / "unused", stderr=False)
    logs.get_logger().info("hello")
    assert sink.path == tmp_path / "elsewhere" / "x.jsonl"
    assert _lines(sink.path)[0]["event"] == "hello"


def test_stderr_gets_a_concise_copy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure_logging(LogConfig(), log_dir=tmp_path, stderr=True)
    logs.get_logger(component="web").info("web.started", port=9999)
    err = capsys.readouterr().err.strip()
    assert err.endswith("info    web.started component='web' port=9999")
    assert not err.startswith("{")


def test_rotation_keeps_exactly_keep_backups_of_whole_json_lines(tmp_path: Path) -> None:
    config = LogConfig(max_bytes=10_000, keep=2)
    sink = logs.configure_logging(config, log_dir=tmp_path, stderr=False)
    log = logs.get_logger()
    for i in range(1_000):  # ~100 KB: ten rotations' worth
        log.info("tick", i=i, pad="x" * 40)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "talon.jsonl",
        "talon.jsonl.1",
        "talon.jsonl.2",
    ]
    numbers = []
    for name in ("talon.jsonl.2", "talon.jsonl.1", "talon.jsonl"):
        path = tmp_path / name
        assert path.stat().st_size <= config.max_bytes
        numbers += [line["i"] for line in _lines(path)]
    assert numbers == list(range(numbers[0], 1_000))  # in order, none torn or lost
    assert sink.errors == 0


def test_reconfiguring_replaces_the_handlers_instead_of_adding(tmp_path: Path) -> None:
    first = logs.configure_logging(LogConfig(), log_dir=tmp_path / "a", stderr=False)
    log = logs.get_logger()  # made before the reload: follows it
    second = logs.configure_logging(LogConfig(), log_dir=tmp_path / "b", stderr=False)
    second_again = logs.configure_logging(LogConfig(), log_dir=tmp_path / "b", stderr=False)
    log.info("after.reload")
    assert not first.path.exists()
    assert [line["event"] for line in _lines(second.path)] == ["after.reload"]
    assert second_again.path == second.path
    # ours replaced, not added to (pytest may hang its capture handlers on the logger too)
    attached = logging.getLogger(logs.LOGGER_NAME).handlers
    assert [h for h in attached if h in first.handlers + second.handlers] == []
    assert [h for h in attached if h in second_again.handlers] == second_again.handlers
    assert logs.current_sink() is second_again


def test_a_full_disk_is_counted_not_raised_and_prints_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # /dev/full answers every write with ENOSPC, even for root
    sink = logs.configure_logging(LogConfig(file="/dev/full"), log_dir=tmp_path, stderr=False)
    log = logs.get_logger()
    for i in range(50):
        log.info("tick", i=i)
    assert sink.errors == 50
    assert sink.last_error is not None
    assert "No space left on device" in sink.last_error
    err = capsys.readouterr().err
    assert err.count("\n") == 1  # one line, not a traceback per write
    assert "Traceback" not in err
    assert sink.status() == {"path": "/dev/full", "errors": 50, "last_error": sink.last_error}


def test_a_log_directory_replaced_by_a_file_is_counted_and_writing_resumes_when_it_is_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log_dir = tmp_path / "log"
    log_dir.write_text("not a directory")  # fails the same way for root
    sink = logs.configure_logging(LogConfig(), log_dir=log_dir, stderr=False)
    log = logs.get_logger()
    log.info("lost")
    log.info("lost too")
    assert sink.errors == 3  # the mkdir, then each write
    assert sink.last_error is not None
    assert "NotADirectoryError" in sink.last_error
    assert "Traceback" not in capsys.readouterr().err
    log_dir.unlink()
    log_dir.mkdir()
    log.info("back")
    assert [line["event"] for line in _lines(sink.path)] == ["back"]
    assert sink.errors == 3


def test_a_failing_stderr_is_counted_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken:
        def write(self, text: str) -> int:
            raise OSError(32, "Broken pipe")

        def flush(self) -> None:
            raise OSError(32, "Broken pipe")

    monkeypatch.setattr(sys, "stderr", Broken())
    sink = logs.configure_logging(LogConfig(), log_dir=tmp_path, stderr=True)
    logs.get_logger().info("still.logged")
    assert sink.errors == 1
    assert sink.last_error == "BrokenPipeError: [Errno 32] Broken pipe"
    assert [line["event"] for line in _lines(sink.path)] == ["still.logged"]


def test_tail_returns_the_last_lines_of_a_huge_file_quickly(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    with path.open("wb") as handle:
        handle.truncate(4 * 1024**3)  # a 4 GiB sparse head: reading it all would take ages
        handle.seek(0, os.SEEK_END)
        handle.write(b"".join(b'{"i": %d}\n' % i for i in range(100_000)))
    started = time.monotonic()
    last = logs.tail(path, 5)
    assert time.monotonic() - started < 1.0
    assert last == [f'{{"i": {i}}}' for i in range(99_995, 100_000)]


def test_tail_edges(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"one\ntwo\r\nthree")  # no final newline, one CRLF
    assert logs.tail(path, 2) == ["two", "three"]
    assert logs.tail(path, 10) == ["one", "two", "three"]
    assert logs.tail(path, 0) == []
    path.write_bytes(b"")
    assert logs.tail(path, 3) == []
    path.write_bytes(b"\n\nlast\n")
    assert logs.tail(path, 2) == ["", "last"]
    with pytest.raises(FileNotFoundError):
        logs.tail(tmp_path / "missing", 3)


def test_tail_across_block_boundaries(tmp_path: Path) -> None:
    path = tmp_path / "f"
    lines = [("x" * (i % 3000)) for i in range(400)]  # lines longer and shorter than a block
    path.write_text("\n".join(lines) + "\n")
    for n in (1, 7, 100, 399, 400, 401):
        assert logs.tail(path, n) == lines[-n:]


def test_importing_talon_logs_does_not_import_structlog() -> None:
    code = "import sys, talon.logs; print('structlog' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_daemons_logger_loads_structlog_without_rich_and_rich_still_imports() -> None:
    # structlog's console renderer pulls in rich (~5 MiB) only for its tracebacks;
    # Talon renders its own lines, so talon.logs keeps rich out of the daemon.
    code = (
        "import sys, talon.logs\n"
        "talon.logs.get_logger().info('x')\n"
        "print('structlog' in sys.modules, 'rich' in sys.modules)\n"
        "import rich.console\n"
        "print(type(rich.console.Console()).__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False", "Console"]


def test_a_cli_that_already_imported_rich_keeps_it() -> None:
    code = (
        "import sys, rich, talon.logs\n"
        "talon.logs.get_logger().info('x')\n"
        "print(sys.modules['rich'] is rich)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
