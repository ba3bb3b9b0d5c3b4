"""Key material: format, hashing, bearer parsing, durations, model patterns."""

from __future__ import annotations

import base64

import pytest

from visiongate.accounting.keys import (
    KEY_PREFIX,
    Principal,
    display_prefix,
    generate_key,
    hash_key,
    parse_bearer,
    parse_duration,
    static_key_id,
)


def test_generated_keys_carry_32_random_bytes_url_safe() -> None:
    keys = {generate_key() for _ in range(200)}
    assert len(keys) == 200
    for key in keys:
        assert key.startswith(KEY_PREFIX)
        body = key[len(KEY_PREFIX) :]
        assert len(base64.urlsafe_b64decode(body + "=")) == 32
        assert set(body) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_hash_and_prefix_reveal_neither_the_key_nor_each_other() -> None:
    key = generate_key()
    digest = hash_key(key)
    assert len(digest) == 64 and key not in digest
    assert digest == hash_key(key) and digest != hash_key(key + "x")
    assert key.startswith(display_prefix(key)) and len(display_prefix(key)) == 11
    assert static_key_id("abc") == static_key_id("abc") != static_key_id("abd")
    assert static_key_id("abc").startswith("static:") and "abc" not in static_key_id("abc")


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer vg-abc", "vg-abc"),
        ("bearer   vg-abc  ", "vg-abc"),
        ("BEARER vg-abc", "vg-abc"),
        ("Basic dXNlcjpwYXNz", None),
        ("Bearer", None),
        ("Bearer a b", None),
        ("vg-abc", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_bearer(header: str | None, token: str | None) -> None:
    assert parse_bearer(header) == token


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30d", 30 * 86400), ("12h", 43200), ("15m", 900), ("90s", 90), ("2w", 1209600), ("45", 45)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "d", "3x", "-1d", "0", "1.5.2h"])
def test_parse_duration_refuses_nonsense(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_principal_model_patterns() -> None:
    anyone = Principal("k", "n")
    assert anyone.may_use("gpt-4o") and not anyone.limited
    some = Principal("k", "n", models=("gpt-4o*", "local/*"), rpm=5)
    assert some.may_use("gpt-4o") and some.may_use("gpt-4o-mini") and some.may_use("local/ocr")
    assert not some.may_use("claude-3-5-sonnet") and not some.may_use("xgpt-4o")
    assert some.limited
