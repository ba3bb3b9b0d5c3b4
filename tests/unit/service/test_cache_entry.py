"""Cached answers: stored and read back unchanged, in either form, replayed in the other."""

from __future__ import annotations

import zlib

import pytest

from visiongate.core.messages import (
    ChatResponse,
    Choice,
    StreamDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from visiongate.service.cache_entry import decode, deltas_of, encode, finish_reasons, response_of

USAGE = Usage(prompt_tokens=120, completion_tokens=9, cached_tokens=4, image_tokens=85)
STREAM = [
    StreamDelta(role="assistant"),
    StreamDelta(content="A red "),
    StreamDelta(content="square."),
    StreamDelta(tool_calls=[ToolCallDelta(0, id="c1", name="lookup", arguments='{"ci')]),
    StreamDelta(tool_calls=[ToolCallDelta(0, arguments='ty": 1}')]),
    StreamDelta(finish_reason="tool_calls"),
]


def test_a_stream_is_kept_delta_for_delta() -> None:
    answer = decode(encode(USAGE, "gpt-4o-2024-08-06", deltas=STREAM))
    assert answer.as_deltas() == STREAM
    assert answer.usage == USAGE and answer.upstream_model == "gpt-4o-2024-08-06"


def test_a_stream_folds_into_the_whole_answer() -> None:
    response = decode(encode(USAGE, None, deltas=STREAM)).as_response()
    choice = response.choices[0]
    assert choice.content == "A red square."
    assert choice.tool_calls == [ToolCall("c1", "lookup", '{"city": 1}')]
    assert choice.finish_reason == "tool_calls"
    assert response.usage == USAGE


def test_a_whole_answer_unfolds_into_deltas_that_fold_back() -> None:
    whole = ChatResponse(
        choices=[
            Choice(0, "Hello", [ToolCall("c2", "f", "{}")], "stop", None, "END"),
            Choice(1, None, None, "content_filter", "No."),
        ],
        system_fingerprint="fp_1",
    )
    answer = decode(encode(USAGE, None, response=whole))
    assert answer.as_response().choices == whole.choices
    assert answer.as_response().system_fingerprint == "fp_1"
    deltas = answer.as_deltas()
    assert deltas[0] == StreamDelta(index=0, role="assistant")
    assert response_of(deltas).choices == whole.choices
    assert deltas_of(whole)[-1].finish_reason == "content_filter"


def test_entries_are_compressed() -> None:
    long = [StreamDelta(content="word ") for _ in range(500)]
    blob = encode(USAGE, None, deltas=long)
    assert len(blob) < len(zlib.decompress(blob)) / 5


@pytest.mark.parametrize("blob", [b"", b"not zlib", zlib.compress(b"[1, 2]"), zlib.compress(b"{}")])
def test_bytes_that_are_not_an_entry_are_refused(blob: bytes) -> None:
    with pytest.raises(ValueError, match="not an answer cache entry"):
        decode(blob)


def test_finish_reasons_tell_complete_from_cut_short() -> None:
    assert finish_reasons(None, STREAM) == {"tool_calls"}
    assert finish_reasons(None, STREAM[:3]) == {""}  # no finish reason: cut short
    cut = ChatResponse(choices=[Choice(finish_reason="length")])
    assert finish_reasons(cut, None) == {"length"}
