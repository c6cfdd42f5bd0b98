"""aof_evidence against a real redis-server's AOF and the real redis-check-aof (R27)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import socket
from pathlib import Path
from typing import Any

import pytest

from talon.adapters.command import exec_env
from talon.evidence.collect import aof_evidence, escape_bytes
from tests.support import procs

KEYS = 300

pytestmark = pytest.mark.skipif(
    shutil.which("redis-check-aof") is None, reason="redis-check-aof is not installed"
)


def _write_keys(port: int) -> None:
    commands = b"".join(
        f"*3\r\n$3\r\nSET\r\n${len(k)}\r\n{k}\r\n$1\r\n1\r\n".encode()
        for k in (f"canary:{i}" for i in range(KEYS))
    )
    with socket.create_connection(("127.0.0.1", port), 5) as s:
        s.sendall(commands)
        received = b""
        while received.count(b"+OK") < KEYS:
            chunk = s.recv(65_536)
            assert chunk, "redis closed the connection"
            received += chunk


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An appendonlydir written by a real redis-server, which is stopped (by pid) after."""
    data = tmp_path_factory.mktemp("redis")
    with procs.redis_server(data, "--appendonly", "yes", "--appendfsync", "always") as port:
        _write_keys(port)
    aof_dir = data / "appendonlydir"
    assert list(aof_dir.glob("*.incr.aof")), "redis wrote no AOF"
    return aof_dir


@pytest.fixture
def aof_dir(pristine: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "appendonlydir"
    shutil.copytree(pristine, copy)
    return copy


def _incr(aof_dir: Path) -> Path:
    return max(aof_dir.glob("*.incr.aof"), key=lambda p: p.stat().st_mtime)


def _damage_middle(aof_dir: Path) -> Path:
    """What lab/faults.py corrupt_aof does to the newest AOF."""
    newest = _incr(aof_dir)
    data = bytearray(newest.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 16] = b"\x00GARBAGE\xffGARBAGE"
    newest.write_bytes(bytes(data))
    return newest


def _stats(directory: Path) -> dict[str, tuple[int, int, str]]:
    return {
        p.name: (p.stat().st_size, p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
        for p in sorted(directory.iterdir())
    }


def _evidence(path: Path, **kw: Any) -> dict[str, Any]:
    return asyncio.run(aof_evidence(path, env=exec_env(), timeout=10, **kw))


@pytest.mark.parametrize("given", ["data-dir", "dir", "manifest", "file"])
def test_damage_is_reported_with_what_fix_would_cut(aof_dir: Path, given: str) -> None:
    damaged = _damage_middle(aof_dir)
    original = damaged.read_bytes()
    before = _stats(aof_dir)
    path = {
        "data-dir": aof_dir.parent,
        "dir": aof_dir,
        "manifest": next(aof_dir.glob("*.manifest")),
        "file": damaged,
    }[given]

    report = _evidence(path)

    assert _stats(aof_dir) == before  # size, mtime and content: only ever read
    assert report["original"]["unchanged"] is True
    assert report["original"]["before"][damaged.name]["sha256"] == before[damaged.name][2]
    assert report["valid"] is False
    [damage] = report["damage"]
    assert damage["file"].endswith(damaged.name)
    assert damage["size"] == len(original)
    ok = damage["ok_up_to"]
    assert 0 < ok <= len(original) // 2
    assert damage["diff"] == len(original) - ok
    assert damage["ok_up_to_line"] > 1
    assert any("not valid" in p for p in report["problems"])

    would = report["would_fix"]
    assert would["fixed_copy"] is True  # the prompt was answered on the copy
    assert would["announced"]["to"] == ok
    [cut] = would["cuts"]
    assert (cut["file"], cut["from"], cut["to"]) == (damaged.name, ok, len(original))
    assert cut["bytes"] == len(original) - ok
    assert cut["shown"] == min(4096, cut["bytes"])
    assert cut["data"] == escape_bytes(original[ok : ok + 4096])
    assert "GARBAGE" in cut["data"]
    assert "--fix truncates" in report["hint"]


def test_a_command_torn_at_the_end_is_reported(aof_dir: Path) -> None:
    incr = _incr(aof_dir)
    data = incr.read_bytes()
    incr.write_bytes(data[:-7])  # a crash mid-write of the last SET
    last_command = data.rindex(b"*3\r\n")

    report = _evidence(aof_dir, cut_cap=16)

    assert report["valid"] is False
    [cut] = report["would_fix"]["cuts"]
    assert (cut["from"], cut["to"]) == (last_command, len(data) - 7)
    assert cut["shown"] == 16
    assert cut["data"].startswith("*3\\r\\n$3\\r\\nSET")
    assert report["original"]["unchanged"] is True


def test_a_healthy_aof_is_valid_and_nothing_is_cut(aof_dir: Path) -> None:
    before = _stats(aof_dir)
    report = _evidence(aof_dir)
    assert report["valid"] is True
    assert report["damage"] == []
    assert "would_fix" not in report
    assert report["check"]["exit_code"] == 0
    assert report["original"]["unchanged"] is True
    assert _stats(aof_dir) == before


def test_the_dry_run_is_skipped_over_the_copy_limit(aof_dir: Path) -> None:
    _damage_middle(aof_dir)
    report = _evidence(aof_dir, copy_limit=10)
    assert report["valid"] is False
    assert "dry-run limit" in report["would_fix"]["skipped"]


def test_missing_redis_check_aof_is_reported_not_raised(aof_dir: Path, tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    report = asyncio.run(aof_evidence(aof_dir, env={"PATH": str(empty)}, timeout=5))
    assert report["available"] is False
    assert report["valid"] is None
    assert "redis-check-aof not found" in report["error"]


def test_a_missing_aof_is_reported_not_raised(tmp_path: Path) -> None:
    report = _evidence(tmp_path / "nowhere")
    assert report["valid"] is None
    assert "no such AOF" in report["error"]


def test_a_hanging_fix_is_killed_with_its_group(tmp_path: Path) -> None:
    """A --fix that never answers costs its timeout; the whole group is killed."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    pid_file = tmp_path / "sleeper.pid"
    tool = bin_dir / "redis-check-aof"
    tool.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = "--fix" ]; then sleep 30 & echo $! > ' + str(pid_file) + "; wait; fi\n"
        "echo 'AOF analyzed: filename=a.aof, size=10, ok_up_to=4, ok_up_to_line=1, diff=6'\n"
        "echo 'AOF a.aof is not valid. Use the --fix option to try fixing it.'\n"
        "exit 1\n"
    )
    tool.chmod(0o755)
    aof = tmp_path / "a.aof"
    aof.write_bytes(b"*1\r\nxxxxxx")
    env = {"PATH": f"{bin_dir}{os.pathsep}/usr/bin:/bin"}

    report = asyncio.run(aof_evidence(aof, env=env, timeout=0.5))

    assert report["valid"] is False
    assert report["would_fix"]["fix"]["timed_out"] is True
    assert report["would_fix"]["cuts"] == []
    assert not _alive(int(pid_file.read_text()))


def _alive(pid: int) -> bool:
    """Running, and not a zombie waiting for init to reap it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_damage_fix_cannot_repair_is_said_so(aof_dir: Path) -> None:
    base = next(aof_dir.glob("*.base.rdb"))
    data = bytearray(base.read_bytes())
    data[30:34] = b"XXXX"  # the RDB preamble's checksum no longer matches
    base.write_bytes(bytes(data))
    before = _stats(aof_dir)

    report = _evidence(aof_dir)

    assert report["valid"] is False
    assert any("not sane" in p for p in report["problems"])
    assert report["would_fix"]["cuts"] == []
    assert "cannot repair" in report["would_fix"]["note"]
    assert _stats(aof_dir) == before
