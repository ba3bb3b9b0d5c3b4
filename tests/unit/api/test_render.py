"""Internal answers → OpenAI JSON and chunk frames, checked against the SDK's own models."""

from __future__ import annotations

import orjson
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from visiongate.api.chat.render import ChunkRenderer, render_completion
from visiongate.core.messages import (
    ChatResponse,
    Choice,
    StreamDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
)


def test_completion_validates_as_openai_model() -> None:
    response = ChatResponse(
        choices=[
            Choice(
                content=None,
                tool_calls=[ToolCall(id="c1", name="f", arguments='{"a": 1}')],
                finish_reason="tool_calls",
            )
        ],
        usage=Usage(prompt_tokens=10, completion_tokens=5, cached_tokens=4),
    )
    body = render_completion(response, "chatcmpl-1", "gpt-4o", 123)
    parsed = ChatCompletion.model_validate(body)
    assert parsed.model == "gpt-4o"
    assert parsed.choices[0].message.tool_calls[0].function.name == "f"  # type: ignore[index]
    assert parsed.usage is not None and parsed.usage.total_tokens == 15
    assert parsed.usage.prompt_tokens_details.cached_tokens == 4  # type: ignore[union-attr]


def _frame(raw: bytes) -> dict:
    assert raw.startswith(b"data: ") and raw.endswith(b"\n\n")
    return orjson.loads(raw[6:-2])


def test_chunks_validate_and_carry_usage_null_only_when_asked() -> None:
    with_usage = ChunkRenderer("chatcmpl-2", "claude-3-haiku-latest", 5, include_usage=True)
    frame = _frame(with_usage.delta(StreamDelta(role="assistant", content="")))
    assert frame["usage"] is None
    chunk = ChatCompletionChunk.model_validate(frame)
    assert chunk.choices[0].delta.role == "assistant"
    tool = _frame(
        with_usage.delta(
            StreamDelta(tool_calls=[ToolCallDelta(index=0, id="c", name="f", arguments="")])
        )
    )
    assert ChatCompletionChunk.model_validate(tool).choices[0].delta.tool_calls[0].id == "c"  # type: ignore[index]
    refused = _frame(with_usage.delta(StreamDelta(refusal="I can't help with that.")))
    delta = ChatCompletionChunk.model_validate(refused).choices[0].delta
    assert (delta.refusal, delta.content) == ("I can't help with that.", None)
    last = _frame(with_usage.usage(Usage(prompt_tokens=3, completion_tokens=2)))
    assert last["choices"] == [] and last["usage"]["total_tokens"] == 5
    ChatCompletionChunk.model_validate(last)
    without = ChunkRenderer("chatcmpl-2", "m", 5, include_usage=False)
    assert "usage" not in _frame(without.delta(StreamDelta(content="x", finish_reason="stop")))
