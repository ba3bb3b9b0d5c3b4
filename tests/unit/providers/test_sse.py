"""iter_sse: SSE framing out of a body's chunks, whatever the read boundaries."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from visiongate.providers.base import SseEvent, iter_sse
from visiongate.transport import TransportError

pytestmark = pytest.mark.timeout(10)


async def _events(chunks: list[bytes]) -> list[SseEvent]:
    async def reads() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    return [event async for event in iter_sse(reads())]


def _splits(raw: bytes) -> list[list[bytes]]:
    """The stream whole, one byte at a time, and cut in two at every position."""
    return [[raw], [raw[i : i + 1] for i in range(len(raw))]] + [
        [raw[:i], raw[i:]] for i in range(1, len(raw))
    ]


STREAM = (
    b": keep-alive\n\n"
    b'data: {"a": 1}\n\n'
    b'event: message_start\ndata: {"b": 2}\n\n'
    b"data: first\ndata: second\n\n"
    b"id: 7\nretry: 10\n\n"
    b"data:no-space\n\n"
    b"data: caf\xc3\xa9\n\n"
    b"data: [DONE]"
)
EXPECTED = [
    SseEvent(None, '{"a": 1}'),
    SseEvent("message_start", '{"b": 2}'),
    SseEvent(None, "first\nsecond"),
    SseEvent(None, "no-space"),
    SseEvent(None, "café"),
    SseEvent(None, "[DONE]"),
]


async def test_events_are_the_same_for_every_read_boundary() -> None:
    for chunks in _splits(STREAM):
        assert await _events(chunks) == EXPECTED, chunks


@pytest.mark.parametrize("newline", [b"\r\n", b"\r"])
async def test_crlf_and_cr_line_ends(newline: bytes) -> None:
    raw = STREAM.replace(b"\n", newline)
    for chunks in _splits(raw):
        assert await _events(chunks) == EXPECTED, chunks


async def test_final_event_with_one_newline_and_extra_blank_lines() -> None:
    assert await _events([b"\n\n\ndata: x\n\n\n\ndata: y\n"]) == [
        SseEvent(None, "x"),
        SseEvent(None, "y"),
    ]


async def test_comment_only_and_empty_streams_give_nothing() -> None:
    assert await _events([b": ping\n\n: ping\n\n"]) == []
    assert await _events([]) == []


async def test_an_event_that_never_ends_is_refused_at_4_mib() -> None:
    """Without the cap each read re-joined everything sent so far (quadratic) and held it."""
    chunks = [b"data: " + b"a" * 65536] + [b"a" * 65536] * 100
    with pytest.raises(TransportError, match="longer than"):
        await _events(chunks)


@pytest.mark.parametrize("chunks", [[b"data: \xff\xfe\n\n"], [b"data: caf\xc3"]])
async def test_bytes_that_are_not_utf8_are_a_transport_error(chunks: list[bytes]) -> None:
    with pytest.raises(TransportError, match="UTF-8"):
        await _events(chunks)
