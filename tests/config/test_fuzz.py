"""No traceback on any input (issue 21 point 3, FAULTS.md F30).

Hypothesis writes ``config.toml`` and the services file from generated structures
(the real keys with wrong types, huge and negative numbers, NaN and inf, empty and
unicode strings, unknown keys, arrays where tables belong) and from damaged bytes
(invalid UTF-8, BOMs, UTF-16, absurd nesting, truncation). The loader either accepts
the files or raises ``ConfigError`` whose every problem names the file, the key where
there is one, the line where the text has one, what is wrong and the fix; any other
exception fails the test. About 200 examples in all, no deadline.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import shutil
import tempfile
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from talon.config import LoadedConfig, load
from talon.config.models import TalonConfig
from talon.config.probes import KIND_MODELS
from talon.errors import ConfigError
from talon.node import NodeIdentity

FULL = Path(__file__).resolve().parents[2] / "examples" / "full"
BASE_CONFIG: dict[str, Any] = tomllib.loads((FULL / "config.toml").read_text())
BASE_SERVICES: dict[str, Any] = tomllib.loads((FULL / "services.toml").read_text())

FUZZ = settings(
    max_examples=70,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# --- TOML text from structures -------------------------------------------------------

_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def _string(value: str) -> str:
    escaped = "".join(
        c
        if c not in '"\\' and (c == "\t" or (ord(c) >= 0x20 and ord(c) != 0x7F))
        else f"\\u{ord(c):04x}"
        for c in value
    )
    return f'"{escaped}"'


def _key(key: str) -> str:
    return key if _BARE.match(key) else _string(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, dt.date | dt.time):  # datetime is a date
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(value)


def render(doc: dict[str, Any]) -> str:
    """Tables (two levels, as both files write them) as headers, deeper ones inline."""
    lines: list[str] = []

    def table(path: tuple[str, ...], body: dict[str, Any]) -> None:
        subs = {k: v for k, v in body.items() if isinstance(v, dict) and len(path) < 2}
        if path and (len(subs) < len(body) or not subs):
            lines.append("[" + ".".join(_key(p) for p in path) + "]")
        lines.extend(f"{_key(k)} = {_value(v)}" for k, v in body.items() if k not in subs)
        for k, v in subs.items():
            table((*path, k), v)

    table((), doc)
    return "\n".join(lines) + "\n"


# --- generated values ----------------------------------------------------------------

_NUMBERS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 1, 65_536, 2**63, 10**30, -(10**30)]),
    st.floats(allow_nan=True, allow_infinity=True),
)
_STRINGS = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", " ", "yes", "3", "x" * 20_000, "\u00e9t\u00e9 \U0001f600", "~", "$HOME"]),
)
_SCALARS = st.one_of(
    _NUMBERS,
    _STRINGS,
    st.booleans(),
    st.sampled_from([dt.datetime(2024, 1, 2, 3, 4, 5), dt.date(1979, 5, 27), dt.time(7, 32)]),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


def _keys(model: type[Any]) -> list[str]:
    return sorted(
        {f.alias or name for name, f in model.model_fields.items()} | set(model.model_fields)
    )


_SECTIONS = {
    name: field.annotation
    for name, field in TalonConfig.model_fields.items()
    if name != "service_probes"
}


def _section_keys(section: str) -> list[str]:
    annotation = _SECTIONS.get(section)
    inner = getattr(annotation, "__args__", (annotation,))
    model = next((t for t in inner if isinstance(t, type) and hasattr(t, "model_fields")), None)
    return _keys(model) if model is not None else ["x"]


@st.composite
def config_docs(draw: st.DrawFn) -> dict[str, Any]:
    """The full example with a few keys overridden, removed or added, anywhere."""
    doc: dict[str, Any] = {k: dict(v) if isinstance(v, dict) else v for k, v in BASE_CONFIG.items()}
    for _ in range(draw(st.integers(1, 4))):
        section = draw(st.sampled_from([*_SECTIONS, "", "talon", "Worker"]))
        key = draw(st.sampled_from(_section_keys(section)) | st.text(max_size=8))
        value = draw(_VALUES)
        where = doc.get(section) if section else doc
        if (section and not isinstance(where, dict)) or draw(st.integers(0, 9)) == 0:
            doc[section or key] = value  # the section itself replaced: an array, a number ...
        elif isinstance(where, dict):
            if draw(st.booleans()) and where:
                where.pop(draw(st.sampled_from(sorted(where))))
            where[key] = value
    return doc


_PROBE_KEYS = sorted({k for model in KIND_MODELS.values() for k in _keys(model)})


@st.composite
def services_docs(draw: st.DrawFn) -> dict[str, Any]:
    """The full example's probes, some of them with keys given wrong values or added."""
    doc: dict[str, Any] = {
        kind: {name: dict(body) for name, body in probes.items()}
        for kind, probes in BASE_SERVICES.items()
    }
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(sorted(KIND_MODELS)) | st.text(max_size=6))
        probes = doc.setdefault(kind, {})
        if not isinstance(probes, dict) or draw(st.integers(0, 9)) == 0:
            doc[kind] = draw(_VALUES)  # a kind that is not a table of probes
            continue
        names = sorted(probes)
        name = draw(st.sampled_from(names) if names else st.text(max_size=6))
        body = probes.setdefault(name, {})
        if not isinstance(body, dict) or draw(st.integers(0, 9)) == 0:
            probes[name] = draw(_VALUES)
            continue
        body[draw(st.sampled_from(_PROBE_KEYS) | st.text(max_size=6))] = draw(_VALUES)
    return doc


# --- damaged bytes -------------------------------------------------------------------

_NESTING = st.sampled_from([50, 1_000, 100_000])
_MUTATIONS: list[Callable[[bytes, st.DrawFn], bytes]] = [
    lambda b, draw: b"\xef\xbb\xbf" + b,  # a UTF-8 BOM, as some editors save
    lambda b, draw: b.decode(errors="replace").encode("utf-16"),  # UTF-16 with its BOM
    lambda b, draw: (
        b.decode(errors="replace").encode("latin-1", "replace") + b"\nx = '\xe9t\xe9'\n"
    ),
    lambda b, draw: b[: draw(st.integers(0, len(b)))],  # torn
    lambda b, draw: _insert(b, draw, draw(st.binary(min_size=1, max_size=8))),
    lambda b, draw: b + b"\nnested = " + b"[" * (n := draw(_NESTING)) + b"]" * n + b"\n",
    lambda b, draw: b + b"\ndeep = " + b"{a = " * (n := draw(_NESTING)) + b"1" + b"}" * n,
    lambda b, draw: b + b"\nhuge = 1" + b"0" * draw(st.sampled_from([30, 5_000, 50_000])),
    lambda b, draw: b + b"\nfloaty = 1e" + b"9" * draw(st.sampled_from([3, 400])) + b"\n",
    lambda b, draw: draw(st.binary(max_size=64)),
    lambda b, draw: b.replace(b"=", b"= [", 1),
    lambda b, draw: b"\x00" + b,
]


def _insert(data: bytes, draw: st.DrawFn, extra: bytes) -> bytes:
    at = draw(st.integers(0, len(data)))
    return data[:at] + extra + data[at:]


@st.composite
def damaged(draw: st.DrawFn) -> tuple[str, bytes]:
    which = draw(st.sampled_from(["config", "services"]))
    text = render(BASE_CONFIG) if which == "config" else render(BASE_SERVICES)
    data = text.encode()
    for _ in range(draw(st.integers(1, 2))):
        data = draw(st.sampled_from(_MUTATIONS))(data, draw)
    return which, data


# --- the check -----------------------------------------------------------------------


@contextmanager
def _files() -> Iterator[tuple[Path, NodeIdentity]]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name in ("config.toml", "services.toml"):
            shutil.copy(FULL / name, root / name)
            (root / name).chmod(0o600)  # whatever the checkout's umask gave the examples
        identity = NodeIdentity(
            node_id="fuzz",
            platform="linux",
            arch="amd64",
            config_dir=root,
            state_dir=root / "state",
            log_dir=root / "log",
        )
        yield root, identity


def _load_cleanly(root: Path, identity: NodeIdentity) -> LoadedConfig | ConfigError:
    """The loader's answer; any exception but ConfigError propagates and fails the test."""
    files = {root / "config.toml", root / "services.toml"}
    try:
        return load(root / "config.toml", identity=identity, env={"HOME": str(root)})
    except ConfigError as caught:
        error = caught
    assert error.problems, "a ConfigError lists at least one problem"
    for problem in error.problems:
        rendered = problem.render()
        assert problem.message, rendered
        assert problem.fix, rendered
        if problem.file in files and problem.file.exists():
            said = problem.key or problem.line or "TOML" in problem.message
            assert said or "UTF-8" in problem.message, f"no key and no line: {rendered}"
        if "invalid TOML" in problem.message:
            assert problem.line, f"a TOML syntax error has its line: {rendered}"
    return error


@FUZZ
@given(doc=config_docs())
def test_generated_config_files_load_or_fail_cleanly(doc: dict[str, Any]) -> None:
    with _files() as (root, identity):
        (root / "config.toml").write_text(render(doc), encoding="utf-8")
        _load_cleanly(root, identity)


@FUZZ
@given(doc=services_docs())
def test_generated_services_files_load_or_fail_cleanly(doc: dict[str, Any]) -> None:
    with _files() as (root, identity):
        (root / "services.toml").write_text(render(doc), encoding="utf-8")
        _load_cleanly(root, identity)


@settings(FUZZ, max_examples=60)
@given(case=damaged())
def test_damaged_bytes_load_or_fail_cleanly(case: tuple[str, bytes]) -> None:
    which, data = case
    with _files() as (root, identity):
        (root / f"{which}.toml").write_bytes(data)
        _load_cleanly(root, identity)


def test_the_renderer_round_trips_the_examples() -> None:
    assert tomllib.loads(render(BASE_CONFIG)) == BASE_CONFIG
    assert tomllib.loads(render(BASE_SERVICES)) == BASE_SERVICES


@pytest.mark.parametrize(
    ("which", "text", "key", "says"),
    [
        (
            "services",
            "[http.x]\nurl = 'http://a/'\ncritical = \"yes\"\n",
            "http.x.critical",
            "bool",
        ),
        (
            "services",
            "[http.x]\nurl = 'http://a/'\ntimeout_secs = \"3\"\n",
            "http.x.timeout_secs",
            "",
        ),
        ("config", 'check_interval_secs = "60"\n', "check_interval_secs", "int"),
        ("config", "check_interval_secs = 60.0\n", "check_interval_secs", "int"),
        ("config", "[health]\nenabled = 1\n", "health.enabled", "bool"),
        ("config", "[worker]\nport = 1e30\n", "worker.port", ""),
        ("config", "heal_timeout_secs = nan\n", "heal_timeout_secs", ""),
        (
            "services",
            "[tcp.x]\naddress = '127.0.0.1:1'\ntimeout_secs = nan\n",
            "tcp.x.timeout_secs",
            "",
        ),
        (
            "services",
            "[tcp.x]\naddress = '127.0.0.1:1'\ntimeout_secs = inf\n",
            "tcp.x.timeout_secs",
            "",
        ),
    ],
)
def test_wrong_types_are_errors_not_coerced(which: str, text: str, key: str, says: str) -> None:
    with _files() as (root, identity):
        (root / f"{which}.toml").write_text(text)
        error = _load_cleanly(root, identity)
        assert isinstance(error, ConfigError), f"{text!r} was accepted"
        problem = next(p for p in error.problems if p.key == key)
        name = key.split(".")[-1]
        lines = text.splitlines()
        assert problem.line == next(i for i, s in enumerate(lines, 1) if s.startswith(name))
        assert says in problem.message


@pytest.mark.parametrize(
    "text",
    [
        "[tcp.x]\naddress = '127.0.0.1:1'\ntimeout_secs = 3\n",
        "[tcp.x]\naddress = '127.0.0.1:1'\ntimeout_secs = 2.5\n",
    ],
)
def test_an_int_is_still_a_valid_float(text: str) -> None:
    with _files() as (root, identity):
        (root / "services.toml").write_text(text)
        assert isinstance(_load_cleanly(root, identity), LoadedConfig)


LONG = "x" * 5_000


@pytest.mark.parametrize(
    ("which", "text", "key"),
    [
        ("config", f'services_file = "{LONG}"\n', "services_file"),  # the OS refuses it
        ("config", f'heal_script = "{LONG}"\n', "ok"),
        ("config", f'[worker]\ndir = "{LONG}"\nenv_file = "{LONG}"\n', "ok"),
        ("services", f'[ssh.x]\nhost = "a"\nidentity_file = "/{LONG}"\n', "ok"),
        ("config", 'heal_script = "run\\u0000me"\n', "heal_script"),
        ("services", '[script.x]\ncommand = "true"\n"a\\u0000" = 1\n', 'script.x."a\\u0000"'),
        ("services", '"" = 1\n', '""'),
        ("services", '[http.""]\nurl = "http://a/"\n', 'http.""'),
        ("services", '[tcp.x]\naddress = "127.0.0.1:\u0663\u0663"\n', "tcp.x.address"),
        ("services", f'[tcp.x]\naddress = "a:{"9" * 5000}"\n', "tcp.x.address"),
        ("services", '[k8s.x]\ncheck = "can_i"\nverb = [1]\nresource = "r"\n', "k8s.x.verb.0"),
        ("services", '[htpp.x]\nurl = "http://a/"\n', "htpp"),
    ],
)
def test_hostile_values_are_named_errors(which: str, text: str, key: str | None) -> None:
    with _files() as (root, identity):
        (root / f"{which}.toml").write_text(text)
        answer = _load_cleanly(root, identity)
        if key == "ok":  # only checked for warnings: a name too long is "does not exist"
            assert isinstance(answer, LoadedConfig), answer
            return
        assert isinstance(answer, ConfigError), f"{text[:60]!r} was accepted"
        assert key in [p.key for p in answer.problems], str(answer)
        assert all(len(p.render()) < 1_000 for p in answer.problems), str(answer)


def test_a_utf8_bom_is_read_and_utf16_is_named() -> None:
    with _files() as (root, identity):
        services = root / "services.toml"
        services.write_bytes(b"\xef\xbb\xbf" + b'[tcp.x]\naddress = "127.0.0.1:1"\n')
        assert isinstance(_load_cleanly(root, identity), LoadedConfig)
        services.write_bytes('[tcp.x]\naddress = "127.0.0.1:1"\n'.encode("utf-16"))
        error = _load_cleanly(root, identity)
        assert isinstance(error, ConfigError)
        assert "UTF-16" in error.problems[0].message
        services.write_bytes(b'[tcp.x]\naddress = "127.0.0.1:1"\ntags = ["caf\xe9"]\n')
        error = _load_cleanly(root, identity)
        assert isinstance(error, ConfigError)
        assert error.problems[0].line == 3
        assert "not UTF-8" in error.problems[0].message
