"""Redaction: a known secret never survives, however it is embedded (R26)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from talon.redact import MASK, redact, redact_text

secrets = st.text(min_size=4, max_size=24)
filler = st.text(max_size=40)
TOKEN_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/"


@given(secret=secrets, before=filler, after=filler)
def test_a_known_secret_never_survives_in_text(secret: str, before: str, after: str) -> None:
    assert secret not in redact_text(before + secret + after, [secret])


@given(values=st.lists(secrets, min_size=1, max_size=4), pieces=st.lists(filler, max_size=6))
def test_several_secrets_interleaved_in_any_order(values: list[str], pieces: list[str]) -> None:
    text = "".join(p + values[i % len(values)] for i, p in enumerate(pieces)) + "".join(values)
    out = redact_text(text, values)
    assert not any(v in out for v in values)


def _strings(obj: Any) -> list[str]:
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, dict):
        return [s for k, v in obj.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(obj, list):
        return [s for v in obj for s in _strings(v)]
    return []


@given(data=st.data(), secret=secrets)
def test_a_known_secret_never_survives_in_a_structure(data: st.DataObject, secret: str) -> None:
    embedded = st.builds(lambda a, b: a + secret + b, filler, filler)
    leaves = st.one_of(embedded, filler, st.integers(), st.none())
    tree = st.recursive(
        leaves,
        lambda kids: (
            st.lists(kids, max_size=3)
            | st.dictionaries(st.one_of(embedded, filler), kids, max_size=3)
        ),
        max_leaves=12,
    )
    obj = data.draw(tree)
    assert not any(secret in s for s in _strings(redact(obj, [secret])))


@given(
    token=st.text(alphabet=TOKEN_CHARS, min_size=8, max_size=60),
    scheme=st.sampled_from(["Bearer", "bearer", "Basic", "Token"]),
    before=filler,
    after=st.text(alphabet=" \n,;'\"", max_size=3).map(lambda s: s + "next"),
)
def test_authorization_headers_lose_their_credential(
    token: str, scheme: str, before: str, after: str
) -> None:
    assume(token not in before + after)
    out = redact_text(f"{before}\nAuthorization: {scheme} {token}{after}")
    assert token not in out


@given(token=st.from_regex(r"\A[0-9]{8,10}:[A-Za-z0-9_-]{35}\Z"), before=filler)
def test_telegram_bot_tokens(token: str, before: str) -> None:
    secret = token.split(":", 1)[1]
    assume(secret not in before)
    out = redact_text(f"{before} https://api.telegram.org/bot{token}/sendMessage")
    assert secret not in out


@given(body=st.lists(st.text(alphabet=TOKEN_CHARS, min_size=10, max_size=64), min_size=1))
def test_private_key_blocks_even_torn_ones(body: list[str]) -> None:
    block = "\n".join(body)
    whole = f"x\n-----BEGIN RSA PRIVATE KEY-----\n{block}\n-----END RSA PRIVATE KEY-----\ny"
    torn = f"x\n-----BEGIN OPENSSH PRIVATE KEY-----\n{block}"
    assert block not in redact_text(whole)
    assert redact_text(whole).endswith("-----END RSA PRIVATE KEY-----\ny")
    assert block not in redact_text(torn)


@given(text=st.text(max_size=300))
def test_redact_text_accepts_anything(text: str) -> None:
    out = redact_text(text, ["abcd"])
    assert "abcd" not in out


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("password: my secret phrase\nuser: bob", "password: ***\nuser: bob"),
        ('  db_password: "hunter2 x"', "  db_password: ***"),
        ("password = two words", "password = ***"),
        ("author: Jane\nauthentication: on", "author: Jane\nauthentication: on"),
        (
            "GET /cb?code=abc&state=ok&access_token=zzz",
            "GET /cb?code=***&state=ok&access_token=***",
        ),
        ("see https://h/x?token=abc&x=1", "see https://h/x?token=***&x=1"),
        ("redis://user:pa55@127.0.0.1:6379/0", "redis://user:***@127.0.0.1:6379/0"),
        ('{"token": "abc", "ok": 1}', '{"token": "***", "ok": 1}'),
        ("Cookie: a=b; c=d", "Cookie: ***"),
        ("key ghp_" + "a" * 36 + " end", "key *** end"),
        ("id AKIAIOSFODNN7EXAMPLE end", "id *** end"),
        ("plain log line 20240101123456:abc", "plain log line 20240101123456:abc"),
    ],
)
def test_patterns(text: str, expected: str) -> None:
    assert redact_text(text) == expected


def test_keys_that_name_a_secret_lose_their_value() -> None:
    obj = {"api_key": "x", "Authorization": "y", "nested": [{"password": "z", "n": 1}], "id": "i"}
    assert redact(obj) == {
        "api_key": MASK,
        "Authorization": MASK,
        "nested": [{"password": MASK, "n": 1}],
        "id": "i",
    }


def test_short_values_are_not_treated_as_secrets() -> None:
    assert redact_text("a b c abc", ["abc", ""]) == "a b c abc"


def test_pathological_input_stays_fast() -> None:
    text = (
        "tokentoken" * 6000
        + "\n"
        + "1234567890" * 6000
        + "\n"
        + "a:" * 30000
        + "://" * 20000
        + "?" * 30000
        + "-----BEGIN A PRIVATE KEY-----" * 1000
    )
    started = time.monotonic()
    redact_text(text, ["never-present-secret"])
    assert time.monotonic() - started < 2.0
