"""The answer direction: chat.completion bodies and chunks -> internal responses and deltas."""

from __future__ import annotations

from typing import Any

import pytest

from visiongate.core.messages import StreamDelta, ToolCall, ToolCallDelta, ToolSpec, Usage
from visiongate.errors import InvalidRequest, UpstreamError
from visiongate.providers.openai_shapes import (
    finish_reason_from_openai,
    from_openai_chunk,
    from_openai_response,
    parse_tool_arguments,
    tool_arguments_text,
    tool_choice_to_openai,
    tool_spec_to_openai,
    usage_from_openai,
)

COMPLETION: dict[str, Any] = {
    "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
    "object": "chat.completion",
    "created": 1741569952,
    "model": "gpt-4o-2024-08-06",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "The image shows a red square.",
                "refusal": None,
                "annotations": [],
            },
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "prompt_tokens": 1117,
        "completion_tokens": 9,
        "total_tokens": 1126,
        "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    },
    "service_tier": "default",
    "system_fingerprint": "fp_f9f4fb6dbf",
}


def test_plain_completion() -> None:
    response = from_openai_response(COMPLETION, "openai")
    assert response.upstream_id == "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT"
    assert response.upstream_model == "gpt-4o-2024-08-06"
    assert response.system_fingerprint == "fp_f9f4fb6dbf"
    [choice] = response.choices
    assert (choice.index, choice.content, choice.finish_reason) == (
        0,
        "The image shows a red square.",
        "stop",
    )
    assert choice.tool_calls is None and choice.refusal is None
    assert response.usage == Usage(prompt_tokens=1117, completion_tokens=9, cached_tokens=1024)


def test_tool_calls_and_refusal_and_several_choices() -> None:
    body = {
        "id": "chatcmpl-1",
        "model": "gpt-4o",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_abc",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                        },
                        {
                            "id": "call_def",
                            "type": "function",
                            "function": {"name": "get_time", "arguments": {"tz": "CET"}},
                        },
                    ],
                },
                "finish_reason": "tool_calls",
            },
            {
                "index": 1,
                "message": {"role": "assistant", "content": None, "refusal": "I can't help."},
                "finish_reason": "content_filter",
            },
        ],
    }
    response = from_openai_response(body)
    first, second = response.choices
    assert first.tool_calls == [
        ToolCall(id="call_abc", name="get_weather", arguments='{"city":"Paris"}'),
        ToolCall(id="call_def", name="get_time", arguments='{"tz":"CET"}'),
    ]
    assert first.finish_reason == "tool_calls" and first.content is None
    assert (second.index, second.refusal, second.finish_reason) == (
        1,
        "I can't help.",
        "content_filter",
    )
    assert response.usage is None


def test_legacy_function_call_becomes_a_tool_call() -> None:
    body = {
        "choices": [
            {
                "message": {
                    "role": "assistant",
                    "content": None,
                    "function_call": {"name": "lookup", "arguments": '{"q":1}'},
                },
                "finish_reason": "function_call",
            }
        ]
    }
    [choice] = from_openai_response(body).choices
    assert choice.finish_reason == "tool_calls"
    assert choice.tool_calls == [ToolCall(id="call_0_0", name="lookup", arguments='{"q":1}')]


def test_content_given_as_text_parts_is_joined() -> None:
    body = {
        "choices": [
            {
                "message": {
                    "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]
                },
                "finish_reason": "stop",
            }
        ]
    }
    assert from_openai_response(body).choices[0].content == "ab"


@pytest.mark.parametrize(
    "body",
    [
        {"choices": []},
        {"object": "chat.completion"},
        {"choices": [{"finish_reason": "stop"}]},
        {"choices": [{"message": {"content": [{"type": "audio", "data": "x"}]}}]},
        {"choices": [{"message": {"tool_calls": [{"type": "computer", "id": "x"}]}}]},
        {"choices": [{"message": {"tool_calls": [{"id": "x", "function": {}}]}}]},
    ],
)
def test_answers_the_gateway_cannot_relay_are_502_not_empty_answers(body: dict) -> None:
    with pytest.raises(UpstreamError) as caught:
        from_openai_response(body, "together")
    assert caught.value.status == 502
    assert "together" in caught.value.message


@pytest.mark.parametrize(
    ("upstream", "expected"),
    [
        ("stop", "stop"),
        ("length", "length"),
        ("tool_calls", "tool_calls"),
        ("content_filter", "content_filter"),
        ("function_call", "tool_calls"),
        ("eos", "stop"),
        ("max_tokens", "length"),
        ("something_new", "stop"),
        (None, None),
    ],
)
def test_finish_reasons(upstream: str | None, expected: str | None) -> None:
    assert finish_reason_from_openai(upstream) == expected
    if upstream is not None:
        body = {"choices": [{"message": {"content": "x"}, "finish_reason": upstream}]}
        assert from_openai_response(body).choices[0].finish_reason == expected


def test_a_missing_finish_reason_in_a_whole_answer_is_stop() -> None:
    body = {"choices": [{"message": {"content": "x"}, "finish_reason": None}]}
    assert from_openai_response(body).choices[0].finish_reason == "stop"


@pytest.mark.parametrize(
    ("raw", "usage"),
    [
        (None, None),
        ({"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}, Usage(5, 2)),
        (
            {"prompt_tokens": 5, "completion_tokens": 2, "prompt_tokens_details": None},
            Usage(5, 2),
        ),
        ({"prompt_tokens": 50, "prompt_tokens_details": {"cached_tokens": 32}}, Usage(50, 0, 32)),
        ({"total_tokens": 40}, Usage(40, 0)),
        ({"total_tokens": 40, "completion_tokens": 10}, Usage(30, 10)),
    ],
)
def test_usage(raw: dict | None, usage: Usage | None) -> None:
    assert usage_from_openai(raw) == usage


# ------------------------------------------------------------------ chunks


def chunk(choices: list[dict], **extra: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4o-2024-08-06",
        "choices": choices,
        **extra,
    }


def test_stream_of_text_chunks_as_openai_sends_it() -> None:
    events = [
        chunk(
            [
                {
                    "index": 0,
                    "delta": {"role": "assistant", "content": "", "refusal": None},
                    "finish_reason": None,
                }
            ],
            usage=None,
        ),
        chunk([{"index": 0, "delta": {"content": "Hel"}, "finish_reason": None}], usage=None),
        chunk([{"index": 0, "delta": {"content": "lo"}, "finish_reason": None}], usage=None),
        chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}], usage=None),
        chunk([], usage={"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}),
    ]
    deltas = [d for event in events for d in from_openai_chunk(event)]
    model = "gpt-4o-2024-08-06"
    assert deltas == [
        StreamDelta(role="assistant", upstream_model=model),
        StreamDelta(content="Hel", upstream_model=model),
        StreamDelta(content="lo", upstream_model=model),
        StreamDelta(finish_reason="stop", upstream_model=model),
        StreamDelta(usage=Usage(9, 2), upstream_model=model),
    ]


def test_streamed_tool_call_pieces() -> None:
    events = [
        chunk(
            [
                {
                    "index": 0,
                    "delta": {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "call_1",
                                "type": "function",
                                "function": {"name": "get_weather", "arguments": ""},
                            }
                        ],
                    },
                    "finish_reason": None,
                }
            ]
        ),
        chunk(
            [
                {
                    "index": 0,
                    "delta": {"tool_calls": [{"index": 0, "function": {"arguments": '{"ci'}}]},
                    "finish_reason": None,
                }
            ]
        ),
        chunk(
            [
                {
                    "index": 0,
                    "delta": {
                        "tool_calls": [
                            {
                                "index": 1,
                                "id": "call_2",
                                "function": {"name": "f", "arguments": "{}"},
                            }
                        ]
                    },
                    "finish_reason": None,
                }
            ]
        ),
        chunk([{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]),
    ]
    deltas = [d for event in events for d in from_openai_chunk(event)]
    assert [d.tool_calls for d in deltas] == [
        [ToolCallDelta(index=0, id="call_1", name="get_weather", arguments="")],
        [ToolCallDelta(index=0, arguments='{"ci')],
        [ToolCallDelta(index=1, id="call_2", name="f", arguments="{}")],
        None,
    ]
    assert deltas[0].role == "assistant"
    assert deltas[-1].finish_reason == "tool_calls"


def test_legacy_function_call_delta_and_its_finish_reason() -> None:
    first = chunk([{"index": 0, "delta": {"function_call": {"name": "f", "arguments": ""}}}])
    last = chunk([{"index": 0, "delta": {}, "finish_reason": "function_call"}])
    [a] = from_openai_chunk(first)
    [b] = from_openai_chunk(last)
    assert a.tool_calls == [ToolCallDelta(index=0, id="call_0_0", name="f", arguments="")]
    assert b.finish_reason == "tool_calls"


def test_several_choices_keep_their_index_and_empty_deltas_are_dropped() -> None:
    event = chunk(
        [
            {"index": 1, "delta": {"content": "b"}, "finish_reason": None},
            {"index": 0, "delta": {}, "finish_reason": None},
            {"index": 0, "delta": {"content": ""}, "finish_reason": "length"},
        ]
    )
    deltas = from_openai_chunk(event)
    assert [(d.index, d.content, d.finish_reason) for d in deltas] == [
        (1, "b", None),
        (0, None, "length"),
    ]


def test_streamed_refusal_stays_a_refusal() -> None:
    [delta] = from_openai_chunk(chunk([{"index": 0, "delta": {"refusal": "No."}}]))
    assert (delta.refusal, delta.content) == ("No.", None)


def test_usage_on_a_chunk_with_choices_comes_as_its_own_delta() -> None:
    event = chunk(
        [{"index": 0, "delta": {"content": "x"}, "finish_reason": "stop"}],
        usage={"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    )
    text, usage = from_openai_chunk(event)
    assert (text.content, text.finish_reason, text.usage) == ("x", "stop", None)
    assert usage.usage == Usage(3, 1) and usage.content is None


MINIMAX_FINAL = {
    "id": "04ecb5d9",
    "object": "chat.completion",
    "created": 1755153113,
    "model": "MiniMax-Text-01",
    "choices": [
        {
            "index": 0,
            "finish_reason": "stop",
            "message": {"role": "assistant", "content": "The whole answer again."},
        }
    ],
    "usage": {"total_tokens": 249, "prompt_tokens": 26, "completion_tokens": 223},
    "input_sensitive": False,
    "output_sensitive": False,
    "base_resp": {"status_code": 0, "status_msg": ""},
}


def test_minimax_final_repeat_gives_only_finish_reason_and_usage() -> None:
    deltas = from_openai_chunk(MINIMAX_FINAL, final_repeats_message=True)
    assert deltas == [
        StreamDelta(finish_reason="stop", upstream_model="MiniMax-Text-01"),
        StreamDelta(usage=Usage(26, 223), upstream_model="MiniMax-Text-01"),
    ]
    assert all(d.content is None for d in deltas)


def test_tool_helpers() -> None:
    assert tool_spec_to_openai(ToolSpec(name="f", parameters={"type": "object"})) == {
        "type": "function",
        "function": {"name": "f", "parameters": {"type": "object"}},
    }
    assert tool_choice_to_openai("f") == {"type": "function", "function": {"name": "f"}}
    assert parse_tool_arguments('{"a": [1, 2]}', "p") == {"a": [1, 2]}
    assert parse_tool_arguments("  ", "p") == {}
    assert tool_arguments_text({"a": 1}) == '{"a":1}'
    assert tool_arguments_text(None) == "{}"
    assert tool_arguments_text('{"a": 1}') == '{"a": 1}'


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '"x"'])
def test_bad_tool_arguments_are_a_400_naming_the_call(text: str) -> None:
    where = "messages[2].tool_calls[0].function.arguments"
    with pytest.raises(InvalidRequest) as caught:
        parse_tool_arguments(text, where)
    assert caught.value.param == where
