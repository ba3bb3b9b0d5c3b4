"""from_anthropic_response and the stream translator: Messages API answers → internal
ChatResponse / StreamDelta, with golden bodies and event sequences as the API sends them."""

from __future__ import annotations

import json

import pytest

from visiongate.core.messages import StreamDelta, ToolCall, Usage
from visiongate.errors import InvalidRequest, RateLimited, UpstreamError, UpstreamTimeout
from visiongate.providers.anthropic import (
    AnthropicStreamTranslator,
    from_anthropic_response,
)

pytestmark = pytest.mark.timeout(30)


def message(content: list[dict], stop_reason: str = "end_turn", **usage: int) -> dict:
    return {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": "claude-3-haiku-20240307",
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": 5, **usage},
    }


def test_text_answer() -> None:
    response = from_anthropic_response(message([{"type": "text", "text": "Hello there"}]))
    choice = response.choices[0]
    assert choice.content == "Hello there"
    assert choice.tool_calls is None
    assert choice.finish_reason == "stop"
    assert response.usage == Usage(prompt_tokens=12, completion_tokens=5)
    assert response.upstream_model == "claude-3-haiku-20240307"
    assert response.upstream_id == "msg_01"


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("pause_turn", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("some_future_reason", "stop"),
    ],
)
def test_every_stop_reason(stop_reason: str, finish: str) -> None:
    body = message([{"type": "text", "text": "x"}], stop_reason)
    assert from_anthropic_response(body).choices[0].finish_reason == finish
    events = [
        {"type": "message_start", "message": {**body, "content": [], "stop_reason": None}},
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason},
            "usage": {"output_tokens": 1},
        },
    ]
    translator = AnthropicStreamTranslator()
    deltas = [d for e in events for d in translator.from_anthropic_event(e)]
    assert deltas[-1].finish_reason == finish


def test_tool_use_answer_keeps_text_and_serialises_input() -> None:
    body = message(
        [
            {"type": "text", "text": "Let me check."},
            {
                "type": "tool_use",
                "id": "toolu_1",
                "name": "get_weather",
                "input": {"city": "Paris"},
            },
            {"type": "tool_use", "id": "toolu_2", "name": "clock", "input": {}},
        ],
        "tool_use",
    )
    choice = from_anthropic_response(body).choices[0]
    assert choice.content == "Let me check."
    assert choice.tool_calls == [
        ToolCall("toolu_1", "get_weather", '{"city":"Paris"}'),
        ToolCall("toolu_2", "clock", "{}"),
    ]
    assert choice.finish_reason == "tool_calls"


def test_tool_only_answer_has_no_content() -> None:
    body = message([{"type": "tool_use", "id": "t", "name": "f", "input": {}}], "tool_use")
    assert from_anthropic_response(body).choices[0].content is None


def test_cache_tokens_count_as_prompt_and_reads_as_cached() -> None:
    body = message(
        [{"type": "text", "text": "x"}],
        cache_creation_input_tokens=20,
        cache_read_input_tokens=100,
    )
    assert from_anthropic_response(body).usage == Usage(
        prompt_tokens=132, completion_tokens=5, cached_tokens=100, cache_creation_tokens=20
    )


@pytest.mark.parametrize("body", [None, [], {"type": "error"}, {"content": []}])
def test_nonsense_is_an_upstream_error(body: object) -> None:
    with pytest.raises(UpstreamError):
        from_anthropic_response(body)


# ------------------------------------------------------------------ streams


def stream_events() -> list[dict]:
    """A real-shaped stream: text, then a tool call whose JSON arrives in pieces."""
    start = message([], stop_reason=None)  # type: ignore[arg-type]
    start["stop_reason"] = None
    start["usage"] = {
        "input_tokens": 40,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 8,
        "output_tokens": 1,
    }
    return [
        {"type": "message_start", "message": start},
        {"type": "ping"},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hel"}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "lo"}},
        {"type": "content_block_stop", "index": 0},
        {
            "type": "content_block_start",
            "index": 1,
            "content_block": {
                "type": "tool_use",
                "id": "toolu_9",
                "name": "get_weather",
                "input": {},
            },
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": ""},
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": '{"city": '},
        },
        {"type": "ping"},
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": '"Paris"}'},
        },
        {"type": "content_block_stop", "index": 1},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": None},
            "usage": {"output_tokens": 17},
        },
        {"type": "message_stop"},
    ]


def translate(events: list[dict]) -> tuple[list[StreamDelta], AnthropicStreamTranslator]:
    translator = AnthropicStreamTranslator()
    return [d for e in events for d in translator.from_anthropic_event(e)], translator


def test_stream_translates_each_event_as_it_arrives() -> None:
    events = stream_events()
    translator = AnthropicStreamTranslator()
    produced = [translator.from_anthropic_event(e) for e in events]
    assert produced[0] == [StreamDelta(role="assistant", upstream_model="claude-3-haiku-20240307")]
    assert produced[1] == []  # ping
    assert produced[3] == [StreamDelta(content="Hel")]
    assert produced[4] == [StreamDelta(content="lo")]
    tool_start = produced[6][0].tool_calls
    assert tool_start is not None and tool_start[0].id == "toolu_9"
    assert tool_start[0].name == "get_weather" and tool_start[0].index == 0
    assert produced[7] == []  # the empty first JSON piece
    pieces = [d.tool_calls[0].arguments for p in produced[8:11] for d in p if d.tool_calls]
    assert "".join(pieces) == '{"city": "Paris"}'
    final = produced[12][0]
    assert final.finish_reason == "tool_calls"
    assert final.usage == Usage(prompt_tokens=48, completion_tokens=17, cached_tokens=8)
    translator.finish()  # message_stop came: no error


def test_tool_call_without_arguments_streams_an_empty_object() -> None:
    events = [
        {"type": "message_start", "message": message([], None)},  # type: ignore[arg-type]
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "tool_use", "id": "t", "name": "clock", "input": {}},
        },
        {"type": "content_block_stop", "index": 0},
    ]
    deltas, _ = translate(events)
    arguments = "".join(piece.arguments or "" for d in deltas for piece in d.tool_calls or ())
    assert json.loads(arguments) == {}


def test_message_delta_usage_overrides_start_counts() -> None:
    events = stream_events()
    events[-2]["usage"] = {"output_tokens": 30, "input_tokens": 41, "cache_read_input_tokens": 9}
    deltas, translator = translate(events)
    assert deltas[-1].usage == Usage(prompt_tokens=50, completion_tokens=30, cached_tokens=9)
    assert translator.usage == deltas[-1].usage


def test_stream_ending_before_message_stop_is_an_error() -> None:
    _, translator = translate(stream_events()[:5])
    with pytest.raises(UpstreamError, match="before message_stop"):
        translator.finish()


@pytest.mark.parametrize(
    ("kind", "error", "status"),
    [
        ("overloaded_error", UpstreamError, 502),
        ("api_error", UpstreamError, 502),
        ("rate_limit_error", RateLimited, 429),
        ("invalid_request_error", InvalidRequest, 400),
        ("timeout_error", UpstreamTimeout, 504),
    ],
)
def test_error_event_mid_stream_raises_the_mapped_error(
    kind: str, error: type[Exception], status: int
) -> None:
    translator = AnthropicStreamTranslator("anthropic")
    for event in stream_events()[:4]:
        translator.from_anthropic_event(event)
    event = {"type": "error", "error": {"type": kind, "message": "Overloaded"}}
    with pytest.raises(error) as info:
        translator.from_anthropic_event(event)
    assert info.value.status == status  # type: ignore[attr-defined]
    assert "Overloaded" in str(info.value) and kind in str(info.value)


def test_unknown_events_and_blocks_are_ignored() -> None:
    deltas, _ = translate(
        [
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "thinking", "thinking": ""},
            },
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "thinking_delta", "thinking": "hm"},
            },
            {"type": "brand_new_event"},
        ]
    )
    assert deltas == []
