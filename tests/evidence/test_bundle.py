"""Incident bundles on a real file system: numbering, redaction, torn lines, pruning, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from talon.evidence.bundle import Bundles
from talon.store.files import StoreError

SECRET = "s3cr3t-Value-0042"
BEARER = "eyAbC.dEf-123_xyz"


def _bundles(root: Path) -> Bundles:
    return Bundles(root, known_secrets=lambda: [SECRET])


def _all_text(directory: Path) -> str:
    return "".join(p.read_text() for p in sorted(directory.rglob("*")) if p.is_file())


def test_numbering_continues_in_a_new_bundles_object(tmp_path: Path) -> None:
    first = _bundles(tmp_path).bundle("node-a-3")
    assert first.capture("failure detected", {"x": 1}, 10.0).name == "001-failure-detected.json"
    assert first.capture("before force-cycle", {"x": 2}, 11.0).name == "002-before-force-cycle.json"

    again = _bundles(tmp_path).bundle("node-a-3")  # a restarted daemon
    path = again.capture("after force-cycle", {"x": 3}, 12.0)

    assert path.name == "003-after-force-cycle.json"
    assert [(name, doc["snapshot"]["x"]) for name, doc in again.evidence()] == [
        ("001-failure-detected.json", 1),
        ("002-before-force-cycle.json", 2),
        ("003-after-force-cycle.json", 3),
    ]
    assert again.evidence()[0][1]["moment"] == "failure detected"
    assert again.evidence()[0][1]["at"] == 10.0


def test_secrets_are_redacted_in_every_write(tmp_path: Path) -> None:
    bundle = _bundles(tmp_path).bundle("node-a-3")
    header = f"Authorization: Bearer {BEARER}"
    bundle.capture(
        "failure detected",
        {
            "commands": {"env": {"stdout": f"TOKEN_VALUE={SECRET}\n{header}\n"}},
            "path": Path(SECRET),
        },
        1.0,
    )
    bundle.record("note", 2.0, text=f"curl -H '{header}'", args=[SECRET], **{SECRET: "as key"})
    bundle.write_output("heal/script", f"got {SECRET}\n{header}\n")
    bundle.write_meta({"id": "node-a-3", "opened_at": 1.0, "trail": [f"reason {SECRET}"]})

    written = _all_text(bundle.path)
    assert SECRET not in written
    assert BEARER not in written
    assert "Authorization: Bearer ***" in written
    assert (bundle.path / "outputs" / "heal_script.log").is_file()


def test_the_secrets_are_asked_for_at_each_write(tmp_path: Path) -> None:
    """A reload may bring new secrets: the callable is read each time."""
    secrets: list[str] = []
    bundle = Bundles(tmp_path, known_secrets=lambda: secrets).bundle("i-1")
    secrets.append("rotated-secret-value")
    bundle.record("note", 1.0, text="value rotated-secret-value")
    assert "rotated-secret-value" not in (bundle.path / "timeline.jsonl").read_text()


def test_a_torn_last_timeline_line_is_skipped_and_the_next_record_kept(tmp_path: Path) -> None:
    bundle = _bundles(tmp_path).bundle("node-a-3")
    bundle.record("decision", 1.0, rule="debounce", outcome="acted", reason="r")
    bundle.record("action.begin", 2.0, action="restart")
    with open(bundle.path / "timeline.jsonl", "ab") as f:
        f.write(b'{"at": 3.0, "kind": "act')  # a crash mid-append
    assert [r["kind"] for r in bundle.timeline()] == ["decision", "action.begin"]

    bundle.record("action.end", 4.0, outcome="ok")

    assert [r["kind"] for r in bundle.timeline()] == ["decision", "action.begin", "action.end"]


def test_list_summarises_newest_first_with_an_unreadable_meta(tmp_path: Path) -> None:
    bundles = _bundles(tmp_path)
    old = bundles.bundle("node-a-1")
    old.write_meta({"id": "node-a-1", "opened_at": 100.0, "closed_at": 150.0, "outcome": "healed"})
    old.capture("failure detected", {}, 100.0)
    old.record("action.begin", 101.0, action="restart")
    old.record("action.end", 102.0, action="restart")
    new = bundles.bundle("node-a-2")
    new.record("state", 200.0, before="healthy", after="degraded")
    (new.path / "incident.json").write_text("{not json")

    summaries = bundles.list()

    assert [s.incident_id for s in summaries] == ["node-a-2", "node-a-1"]
    broken, healed = summaries
    assert broken.opened_at == 200.0  # from the timeline
    assert broken.error is not None
    assert not broken.closed
    assert (healed.outcome, healed.closed_at, healed.evidence_count, healed.action_count) == (
        "healed",
        150.0,
        1,
        1,
    )
    assert json.dumps(healed.as_dict())


def test_a_failed_recoverys_hypothesis_is_in_its_evidence_and_the_summary(tmp_path: Path) -> None:
    bundle = _bundles(tmp_path).bundle("node-a-4")
    bundle.capture("failure detected", {"x": 1}, 1.0)
    named = {
        "name": "stale_usernet_recovery",
        "why": f"localhost dead, vm answers (token {SECRET})",
        "considered": [{"name": "healer_induced_churn", "supported": False, "fact": "none"}],
    }
    path = bundle.capture("recovery regressed", {"x": 2}, 2.0, named)
    bundle.record("hypothesis", 2.0, moment="recovery regressed", file=path.name, name="x")
    bundle.record("hypothesis", 3.0, moment="recurrence", file=path.name, name=named["name"])

    (_, first), (_, regressed) = bundle.evidence()
    assert "hypothesis" not in first
    assert regressed["hypothesis"]["name"] == "stale_usernet_recovery"
    assert SECRET not in regressed["hypothesis"]["why"]  # redacted like the rest
    assert regressed["snapshot"] == {"x": 2}
    summary = bundle.summary()
    assert summary.hypothesis == "stale_usernet_recovery"  # the latest
    assert summary.as_dict()["hypothesis"] == "stale_usernet_recovery"
    assert _bundles(tmp_path).bundle("node-a-5").summary().hypothesis is None


def test_prune_removes_the_oldest_closed_and_never_an_open_one(tmp_path: Path) -> None:
    bundles = _bundles(tmp_path)
    for n, closed in [(1, True), (2, False), (3, True), (4, True), (5, False)]:
        meta = {"id": f"n-{n}", "opened_at": float(n), "closed_at": n + 0.5 if closed else None}
        bundles.bundle(f"n-{n}").write_meta(meta)
    bundles.bundle("n-0").record("note", 0.0, text="no meta: cannot be known to be closed")

    removed = bundles.prune(1)

    assert sorted(removed) == ["n-1", "n-3"]
    assert sorted(s.incident_id for s in bundles.list()) == ["n-0", "n-2", "n-4", "n-5"]
    assert bundles.prune(1) == []


@pytest.mark.parametrize("bad", ["../x", "a/b", "..", "a..b", "", ".hidden", "/abs", "a\x00b"])
def test_bad_ids_are_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError, match="bad incident id"):
        _bundles(tmp_path).bundle(bad)


def test_write_errors_raise_store_error(tmp_path: Path) -> None:
    root = tmp_path / "incidents"
    root.write_text("a regular file where the directory should be")
    bundles = _bundles(root)
    bundle = bundles.bundle("node-a-3")

    with pytest.raises(StoreError):
        bundle.capture("failure detected", {}, 1.0)
    with pytest.raises(StoreError):
        bundle.record("note", 1.0, text="x")
    with pytest.raises(StoreError):
        bundle.write_output("x", "y")
    with pytest.raises(StoreError):
        bundle.write_meta({"id": "node-a-3"})
    with pytest.raises(StoreError):
        bundles.list()
    assert bundle.meta() is None
    assert bundle.timeline() == []
    assert bundle.evidence() == []


def test_a_failing_secret_source_refuses_the_write(tmp_path: Path) -> None:
    def broken() -> list[str]:
        raise RuntimeError("secrets command failed")

    bundle = Bundles(tmp_path, known_secrets=broken).bundle("i-1")
    with pytest.raises(StoreError, match="redaction"):
        bundle.record("note", 1.0, text="x")
    assert not (bundle.path / "timeline.jsonl").exists()


def test_snapshots_with_odd_values_still_serialise(tmp_path: Path) -> None:
    bundle = _bundles(tmp_path).bundle("i-1")
    path = bundle.capture("moment/../with odd chars!", {"nan": float("nan"), "set": {3}}, 1.0)
    assert path.parent == bundle.path / "evidence"
    assert path.name == "001-moment-with-odd-chars.json"
    assert bundle.evidence()[0][1]["snapshot"] == {"nan": "nan", "set": [3]}
