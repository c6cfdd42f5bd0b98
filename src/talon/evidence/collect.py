"""Read-only evidence sources: log tails, command outputs, Redis AOF damage (R27).

Nothing here changes what it looks at. ``aof_evidence`` runs ``redis-check-aof``
without ``--fix`` on the real files, and shows what ``--fix`` would cut by
running it on a temporary copy; the original is fingerprinted before and
after, as proof it was only read.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from talon.adapters.command import CommandResult, run_command

T = TypeVar("T")

BLOCK = 64 * 1024
TAIL_MAX_BYTES = 1 << 20
COMMAND_OUTPUT_CAP = 32 * 1024
CHECK_AOF = "redis-check-aof"
CHECK_OUTPUT_CAP = 16 * 1024
CUT_CAP = 4096
COPY_LIMIT = 1 << 30
HINT = (
    "redis-check-aof --fix truncates the AOF at the first damaged command: everything "
    "after it (would_fix.cuts) is lost. Talon never runs it (R27). A human or the agent "
    "tier must decide: restore a backup, salvage the commands after the damage, or accept "
    "the loss and run --fix on the real file with Redis stopped."
)


# -- log tails ------------------------------------------------------------------


def log_tail(path: Path, lines: int, *, max_bytes: int = TAIL_MAX_BYTES) -> list[str]:
    """The last ``lines`` lines of a file, read from its end; [] when it cannot be read."""
    if lines <= 0:
        return []
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO would block the loop
            return []
        with open(path, "rb") as f:
            data = _read_tail(f.fileno(), lines, max_bytes)
    except OSError:
        return []
    text = data.decode("utf-8", "replace")
    if not text:
        return []
    parts = text.split("\n")
    if text.endswith("\n"):
        parts.pop()
    return [p.rstrip("\r") for p in parts[-lines:]]


def _read_tail(fd: int, lines: int, max_bytes: int) -> bytes:
    end = os.lseek(fd, 0, os.SEEK_END)
    pos, newlines, chunks = end, 0, []
    # One newline more than lines: the one that ends the line before the first.
    while pos > 0 and newlines <= lines and end - pos < max_bytes:
        step = min(BLOCK, pos, max_bytes - (end - pos))
        pos -= step
        chunk = os.pread(fd, step, pos)
        chunks.append(chunk)
        newlines += chunk.count(b"\n")
    return b"".join(reversed(chunks))


# -- command outputs ------------------------------------------------------------


async def command_outputs(
    commands: Mapping[str, str],
    *,
    env: Mapping[str, str],
    timeout: float,
    output_cap: int = COMMAND_OUTPUT_CAP,
) -> dict[str, dict[str, Any]]:
    """Each read-only shell command's result, run concurrently, each with ``timeout``."""
    names = list(commands)
    results = await asyncio.gather(
        *(
            run_command(["sh", "-c", commands[n]], timeout=timeout, env=env, output_cap=output_cap)
            for n in names
        )
    )
    return {n: _result(commands[n], r) for n, r in zip(names, results, strict=True)}


def _result(command: str, r: CommandResult) -> dict[str, Any]:
    return {
        "command": command,
        "exit_code": r.exit_code,
        "stdout": r.stdout,
        "stderr": r.stderr,
        "duration_s": round(r.duration_s, 3),
        "timed_out": r.timed_out,
        "truncated": r.truncated,
        "error": r.spawn_error,
    }


# -- Redis AOF (R27) ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Target:
    check: Path  # what redis-check-aof is given: a manifest or a single AOF file
    files: tuple[Path, ...]  # what a dry run copies and what is fingerprinted


class _NoAof(Exception):
    pass


async def aof_evidence(
    path: Path,
    *,
    env: Mapping[str, str],
    timeout: float,
    cut_cap: int = CUT_CAP,
    copy_limit: int = COPY_LIMIT,
    scratch: Path | None = None,
) -> dict[str, Any]:
    """What ``redis-check-aof`` says about ``path`` and what ``--fix`` would cut; never raises.

    ``path`` is an appendonlydir, its manifest, or a single AOF file. The dry
    run of ``--fix`` works on a copy in ``scratch`` (the temp dir by default)
    when the AOF is at most ``copy_limit`` bytes.
    """
    report: dict[str, Any] = {"path": str(path), "hint": HINT}
    tool = shutil.which(CHECK_AOF, path=env.get("PATH", ""))
    if tool is None:
        error = f"{CHECK_AOF} not found on PATH ({env.get('PATH', '')})"
        return {**report, "available": False, "valid": None, "error": error}
    report.update(available=True, tool=tool)
    try:
        target = _target(path)
        before = await _in_thread(_fingerprints, target.files)
    except (_NoAof, OSError) as exc:
        return {**report, "valid": None, "error": str(exc)}
    check = await run_command(
        [tool, str(target.check)], timeout=timeout, env=env, output_cap=CHECK_OUTPUT_CAP
    )
    report.update(checked=str(target.check), **_parse_check(check))
    if report["valid"] is False:
        size = sum(f["size"] for f in before.values())
        report["would_fix"] = await _would_fix(
            tool,
            target,
            size,
            env=env,
            timeout=timeout,
            cut_cap=cut_cap,
            copy_limit=copy_limit,
            scratch=scratch,
        )
    try:
        after: dict[str, Any] = await _in_thread(_fingerprints, target.files)
    except OSError as exc:  # Redis (or a human) may have moved it meanwhile
        after = {"error": str(exc)}
    report["original"] = {"before": before, "after": after, "unchanged": before == after}
    return report


def _target(path: Path) -> _Target:
    if path.is_dir():
        manifests = sorted(p for p in path.glob("*.manifest") if p.is_file())
        aofs = sorted(p for p in path.glob("*.aof") if p.is_file())
        if len(manifests) == 1:
            return _Target(manifests[0], _regular_files(path))
        if not manifests and len(aofs) == 1:
            return _Target(aofs[0], (aofs[0],))
        if not manifests and (path / "appendonlydir").is_dir():  # Redis's data dir
            return _target(path / "appendonlydir")
        raise _NoAof(f"{path}: expected one *.manifest (or one *.aof) in the directory")
    if path.is_file():
        if path.name.endswith(".manifest"):
            return _Target(path, _regular_files(path.parent))
        return _Target(path, (path,))
    raise _NoAof(f"{path}: no such AOF file or directory")


def _regular_files(directory: Path) -> tuple[Path, ...]:
    return tuple(sorted(p for p in directory.iterdir() if p.is_file() and not p.is_symlink()))


def _fingerprints(files: Sequence[Path]) -> dict[str, dict[str, Any]]:
    return {f.name: _fingerprint(f) for f in files}


def _fingerprint(path: Path) -> dict[str, Any]:
    st = path.stat()
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(BLOCK):
            digest.update(chunk)
    return {"size": st.st_size, "sha256": digest.hexdigest(), "mtime_ns": st.st_mtime_ns}


async def _in_thread(fn: Callable[..., T], *args: Any) -> T:
    """Run blocking file work in a thread; when cancelled, let it finish first.

    (The caller's cleanup must not race a copy still writing into its directory.)
    """
    task = asyncio.ensure_future(asyncio.to_thread(fn, *args))
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await task
        raise


# What redis-check-aof prints (7.x; 6.x lacks the filename and the line).
_ANALYZED = re.compile(
    r"AOF analyzed: (?:filename=(?P<file>.+?), )?size=(?P<size>\d+), ok_up_to=(?P<ok>\d+)"
    r"(?:, ok_up_to_line=(?P<line>\d+))?, diff=(?P<diff>\d+)"
)
_DAMAGE = re.compile(r"(?i)not valid|not sane|format error|RDB ERROR|Bad file format")
_PROBLEM = re.compile(r"(?i)not valid|not sane|error|expected|cannot|can't|unexpected|fail")
_SHRINK = re.compile(
    r"This will shrink the AOF (?P<file>.+?) from \d+ bytes, .*to (?P<to>\d+) bytes"
)


def _parse_check(r: CommandResult) -> dict[str, Any]:
    output = r.stdout + r.stderr
    analyzed = [_analyzed(m) for m in _ANALYZED.finditer(output)]
    damage = [a for a in analyzed if a["diff"] > 0]
    valid: bool | None = None
    if damage or _DAMAGE.search(output):
        valid = False
    elif r.exit_code == 0:
        valid = True
    return {
        "valid": valid,
        "damage": damage,
        "analyzed": analyzed,
        "problems": [ln for ln in output.splitlines() if _PROBLEM.search(ln)],
        "check": _run_facts(r),
    }


def _analyzed(m: re.Match[str]) -> dict[str, Any]:
    line = m.group("line")
    return {
        "file": m.group("file"),
        "size": int(m.group("size")),
        "ok_up_to": int(m.group("ok")),
        "ok_up_to_line": None if line is None else int(line),
        "diff": int(m.group("diff")),
    }


def _run_facts(r: CommandResult) -> dict[str, Any]:
    return {
        "argv": list(r.argv),
        "exit_code": r.exit_code,
        "timed_out": r.timed_out,
        "duration_s": round(r.duration_s, 3),
        "output": r.stdout + r.stderr,
        "error": r.spawn_error,
    }


async def _would_fix(
    tool: str,
    target: _Target,
    size: int,
    *,
    env: Mapping[str, str],
    timeout: float,
    cut_cap: int,
    copy_limit: int,
    scratch: Path | None,
) -> dict[str, Any]:
    """Run ``--fix`` on a copy and compare: what it would cut from the real AOF."""
    if size > copy_limit:
        return {"skipped": f"the AOF is {size} bytes, over the {copy_limit}-byte dry-run limit"}
    try:
        tmp = Path(tempfile.mkdtemp(prefix="talon-aof-", dir=scratch))
    except OSError as exc:
        return {"error": f"no room for a dry run: {exc}"}
    try:
        await _in_thread(_copy, target.files, tmp)
        # --fix asks "Continue? [y/N]" on stdin.
        fix = await run_command(
            [tool, "--fix", str(tmp / target.check.name)],
            timeout=timeout,
            env=env,
            output_cap=CHECK_OUTPUT_CAP,
            input=b"y\n",
        )
        cuts = await _in_thread(_compare, target.files, tmp, cut_cap)
    except OSError as exc:
        return {"error": f"dry run on a copy failed: {exc}"}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    shrink = _SHRINK.search(fix.stdout)
    report = {
        "ran_on": "a temporary copy; the original was only read",
        "fixed_copy": "Successfully truncated" in fix.stdout,
        "announced": None if shrink is None else {"file": shrink["file"], "to": int(shrink["to"])},
        "cuts": cuts,
        "fix": _run_facts(fix),
    }
    if not cuts:
        report["note"] = "--fix changed nothing on the copy: it cannot repair this damage"
    return report


def _copy(files: Sequence[Path], into: Path) -> None:
    for f in files:
        shutil.copyfile(f, into / f.name)  # opens the original for reading only


def _compare(files: Sequence[Path], copy_dir: Path, cut_cap: int) -> list[dict[str, Any]]:
    changes: list[dict[str, Any]] = []
    for original in files:
        copy = copy_dir / original.name
        if not copy.is_file():
            changes.append({"file": original.name, "change": "removed"})
            continue
        kept = copy.stat().st_size
        size = original.stat().st_size
        if kept == size and _digest(copy) == _digest(original):
            continue
        if kept < size and _digest(copy) == _digest(original, kept):
            changes.append(_cut(original, kept, size, cut_cap))
        else:
            changes.append({"file": original.name, "change": "rewritten", "size_after": kept})
    return changes


def _cut(original: Path, start: int, end: int, cap: int) -> dict[str, Any]:
    with open(original, "rb") as f:
        f.seek(start)
        data = f.read(min(cap, end - start))
        f.seek(max(0, start - 120))
        before = f.read(min(120, start))
    return {
        "file": original.name,
        "change": "truncated",
        "from": start,
        "to": end,
        "bytes": end - start,
        "shown": len(data),
        "data": escape_bytes(data),
        "kept_tail": escape_bytes(before),  # the last good bytes, for orientation
    }


def _digest(path: Path, limit: int | None = None) -> str:
    digest = hashlib.sha256()
    left = path.stat().st_size if limit is None else limit
    with open(path, "rb") as f:
        while left > 0 and (chunk := f.read(min(BLOCK, left))):
            digest.update(chunk)
            left -= len(chunk)
    return digest.hexdigest()


_ESCAPES = {0x5C: "\\\\", 0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t"}


def escape_bytes(data: bytes) -> str:
    """Bytes as one printable line: RESP stays readable, anything else is ``\\xNN``."""
    return "".join(_ESCAPES.get(b) or (chr(b) if 0x20 <= b < 0x7F else f"\\x{b:02x}") for b in data)
