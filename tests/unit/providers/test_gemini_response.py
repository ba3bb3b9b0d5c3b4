"""from_gemini_response and GeminiStreamTranslator: GenerateContentResponse objects →
internal ChatResponse / StreamDelta. The non-streamed path runs through the translator,
so every case here holds for both."""

from __future__ import annotations

import itertools
import json

import pytest

from visiongate.core.messages import StreamDelta, ToolCall, Usage
from visiongate.errors import InvalidRequest, RateLimited, UpstreamError
from visiongate.providers.gemini import GeminiStreamTranslator, from_gemini_response

pytestmark = pytest.mark.timeout(30)


def ids():  # type: ignore[no-untyped-def]
    counter = itertools.count(1)
    return lambda: f"call_{next(counter)}"


def chunk(
    parts: list[dict] | None = None,
    finish: str | None = None,
    usage: dict | None = None,
    **extra: object,
) -> dict:
    candidate: dict = {"index": 0}
    if parts is not None:
        candidate["content"] = {"role": "model", "parts": parts}
    if finish:
        candidate["finishReason"] = finish
    body: dict = {"candidates": [candidate], "modelVersion": "gemini-1.5-flash-002", **extra}
    if usage is not None:
        body["usageMetadata"] = usage
    return body


USAGE = {"promptTokenCount": 300, "candidatesTokenCount": 7, "totalTokenCount": 307}


def test_text_answer() -> None:
    response = from_gemini_response(
        chunk([{"text": "Hello "}, {"text": "there"}], "STOP", USAGE, responseId="r1")
    )
    choice = response.choices[0]
    assert choice.content == "Hello there"
    assert choice.finish_reason == "stop"
    assert choice.tool_calls is None
    assert response.usage == Usage(prompt_tokens=300, completion_tokens=7)
    assert response.upstream_model == "gemini-1.5-flash-002"
    assert response.upstream_id == "r1"


@pytest.mark.parametrize(
    ("reason", "finish"),
    [
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("LANGUAGE", "content_filter"),
        ("BLOCKLIST", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("SPII", "content_filter"),
        ("IMAGE_SAFETY", "content_filter"),
        ("OTHER", "stop"),
        ("FINISH_REASON_UNSPECIFIED", "stop"),
        ("MALFORMED_FUNCTION_CALL", "stop"),
        ("SOMETHING_NEW", "stop"),
    ],
)
def test_every_finish_reason(reason: str, finish: str) -> None:
    response = from_gemini_response(chunk([{"text": "partial"}], reason, USAGE))
    assert response.choices[0].finish_reason == finish
    assert response.choices[0].content == "partial"  # text kept, no note added to it


def test_safety_stop_without_text_says_why() -> None:
    response = from_gemini_response(chunk(None, "SAFETY", USAGE))
    choice = response.choices[0]
    assert choice.finish_reason == "content_filter"
    assert choice.content == "Gemini stopped the answer (SAFETY)"


def test_blocked_prompt_is_content_filter_with_the_reason() -> None:
    body = {
        "promptFeedback": {"blockReason": "OTHER", "blockReasonMessage": "policy"},
        "usageMetadata": {"promptTokenCount": 12, "totalTokenCount": 12},
    }
    response = from_gemini_response(body)
    choice = response.choices[0]
    assert choice.finish_reason == "content_filter"
    assert choice.content == "Gemini blocked the prompt (OTHER): policy"
    assert response.usage == Usage(prompt_tokens=12, completion_tokens=0)


def test_function_calls_get_ids_and_finish_as_tool_calls() -> None:
    body = chunk(
        [
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
            {"functionCall": {"name": "clock"}},
        ],
        "STOP",
        USAGE,
    )
    choice = from_gemini_response(body, new_id=ids()).choices[0]
    assert choice.content is None
    assert choice.tool_calls == [
        ToolCall("call_1", "get_weather", '{"city":"Paris"}'),
        ToolCall("call_2", "clock", "{}"),
    ]
    assert choice.finish_reason == "tool_calls"


def test_upstream_call_ids_are_kept() -> None:
    body = chunk([{"functionCall": {"id": "fc-9", "name": "f", "args": {}}}], "STOP", USAGE)
    assert from_gemini_response(body).choices[0].tool_calls == [ToolCall("fc-9", "f", "{}")]


def test_usage_counts_thinking_tool_prompts_and_cache() -> None:
    usage = {
        "promptTokenCount": 100,
        "toolUsePromptTokenCount": 5,
        "candidatesTokenCount": 10,
        "thoughtsTokenCount": 20,
        "cachedContentTokenCount": 64,
    }
    response = from_gemini_response(chunk([{"text": "x"}], "STOP", usage))
    assert response.usage == Usage(prompt_tokens=105, completion_tokens=30, cached_tokens=64)


def test_thought_parts_are_not_part_of_the_answer() -> None:
    body = chunk([{"text": "pondering", "thought": True}, {"text": "answer"}], "STOP", USAGE)
    assert from_gemini_response(body).choices[0].content == "answer"


def test_error_body_and_nonsense() -> None:
    error = {
        "error": {
            "code": 429,
            "message": "Resource has been exhausted",
            "status": "RESOURCE_EXHAUSTED",
        }
    }
    with pytest.raises(RateLimited, match="RESOURCE_EXHAUSTED: Resource has been exhausted"):
        from_gemini_response(error)
    with pytest.raises(UpstreamError):
        from_gemini_response([1, 2])
    with pytest.raises(UpstreamError, match="before a finish reason"):
        from_gemini_response({"candidates": [{"content": {"parts": [{"text": "x"}]}}]})


# ------------------------------------------------------------------ streams


def test_stream_emits_text_as_it_arrives_and_finishes_with_the_last_usage() -> None:
    translator = GeminiStreamTranslator(new_id=ids())
    first = translator.from_gemini_chunk(
        chunk([{"text": "The "}], usage={"promptTokenCount": 300, "totalTokenCount": 300})
    )
    assert first == [
        StreamDelta(role="assistant", upstream_model="gemini-1.5-flash-002"),
        StreamDelta(content="The "),
    ]
    assert translator.from_gemini_chunk(chunk([{"text": "sky"}], usage=None)) == [
        StreamDelta(content="sky")
    ]
    assert translator.from_gemini_chunk(chunk([{"text": " is blue"}], "STOP", USAGE)) == [
        StreamDelta(content=" is blue")
    ]
    late = dict(USAGE, candidatesTokenCount=9)
    assert translator.from_gemini_chunk({"usageMetadata": late}) == []
    final = translator.finish()
    assert final.finish_reason == "stop"
    assert final.content is None
    assert final.usage == Usage(prompt_tokens=300, completion_tokens=9)


def test_streamed_function_call_is_one_complete_piece() -> None:
    translator = GeminiStreamTranslator(new_id=ids())
    deltas = translator.from_gemini_chunk(
        chunk([{"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}}], "STOP", USAGE)
    )
    piece = deltas[1].tool_calls[0]  # type: ignore[index]
    assert (piece.index, piece.id, piece.name) == (0, "call_1", "get_weather")
    assert json.loads(piece.arguments or "") == {"city": "Rome"}
    assert translator.finish().finish_reason == "tool_calls"


def test_stream_safety_stop_mid_answer_keeps_text() -> None:
    translator = GeminiStreamTranslator()
    translator.from_gemini_chunk(chunk([{"text": "Here is"}]))
    translator.from_gemini_chunk(chunk(None, "SAFETY", USAGE))
    final = translator.finish()
    assert final.finish_reason == "content_filter"
    assert final.content is None


def test_stream_that_breaks_off_is_an_error() -> None:
    translator = GeminiStreamTranslator()
    translator.from_gemini_chunk(chunk([{"text": "Here is"}]))
    with pytest.raises(UpstreamError, match="before a finish reason"):
        translator.finish()


@pytest.mark.parametrize(
    ("error", "kind", "status"),
    [
        (
            {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"},
            UpstreamError,
            502,
        ),
        ({"code": 400, "message": "bad", "status": "INVALID_ARGUMENT"}, InvalidRequest, 400),
        ({"code": 429, "message": "slow down", "status": "RESOURCE_EXHAUSTED"}, RateLimited, 429),
    ],
)
def test_error_chunk_mid_stream_raises_the_mapped_error(
    error: dict, kind: type[Exception], status: int
) -> None:
    translator = GeminiStreamTranslator()
    translator.from_gemini_chunk(chunk([{"text": "Here is"}]))
    with pytest.raises(kind) as info:
        translator.from_gemini_chunk({"error": error})
    assert info.value.status == status  # type: ignore[attr-defined]
    assert error["message"] in str(info.value)
