"""Data URL parsing: strict alphabet, tolerated whitespace, declared type checks."""

from __future__ import annotations

import base64

import pytest

from visiongate.errors import ImageError
from visiongate.images.data_url import parse_data_url

PARAM = "messages[0].content[1].image_url.url"
PAYLOAD = bytes(range(256)) * 3
B64 = base64.b64encode(PAYLOAD).decode()


def parse(url: str, max_bytes: int = 1_000_000):  # type: ignore[no-untyped-def]
    return parse_data_url(url, PARAM, max_bytes)


def refused(url: str, max_bytes: int = 1_000_000) -> ImageError:
    with pytest.raises(ImageError) as info:
        parse(url, max_bytes)
    assert info.value.param == PARAM
    return info.value


def test_plain_payload_is_decoded_and_kept_as_sent() -> None:
    parsed = parse(f"data:image/png;base64,{B64}")
    assert parsed.data == PAYLOAD
    assert parsed.b64 == B64
    assert parsed.declared_type == "image/png"


def test_scheme_and_type_are_case_insensitive_and_parameters_allowed() -> None:
    parsed = parse(f"DATA:Image/JPEG;name=photo.jpg;BASE64,{B64}")
    assert parsed.data == PAYLOAD
    assert parsed.declared_type == "image/jpeg"


def test_whitespace_is_tolerated_and_removed_from_the_canonical_payload() -> None:
    wrapped = "\n".join(B64[i : i + 76] for i in range(0, len(B64), 76))
    parsed = parse(f"data:image/png;base64,{wrapped}\r\n ")
    assert parsed.data == PAYLOAD
    assert parsed.b64 == B64


def test_missing_padding_is_restored() -> None:
    raw = b"ab"  # base64 "YWI="
    parsed = parse("data:image/png;base64,YWI")
    assert parsed.data == raw
    assert parsed.b64 == "YWI="


@pytest.mark.parametrize(
    "payload",
    [
        B64.replace("+", "-").replace("/", "_") + "-_",  # URL-safe alphabet
        "aGVsbG8%3D",  # percent-encoded
        "aGVsbG8=!",
        "Y",  # one character cannot encode a byte
        "YWI=YWI=",  # padding in the middle
        "é" + B64,
    ],
)
def test_characters_outside_the_alphabet_are_refused(payload: str) -> None:
    error = refused(f"data:image/png;base64,{payload}")
    assert error.code == "invalid_image_url"
    assert "base64" in error.message


@pytest.mark.parametrize(
    "url",
    [
        "data:image/png," + B64,  # not base64-encoded
        "data:image/png;base64",  # no comma
        "data:" + B64,
        "data:image/png;base64,",  # empty
    ],
)
def test_malformed_data_urls_are_refused(url: str) -> None:
    assert refused(url).code == "invalid_image_url"


@pytest.mark.parametrize("declared", ["text/plain", "application/octet-stream", "", "imagepng"])
def test_a_declared_type_that_is_not_an_image_is_refused(declared: str) -> None:
    error = refused(f"data:{declared};base64,{B64}")
    assert error.code == "invalid_image_url"
    assert "not an image type" in error.message


def test_an_image_type_that_does_not_match_the_bytes_is_not_refused_here() -> None:
    # The sniffer decides the real type; parsing only checks it claims to be an image.
    assert parse(f"data:image/gif;base64,{B64}").data == PAYLOAD


def test_decoded_bytes_over_the_cap_are_image_too_large() -> None:
    error = refused(f"data:image/png;base64,{B64}", max_bytes=len(PAYLOAD) - 1)
    assert error.code == "image_too_large"
    assert parse(f"data:image/png;base64,{B64}", max_bytes=len(PAYLOAD)).data == PAYLOAD


def test_a_payload_far_over_the_cap_is_refused_before_decoding() -> None:
    error = refused("data:image/png;base64," + "!" * 10_000, max_bytes=100)
    assert error.code == "image_too_large"
