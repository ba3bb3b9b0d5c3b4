"""The Responses and Messages parsers and renderers on their own: golden shapes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from anthropic.types import RawMessageStreamEvent
from openai.types.responses import ResponseStreamEvent
from pydantic import TypeAdapter

from tests.support.wire import sse_events
from visiongate.api.messages import MessagesStream, error_body, parse_messages_request
from visiongate.api.messages.render import render_message
from visiongate.api.responses import ResponsesStream, parse_responses_request, render_response
from visiongate.core.messages import (
    ChatRequest,
    ChatResponse,
    Choice,
    ImagePart,
    StreamDelta,
    TextPart,
    ThinkingPart,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from visiongate.core.outcome import Outcome
from visiongate.errors import InvalidRequest, Overloaded

PNG_URL = "data:image/png;base64,iVBORw0KGgo="


def test_responses_items_become_turns() -> None:
    request = parse_responses_request(
        {
            "model": "m",
            "instructions": "Be brief.",
            "input": [
                {"role": "user", "content": [{"type": "input_text", "text": "hi"}]},
                {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
                {"type": "function_call", "call_id": "c2", "name": "g", "arguments": "{}"},
                {
                    "type": "function_call_output",
                    "call_id": "c1",
                    "output": [{"type": "input_image", "image_url": PNG_URL, "detail": "original"}],
                },
                {"type": "function_call_output", "call_id": "c2", "output": "done"},
            ],
            "text": {"format": {"type": "json_object"}},
            "max_output_tokens": 7,
            "store": True,
            "metadata": {"a": "b"},
        }
    )
    roles = [m.role for m in request.messages]
    assert roles == ["developer", "user", "assistant", "tool", "tool"]
    assert [c.id for c in request.messages[2].tool_calls or ()] == ["c1", "c2"]
    image = request.messages[3].parts[0]
    assert isinstance(image, ImagePart) and image.detail == "high"
    assert image.param == "input[3].output[0].image_url"
    assert request.response_format == {"type": "json_object"} and request.max_tokens == 7


def test_responses_string_input_is_one_user_message() -> None:
    request = parse_responses_request({"model": "m", "input": "hello"})
    assert [(m.role, m.text) for m in request.messages] == [("user", "hello")]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": "x", "previous_response_id": "r"}, "previous_response_id"),
        ({"input": []}, "input"),
        ({"input": [{"role": "tool", "content": "x"}]}, "input[0].role"),
        ({"input": [{"type": "function_call_output", "call_id": "c"}]}, "input[0].output"),
        ({"input": "x", "tools": [{"type": "file_search"}]}, "tools[0].type"),
        ({"input": "x", "text": {"format": {"type": "xml"}}}, "text.format.type"),
        ({"input": "x", "truncation": "auto"}, "truncation"),
    ],
)
def test_responses_refusals_name_the_param(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_responses_request({"model": "m", **body})
    assert caught.value.param == param


def test_messages_blocks_become_parts_and_turns() -> None:
    ephemeral = {"type": "ephemeral"}
    request = parse_messages_request(
        {
            "model": "m",
            "max_tokens": 10,
            "system": [{"type": "text", "text": "sys", "cache_control": ephemeral}],
            "messages": [
                {"role": "user", "content": "look"},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "thinking", "thinking": "hmm", "signature": "s"},
                        {"type": "tool_use", "id": "t1", "name": "f", "input": {"x": 1}},
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "t1",
                            "is_error": True,
                            "content": [
                                {"type": "text", "text": "no"},
                                {
                                    "type": "image",
                                    "source": {
                                        "type": "base64",
                                        "media_type": "image/png",
                                        "data": "iVBORw0KGgo=",
                                    },
                                },
                            ],
                        },
                        {"type": "text", "text": "and?", "cache_control": ephemeral},
                    ],
                },
            ],
            "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
            "metadata": {"user_id": "u1"},
            "top_k": 3,
        }
    )
    roles = [m.role for m in request.messages]
    assert roles == ["system", "user", "assistant", "tool", "user"]
    assert request.messages[0].parts[0] == TextPart("sys", cache_control=ephemeral)
    assistant = request.messages[2]
    assert isinstance(assistant.parts[0], ThinkingPart) and assistant.parts[0].signature == "s"
    assert assistant.tool_calls == [ToolCall("t1", "f", '{"x":1}')]
    result = request.messages[3]
    assert result.is_error and result.tool_call_id == "t1"
    image = result.parts[1]
    assert isinstance(image, ImagePart) and image.url == PNG_URL
    assert image.param == "messages[2].content[0].content[1].source.data"
    assert request.messages[4].parts[0].cache_control == ephemeral  # type: ignore[union-attr]
    assert (request.tool_choice, request.parallel_tool_calls) == ("required", False)
    assert (request.user, request.top_k) == ("u1", 3)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": [{"role": "user", "content": "x"}]}, "max_tokens"),
        ({"max_tokens": 5, "messages": [{"role": "system", "content": "x"}]}, "messages[0].role"),
        ({"max_tokens": 5, "thinking": {"type": "enabled"}, "messages": []}, "thinking"),
        (
            {"max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "document"}]}]},
            "messages[0].content[0].source",  # documents need a PDF source
        ),
        (
            {
                "max_tokens": 5,
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "text", "text": "x", "cache_control": {}}],
                    }
                ],
            },
            "messages[0].content[0].cache_control",
        ),
        (
            {
                "max_tokens": 5,
                "tools": [{"type": "web_search_20250305"}],
                "messages": [{"role": "user", "content": "x"}],
            },
            "tools[0].type",
        ),
    ],
)
def test_messages_refusals_name_the_param(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_messages_request({"model": "m", **body})
    assert caught.value.param == param


def test_count_tokens_bodies_need_no_max_tokens() -> None:
    request = parse_messages_request(
        {"model": "m", "messages": [{"role": "user", "content": "x"}]}, counting=True
    )
    assert request.max_tokens is None


def test_anthropic_usage_splits_cache_from_input() -> None:
    usage = Usage(
        prompt_tokens=150, completion_tokens=9, cached_tokens=100, cache_creation_tokens=20
    )
    response = ChatResponse([Choice(content="hi", stop_sequence="END")], usage=usage)
    body = json.loads(render_message(response, ChatRequest("m", []), Outcome("r1")))
    assert body["usage"] == {
        "input_tokens": 30,
        "cache_creation_input_tokens": 20,
        "cache_read_input_tokens": 100,
        "output_tokens": 9,
    }
    assert (body["stop_reason"], body["stop_sequence"]) == ("stop_sequence", "END")


def test_an_overload_is_anthropic_529_and_names_its_param() -> None:
    status, body = error_body(Overloaded("queue full", param="model"))
    error = json.loads(body)["error"]
    assert status == 529 and error["type"] == "overloaded_error"
    assert error["message"] == "queue full (at model)" and error["param"] == "model"


def test_a_cut_answer_is_an_incomplete_response() -> None:
    response = ChatResponse([Choice(content="par", finish_reason="length")], usage=Usage(1, 1))
    body = render_response(response, ChatRequest("m", [], echo={"tools": []}), Outcome("r2"))
    assert body["status"] == "incomplete"
    assert body["incomplete_details"] == {"reason": "max_output_tokens"}
    assert body["output"][0]["content"][0]["text"] == "par"


def interleaved_deltas() -> list[StreamDelta]:
    """Text, then two tool calls streamed one after the other, then the usage."""
    return [
        StreamDelta(role="assistant", content="Let me look."),
        StreamDelta(tool_calls=[ToolCallDelta(0, id="c0", name="f", arguments='{"a"')]),
        StreamDelta(tool_calls=[ToolCallDelta(0, arguments=": 1}")]),
        StreamDelta(tool_calls=[ToolCallDelta(1, id="c1", name="g", arguments="{}")]),
        StreamDelta(finish_reason="tool_calls"),
    ]


def test_a_responses_stream_opens_and_closes_items_in_order() -> None:
    renderer = ResponsesStream(ChatRequest("m", [], echo={}), Outcome("r3"))
    frames = renderer.start() + b"".join(renderer.delta(d) for d in interleaved_deltas())
    frames += renderer.usage(Usage(5, 6))
    events = [json.loads(data) for _, data in sse_events([frames])]
    adapter = TypeAdapter(ResponseStreamEvent)
    for event in events:
        adapter.validate_python(event)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    final = events[-1]["response"]
    assert [item["type"] for item in final["output"]] == [
        "message",
        "function_call",
        "function_call",
    ]
    assert final["output"][1]["arguments"] == '{"a": 1}'
    added = [e["output_index"] for e in events if e["type"] == "response.output_item.added"]
    assert added == [0, 1, 2]


def test_a_messages_stream_numbers_its_blocks() -> None:
    request = ChatRequest("m", [])
    renderer = MessagesStream(request, Outcome("r4"), None)
    frames = renderer.start() + b"".join(renderer.delta(d) for d in interleaved_deltas())
    frames += renderer.usage(Usage(5, 6))
    events = [(name, json.loads(data)) for name, data in sse_events([frames])]
    adapter = TypeAdapter(RawMessageStreamEvent)
    for _, event in events:
        adapter.validate_python(event)
    starts = [
        (e["index"], e["content_block"]["type"]) for n, e in events if n == "content_block_start"
    ]
    assert starts == [(0, "text"), (1, "tool_use"), (2, "tool_use")]
    stops = [e["index"] for n, e in events if n == "content_block_stop"]
    assert stops == [0, 1, 2]
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"
