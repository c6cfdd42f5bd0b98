"""One directory per incident: what was seen, decided and done, redacted (R25, R26).

```
<root>/<incident-id>/
    incident.json        meta: id, opened_at, closed_at, outcome, root_cause, faults, trail
    timeline.jsonl       one record per line: decision, action.begin/end, evidence, state, note
    evidence/NNN-<moment>.json   snapshots, numbered in capture order
    outputs/<action>.log         what an action printed
```

A failed recovery's or a recurrence's snapshot carries ``hypothesis`` (name, why,
considered: ``talon.evidence.hypotheses``) beside ``moment``, and the timeline a
``hypothesis`` record; the summary names the latest.

Every write is redacted first (the known secret values, then patterns) and is
atomic or a single appended line; a failed write raises ``StoreError`` for
the caller to report (R31). Readers tolerate what a crash leaves behind.
"""

from __future__ import annotations

import builtins
import json
import math
import os
import re
import shutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from talon.redact import redact, redact_text
from talon.store.files import StoreError, append_line, atomic_write

META = "incident.json"
TIMELINE = "timeline.jsonl"
EVIDENCE = "evidence"
OUTPUTS = "outputs"
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_NUMBERED = re.compile(r"(\d+)-.*\.json")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True, slots=True)
class BundleSummary:
    incident_id: str
    path: Path
    opened_at: float | None
    closed_at: float | None
    outcome: str | None
    root_cause: str | None
    evidence_count: int  # evidence files
    action_count: int  # action.begin records in the timeline
    error: str | None = None  # why the meta could not be read
    hypothesis: str | None = None  # the latest seed-004 hypothesis named (failed recovery)

    @property
    def closed(self) -> bool:
        return self.closed_at is not None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "path": str(self.path)}


def check_id(incident_id: str) -> str:
    """An incident id names a directory: refuse anything that could leave the root."""
    if not _ID.fullmatch(incident_id) or ".." in incident_id:
        raise ValueError(f"bad incident id {incident_id!r}")
    return incident_id


class Bundles:
    def __init__(self, root: Path, known_secrets: Callable[[], Iterable[str]] = lambda: ()) -> None:
        self.root = root
        self._known_secrets = known_secrets

    def bundle(self, incident_id: str) -> Bundle:
        """The bundle of one incident; nothing is created before the first write."""
        return Bundle(self.root / check_id(incident_id), self._known_secrets)

    def list(self) -> list[BundleSummary]:
        """Every bundle, newest first; one with an unreadable meta is still listed."""
        try:
            dirs = [p for p in self.root.iterdir() if p.is_dir() and _ID.fullmatch(p.name)]
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise StoreError(f"cannot list {self.root}: {exc.strerror or exc}") from exc
        summaries = [Bundle(d, self._known_secrets).summary() for d in dirs]
        return sorted(summaries, key=_age, reverse=True)

    def prune(self, keep: int) -> builtins.list[str]:
        """Remove the oldest closed bundles beyond ``keep``; an open one is never removed."""
        closed = [s for s in self.list() if s.closed]
        removed = []
        for summary in closed[max(keep, 0) :]:
            try:
                shutil.rmtree(summary.path)
            except OSError as exc:
                raise StoreError(f"cannot remove {summary.path}: {exc.strerror or exc}") from exc
            removed.append(summary.incident_id)
        return removed


def _age(summary: BundleSummary) -> tuple[float, str]:
    return (summary.opened_at or 0.0, summary.incident_id)


class Bundle:
    def __init__(self, path: Path, known_secrets: Callable[[], Iterable[str]]) -> None:
        self.path = path
        self._known_secrets = known_secrets

    # writes ---------------------------------------------------------------------
    def capture(
        self,
        moment: str,
        snapshot: Mapping[str, Any],
        at: float,
        hypothesis: Mapping[str, Any] | None = None,
    ) -> Path:
        """Keep one snapshot as ``evidence/NNN-<moment>.json``; NNN continues after a restart."""
        head: dict[str, Any] = {"moment": moment, "at": at}
        if hypothesis is not None:
            head["hypothesis"] = hypothesis
        doc = self._redact({**head, "snapshot": snapshot})
        directory = self.path / EVIDENCE
        try:
            number = _next_number(directory)
        except OSError as exc:
            raise StoreError(f"cannot list {directory}: {exc.strerror or exc}") from exc
        path = directory / f"{number:03d}-{_slug(moment)}.json"
        atomic_write(path, _dumps(doc, indent=2).encode())
        return path

    def record(self, kind: str, at: float, **fields: Any) -> None:
        """Append one timeline record."""
        line = _dumps(self._redact({"at": at, "kind": kind, **fields})).encode()
        append_line(self.path / TIMELINE, line)  # on a fresh line after a torn one

    def write_output(self, name: str, text: str) -> Path:
        path = self.path / OUTPUTS / f"{safe_name(name)}.log"
        atomic_write(path, redact_text(text, self._secrets()).encode("utf-8", "replace"))
        return path

    def write_meta(self, meta: Mapping[str, Any]) -> None:
        atomic_write(self.path / META, _dumps(self._redact(meta), indent=2).encode())

    # reads ------------------------------------------------------------------------
    def meta(self) -> dict[str, Any] | None:
        """The incident's meta, or None when it is missing or unreadable."""
        value = _load(self.path / META)
        return value if isinstance(value, dict) else None

    def timeline(self) -> list[dict[str, Any]]:
        """Every record; a torn last line (a crash mid-append) is skipped."""
        try:
            data = (self.path / TIMELINE).read_bytes()
        except OSError:
            return []
        records = []
        for line in data.splitlines():
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                records.append(value)
        return records

    def evidence(self) -> list[tuple[str, dict[str, Any]]]:
        """(file name, content) in capture order; an unreadable file says so."""
        out = []
        for number, path in _numbered(self.path / EVIDENCE):
            value = _load(path)
            doc = value if isinstance(value, dict) else {"error": f"unreadable: {path.name}"}
            out.append((number, path.name, doc))
        return [(name, doc) for _, name, doc in sorted(out, key=lambda t: (t[0], t[1]))]

    def summary(self) -> BundleSummary:
        meta = self.meta()
        timeline = self.timeline()
        meta_ok = meta is not None
        meta = meta or {}
        first_at = timeline[0].get("at") if timeline else None
        return BundleSummary(
            incident_id=self.path.name,
            path=self.path,
            opened_at=_number(meta.get("opened_at")) or _number(first_at),
            closed_at=_number(meta.get("closed_at")),
            outcome=_text(meta.get("outcome")),
            root_cause=_text(meta.get("root_cause")),
            evidence_count=len(_numbered(self.path / EVIDENCE)),
            action_count=sum(1 for r in timeline if r.get("kind") == "action.begin"),
            error=None if meta_ok else f"{META} missing or unreadable",
            hypothesis=next(
                (_text(r.get("name")) for r in reversed(timeline) if r.get("kind") == "hypothesis"),
                None,
            ),
        )

    # helpers ----------------------------------------------------------------------
    def _secrets(self) -> tuple[str, ...]:
        try:
            return tuple(self._known_secrets())
        except Exception as exc:  # no secrets to mask with: refuse to write
            raise StoreError(f"cannot resolve secrets for redaction: {exc}") from exc

    def _redact(self, obj: Any) -> Any:
        return redact(_jsonable(obj), self._secrets())


def safe_name(name: str) -> str:
    """A file name from anything: no separators, no leading dots, bounded."""
    return _UNSAFE.sub("_", name).strip("._")[:100] or "output"


def _slug(moment: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", moment.lower()).strip("-")[:48] or "capture"


def _numbered(directory: Path, *, strict: bool = False) -> list[tuple[int, Path]]:
    """Evidence files and their numbers (not atomic_write's hidden temp files)."""
    try:
        names = os.listdir(directory)
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError:
        if strict:  # an unreadable directory must not restart the numbering at 001
            raise
        return []
    return [(int(m.group(1)), directory / n) for n in names if (m := _NUMBERED.fullmatch(n))]


def _next_number(directory: Path) -> int:
    return max((n for n, _ in _numbered(directory, strict=True)), default=0) + 1


def _jsonable(obj: Any) -> Any:
    """Plain JSON types all the way down, so redaction sees every string."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)  # NaN is not JSON
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        return [_jsonable(v) for v in obj]
    return str(obj)


def _dumps(obj: Any, indent: int | None = None) -> str:
    return json.dumps(obj, ensure_ascii=False, indent=indent, allow_nan=False)


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
