"""log_tail on real files and command_outputs with real shell commands."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from talon.adapters.command import exec_env
from talon.evidence.collect import command_outputs, log_tail


def test_the_last_lines_of_a_large_file(tmp_path: Path) -> None:
    log = tmp_path / "big.log"
    with open(log, "w") as f:
        for i in range(300_000):
            f.write(f"line {i} {'x' * (i % 50)}\n")
    assert log.stat().st_size > 10_000_000

    started = time.monotonic()
    tail = log_tail(log, 200)

    assert time.monotonic() - started < 0.5  # read from the end, not the whole file
    assert len(tail) == 200
    assert tail[0].startswith("line 299800 ")
    assert tail[-1].startswith("line 299999 ")


def test_short_files_partial_last_lines_and_crlf(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_bytes(b"one\r\ntwo\nthree")
    assert log_tail(log, 10) == ["one", "two", "three"]
    assert log_tail(log, 2) == ["two", "three"]
    assert log_tail(log, 0) == []
    log.write_bytes(b"")
    assert log_tail(log, 5) == []


def test_a_single_huge_line_is_bounded(tmp_path: Path) -> None:
    log = tmp_path / "one-line.log"
    log.write_bytes(b"y" * 5_000_000 + b"\nlast\n")
    tail = log_tail(log, 2, max_bytes=1000)
    assert tail == ["y" * 994, "last"]


def test_what_cannot_be_read_is_an_empty_tail(tmp_path: Path) -> None:
    assert log_tail(tmp_path / "missing.log", 10) == []
    assert log_tail(tmp_path, 10) == []  # a directory
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert log_tail(fifo, 10) == []  # would block forever if opened


def test_invalid_utf8_is_replaced(tmp_path: Path) -> None:
    log = tmp_path / "bin.log"
    log.write_bytes(b"ok\n\xff\xfe bad\n")
    assert log_tail(log, 1) == ["\ufffd\ufffd bad"]


def test_commands_run_concurrently_and_keep_everything(tmp_path: Path) -> None:
    commands = {
        "hello": "echo hello; echo oops >&2",
        "fails": "exit 3",
        "slow-a": "sleep 0.6; echo a",
        "slow-b": "sleep 0.6; echo b",
        "hangs": "sleep 30",
        "chatty": "head -c 100000 /dev/zero | tr '\\0' z",
        "missing": "no-such-command-talon",
    }
    started = time.monotonic()
    out = asyncio.run(command_outputs(commands, env=exec_env(), timeout=1.5, output_cap=1000))
    elapsed = time.monotonic() - started

    assert elapsed < 3.0  # concurrent, and the hanging one costs its timeout only
    assert set(out) == set(commands)
    assert out["hello"]["stdout"] == "hello\n"
    assert out["hello"]["stderr"] == "oops\n"
    assert out["hello"]["exit_code"] == 0
    assert out["hello"]["command"] == commands["hello"]
    assert out["fails"]["exit_code"] == 3
    assert out["slow-a"]["stdout"] == "a\n"
    assert out["slow-a"]["duration_s"] >= 0.6
    assert out["hangs"]["timed_out"] is True
    assert out["hangs"]["exit_code"] is None
    assert out["chatty"]["truncated"] is True
    assert len(out["chatty"]["stdout"]) == 1000
    assert out["missing"]["exit_code"] == 127


def test_no_commands_no_outputs() -> None:
    assert asyncio.run(command_outputs({}, env=exec_env(), timeout=1)) == {}


def test_no_shell_on_path_is_reported(tmp_path: Path) -> None:
    out = asyncio.run(command_outputs({"x": "true"}, env={"PATH": str(tmp_path)}, timeout=1))
    assert out["x"]["exit_code"] is None
    assert "sh" in out["x"]["error"]
