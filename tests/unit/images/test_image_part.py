"""ImagePart's bytes: held, or the client's base64 decoded only when something reads them."""

from __future__ import annotations

import base64

import pytest

from visiongate.core.messages import ImagePart

RAW = bytes(range(256)) * 40
B64 = base64.b64encode(RAW).decode()
URL = f"data:image/png;base64,{B64}"
AT = len("data:image/png;base64,")


def inline(url: str = URL, media_type: str = "image/png") -> ImagePart:
    part = ImagePart(param="p", url=url, media_type=media_type)
    part.use_base64(len(RAW), at=url.index(",") + 1)
    return part


def test_the_clients_base64_is_kept_undecoded_until_the_bytes_are_read() -> None:
    part = inline()
    assert part.has_bytes and part.nbytes == len(RAW)
    assert part.source is URL  # nothing decoded or copied yet
    assert part.read_bytes() == RAW and part.source is URL  # a one-off decode, not kept
    assert part.data == RAW  # decoded and kept
    assert part.source == RAW


def test_the_clients_url_is_forwarded_when_it_is_already_canonical() -> None:
    part = inline()
    assert part.data_url() is URL
    assert part.base64() == B64


@pytest.mark.parametrize(
    ("url", "media_type"),
    [
        (URL, "image/jpeg"),  # the client declared another type than the bytes have
        (f"data:image/png;name=a.png;base64,{B64}", "image/png"),  # parameters
        (f"DATA:IMAGE/PNG;BASE64,{B64}", "image/png"),  # not in canonical case
    ],
)
def test_the_url_is_rebuilt_when_the_clients_is_not_canonical(url: str, media_type: str) -> None:
    part = inline(url, media_type)
    assert part.data_url() == f"data:{media_type};base64,{B64}"


def test_a_kept_copy_of_the_clients_base64_is_used_and_the_url_still_forwarded() -> None:
    part = ImagePart(param="p", url=URL, media_type="image/png")
    part.use_base64(len(RAW), at=AT, b64=B64)
    assert part.source is B64 and part.base64() is B64
    assert part.data_url() is URL


def test_use_base64_needs_to_know_where_the_base64_is() -> None:
    with pytest.raises(ValueError, match="where"):
        ImagePart(param="p", url=URL).use_base64(len(RAW))


def test_cleaned_base64_stands_for_the_bytes_when_the_url_is_not_canonical() -> None:
    part = ImagePart(param="p", url="data:image/png;base64,<wrapped>", media_type="image/png")
    part.use_base64(len(RAW), b64=B64)
    assert part.source is B64 and part.base64() is B64
    assert part.data_url() == URL
    assert part.data == RAW


def test_new_bytes_drop_the_base64_of_the_old_ones() -> None:
    part = inline()
    part.data = b"converted"
    assert (part.nbytes, part.source) == (9, b"converted")
    assert part.base64() == base64.b64encode(b"converted")  # ASCII bytes, for body.py
    assert part.data_url() == b"data:image/png;base64," + base64.b64encode(b"converted")


def test_a_part_without_bytes_says_so() -> None:
    part = ImagePart(param="p", url="https://example.com/a.png")
    assert not part.has_bytes and part.nbytes == 0 and part.data is None
    with pytest.raises(ValueError, match="no bytes"):
        part.base64()
    with pytest.raises(ValueError, match="no bytes"):
        _ = part.source


def test_bytes_given_directly_are_encoded_once() -> None:
    part = ImagePart(param="p", data=RAW, media_type="image/png")
    assert part.base64() is part.base64() == B64.encode()
    assert part.data_url() == URL.encode()
    assert "nbytes=10240" in repr(part) and B64[:20] not in repr(part)
