"""Property tests for the parsers that read what clients and upstreams send: random and
mutated valid inputs never raise anything but the module's own error type.

- the data-URL decoder: DataUrl or ImageError;
- the image sniffers (header parsing and the completeness check): ImageInfo or ImageError;
- the body cutter with parse_body: the same object orjson reads, or InvalidRequest;
- the SSE parser: events, or TransportError; the same events however the bytes are split.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support.fuzzing import mutated
from tests.support.images import make_image
from visiongate.api.body import parse_body
from visiongate.api.cut import MIN_BODY, MIN_URL
from visiongate.errors import ImageError, InvalidRequest
from visiongate.images.data_url import parse_data_url
from visiongate.images.sniff import check_complete, inspect_image
from visiongate.providers.base import SseEvent, iter_sse
from visiongate.transport import TransportError

pytestmark = pytest.mark.timeout(300)

PARAM = "messages[0].content[0].image_url.url"
IMAGES = {fmt: make_image(fmt, (40, 30)) for fmt in ("PNG", "JPEG", "GIF", "WEBP", "BMP", "TIFF")}
VALID_URL = b"data:image/png;base64," + base64.b64encode(IMAGES["PNG"])


@given(st.one_of(st.binary(max_size=300), mutated(VALID_URL)))
def test_data_urls_decode_or_are_an_image_error(raw: bytes) -> None:
    for url in (raw, raw.decode("latin-1")):
        try:
            parsed = parse_data_url(url, PARAM, max_bytes=10_000)
        except ImageError as exc:
            assert exc.param == PARAM and exc.status in (400, 413)
        else:
            assert 0 <= parsed.nbytes <= 10_000


@given(st.sampled_from(sorted(IMAGES)).flatmap(lambda fmt: mutated(IMAGES[fmt], 6)))
def test_image_sniffers_identify_or_refuse(data: bytes) -> None:
    try:
        info = inspect_image(data, PARAM, max_pixels=10_000_000)
        check_complete(data, info, PARAM)
    except ImageError as exc:
        assert exc.code in ("invalid_image", "image_too_large") and exc.param == PARAM
    else:
        assert info.width >= 0 and info.height >= 0


@given(st.binary(max_size=64))
def test_image_sniffers_on_random_bytes(data: bytes) -> None:
    with pytest.raises(ImageError):
        info = inspect_image(data, PARAM, max_pixels=10_000_000)
        check_complete(data, info, PARAM)
        raise ImageError("random bytes that are an image: fine", param=PARAM)


def _large_body() -> bytes:
    url = b"data:image/png;base64," + b"iVBORw0KGgo=" * (MIN_URL // 4)
    part = b'{"type":"image_url","image_url":{"url":"' + url + b'"}}'
    body = b'{"model":"m","messages":[{"role":"user","content":[' + part + b"," + part + b"]}]}"
    assert len(body) > MIN_BODY
    return body


LARGE = _large_body()


def _as_text(value: object) -> object:
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, dict):
        return {k: _as_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_text(v) for v in value]
    return value


def _cut_urls(value: object) -> list[bytes]:
    if isinstance(value, bytes):
        return [value]
    if isinstance(value, dict):
        return [u for v in value.values() for u in _cut_urls(v)]
    if isinstance(value, list):
        return [u for v in value for u in _cut_urls(v)]
    return []


@given(mutated(LARGE, 4))
def test_the_body_cutter_reads_what_orjson_reads_or_refuses(body: bytes) -> None:
    """Either the object orjson reads, or a 400 now, or a 400 from the image pipeline: a
    URL the cut took unparsed is one JSON would have refused, and the data-URL parser
    refuses it too (cut.py's contract)."""
    try:
        expected = orjson.loads(body)
    except orjson.JSONDecodeError:
        expected = None
    try:
        data = parse_body(body)
    except InvalidRequest as exc:
        assert exc.status == 400
        assert not isinstance(expected, dict)
        return
    if _as_text(data) == expected:
        return
    for url in _cut_urls(data):
        try:
            parse_data_url(url, PARAM, max_bytes=10**8)
        except ImageError:
            return  # refused later, as JSON would have refused it now
    raise AssertionError("the cut read a body differently from orjson and let it through")


STREAM = (
    b": keep-alive\n\n"
    b'data: {"a": 1}\n\n'
    b'event: message_start\ndata: {"b": 2}\n\n'
    b"data: first\r\ndata: second\r\n\r\n"
    b"data: caf\xc3\xa9\n\n"
    b"data: [DONE]\n\n"
)


async def _events(chunks: list[bytes]) -> list[SseEvent]:
    async def reads() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    return [event async for event in iter_sse(reads())]


def _run(chunks: list[bytes]) -> list[SseEvent] | TransportError:
    try:
        return asyncio.run(_events(chunks))
    except TransportError as exc:
        return exc


@given(mutated(STREAM, 6), st.lists(st.integers(0, 400), max_size=8))
def test_sse_events_or_a_transport_error_whatever_the_split(raw: bytes, cuts: list[int]) -> None:
    whole = _run([raw])
    points = sorted({c for c in cuts if 0 < c < len(raw)})
    pieces = [raw[a:b] for a, b in zip([0, *points], [*points, len(raw)], strict=True)]
    split = _run(pieces)
    if isinstance(whole, TransportError):
        assert isinstance(split, TransportError)
    else:
        assert split == whole
