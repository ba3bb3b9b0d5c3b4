"""Data URL parsing: strict alphabet, tolerated whitespace, declared type checks, and the
validation in pieces that keeps only the first and last bytes."""

from __future__ import annotations

import base64
import os

import pytest

from visiongate.errors import ImageError
from visiongate.images.data_url import DataUrl, parse_data_url

PARAM = "messages[0].content[1].image_url.url"
PAYLOAD = bytes(range(256)) * 3
B64 = base64.b64encode(PAYLOAD).decode()
PIECE = 262_144  # characters validated at a time (data_url._PIECE)
KEPT = 65_536  # decoded bytes kept of each end of a longer payload


def parse(url: str | bytes, max_bytes: int = 1_000_000) -> DataUrl:
    return parse_data_url(url, PARAM, max_bytes)


def decoded(url: str, parsed: DataUrl) -> bytes:
    """The bytes the parsed URL stands for, from where it says its base64 is."""
    text = parsed.b64 if parsed.b64 is not None else url[parsed.at :]
    return base64.b64decode(text, validate=True)


def refused(url: str | bytes, max_bytes: int = 1_000_000) -> ImageError:
    with pytest.raises(ImageError) as info:
        parse(url, max_bytes)
    assert info.value.param == PARAM
    return info.value


def test_a_short_payload_is_validated_whole_and_its_copy_kept() -> None:
    url = f"data:image/png;base64,{B64}"
    parsed = parse(url)
    assert (parsed.at, parsed.b64) == (len("data:image/png;base64,"), B64)
    assert parsed.nbytes == len(PAYLOAD) and decoded(url, parsed) == PAYLOAD
    assert parsed.head is parsed.tail and parsed.head == PAYLOAD  # one piece: all of it
    assert parsed.declared_type == "image/png"


def test_scheme_and_type_are_case_insensitive_and_parameters_allowed() -> None:
    url = f"DATA:Image/JPEG;name=photo.jpg;BASE64,{B64}"
    parsed = parse(url)
    assert url[parsed.at :] == B64
    assert parsed.declared_type == "image/jpeg"


def test_whitespace_is_tolerated_and_removed_from_the_canonical_payload() -> None:
    wrapped = "\n".join(B64[i : i + 76] for i in range(0, len(B64), 76))
    parsed = parse(f"data:image/png;base64,{wrapped}\r\n ")
    assert (parsed.at, parsed.b64, parsed.nbytes) == (0, B64, len(PAYLOAD))
    assert parsed.head == PAYLOAD


@pytest.mark.parametrize("raw", [b"a", b"ab", b"abc", b"abcd"])
def test_missing_padding_is_restored_and_the_length_counts_it(raw: bytes) -> None:
    unpadded = base64.b64encode(raw).decode().rstrip("=")
    parsed = parse(f"data:image/png;base64,{unpadded}")
    assert parsed.nbytes == len(raw) and parsed.head == raw
    assert parsed.b64 == base64.b64encode(raw).decode()
    assert parsed.at == (0 if len(raw) % 3 else len("data:image/png;base64,"))


@pytest.mark.parametrize("extra", [0, 5, 100_000])
def test_a_long_payload_is_not_copied_and_keeps_only_its_ends(extra: int) -> None:
    raw = os.urandom(PIECE // 4 * 3 * 3 + extra)  # three whole pieces and some more
    url = "data:image/jpeg;base64," + base64.b64encode(raw).decode()
    parsed = parse(url, max_bytes=len(raw))
    assert (parsed.at, parsed.b64, parsed.nbytes) == (23, None, len(raw))
    assert parsed.head == raw[:KEPT]
    assert parsed.tail == raw[-KEPT:]  # across the last two pieces when the last is short


@pytest.mark.parametrize(
    "payload",
    [
        B64.replace("+", "-").replace("/", "_") + "-_",  # URL-safe alphabet
        "aGVsbG8%3D",  # percent-encoded
        "aGVsbG8=!",
        "Y",  # one character cannot encode a byte
        "YWI=YWI=",  # padding in the middle
        "é" + B64,
        "A" * (PIECE - 4) + "YQ==" + "YWJj" * 10,  # padding where a piece ends
        "A" * (PIECE * 2) + "YW_j" + "A" * 100,  # a bad character in a later piece
        "A" * (PIECE * 2) + "é" + "A" * 99,
    ],
)
def test_characters_outside_the_alphabet_are_refused(payload: str) -> None:
    error = refused(f"data:image/png;base64,{payload}")
    assert error.code == "invalid_image_url"
    assert "base64" in error.message
    # The same payload as the body cutter hands it over: UTF-8 bytes, not a string.
    as_bytes = refused(f"data:image/png;base64,{payload}".encode())
    assert (as_bytes.code, as_bytes.message) == (error.code, error.message)


@pytest.mark.parametrize(
    "url",
    [
        "data:image/png," + B64,  # not base64-encoded
        "data:image/png;base64",  # no comma
        "data:" + B64,
        "data:image/png;base64,",  # empty
        "data:image/png;base64, \n",  # only whitespace
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
    assert parse(f"data:image/gif;base64,{B64}").nbytes == len(PAYLOAD)


def test_decoded_bytes_over_the_cap_are_image_too_large() -> None:
    error = refused(f"data:image/png;base64,{B64}", max_bytes=len(PAYLOAD) - 1)
    assert error.code == "image_too_large"
    assert parse(f"data:image/png;base64,{B64}", max_bytes=len(PAYLOAD)).nbytes == len(PAYLOAD)
    # The length counts the padding: 3 bytes under the cap, 1 byte over it.
    assert refused("data:image/png;base64,YWJjZA==", max_bytes=3).code == "image_too_large"


def test_invalid_base64_is_reported_before_its_size() -> None:
    error = refused("data:image/png;base64," + "YWJj" * 10 + "!", max_bytes=25)
    assert error.code == "invalid_image_url"


def test_a_payload_far_over_the_cap_is_refused_before_decoding() -> None:
    error = refused("data:image/png;base64," + "!" * 10_000, max_bytes=100)
    assert error.code == "image_too_large"


@pytest.mark.parametrize("extra", [0, PIECE * 2 + 12])  # one piece, and several
def test_a_url_given_as_bytes_parses_as_its_string_does(extra: int) -> None:
    payload = PAYLOAD + os.urandom(extra)
    url = f"data:image/jpeg;base64,{base64.b64encode(payload).decode()}"
    as_text, as_bytes = parse(url, 10_000_000), parse_data_url(url.encode(), PARAM, 10_000_000)
    assert (as_bytes.at, as_bytes.nbytes, as_bytes.declared_type) == (
        as_text.at,
        as_text.nbytes,
        as_text.declared_type,
    )
    assert (as_bytes.head, as_bytes.tail) == (as_text.head, as_text.tail)
    assert as_bytes.b64 is None  # read through a view where it is, never copied


def test_bytes_with_escaped_whitespace_are_cleaned_like_a_string() -> None:
    # "\\n" in JSON arrives as a line break: cut.py never cuts a span holding a backslash,
    # but spaces, which JSON allows raw, do reach the image pipeline as bytes.
    spaced = " ".join(B64[i : i + 76] for i in range(0, len(B64), 76))
    parsed = parse_data_url(f"data:image/png;base64,{spaced}".encode(), PARAM, 1_000_000)
    assert (parsed.at, parsed.b64, parsed.nbytes) == (0, B64, len(PAYLOAD))


def test_raw_control_characters_in_bytes_are_refused_as_json_would() -> None:
    wrapped = "\n".join(B64[i : i + 76] for i in range(0, len(B64), 76))
    with pytest.raises(ImageError) as info:
        parse_data_url(f"data:image/png;base64,{wrapped}".encode(), PARAM, 1_000_000)
    assert info.value.code == "invalid_image_url" and info.value.param == PARAM
    assert "control character" in info.value.message


@pytest.mark.parametrize("header", [b"data:image/png\xff;base64,", b"data:image/\npng;base64,"])
def test_bytes_json_would_refuse_in_the_header_are_refused(header: bytes) -> None:
    with pytest.raises(ImageError) as info:
        parse_data_url(header + B64.encode(), PARAM, 1_000_000)
    assert info.value.code == "invalid_image_url" and info.value.param == PARAM
