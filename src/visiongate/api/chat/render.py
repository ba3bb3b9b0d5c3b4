"""Internal answers → OpenAI's ``chat.completion`` JSON and ``chat.completion.chunk`` frames.

``model`` is always the id the client asked for, whatever served it. Chunk frames are
assembled from a prefix serialised once per stream, so a streamed token costs one small
``orjson.dumps`` of its delta; a delta that keeps the upstream's own Chat Completions
chunks (an OpenAI-format upstream) is sent as those chunks, spliced (``splice.py``).
"""

from __future__ import annotations

from typing import Any

import orjson

from visiongate.api.chat.splice import Splicer
from visiongate.api.sse import DONE, error_frame
from visiongate.core.messages import ChatResponse, StreamDelta, ToolCall, Usage
from visiongate.errors import GatewayError

__all__ = ["ChunkRenderer", "render_completion", "render_usage"]


def render_usage(usage: Usage) -> dict[str, Any]:
    out: dict[str, Any] = {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }
    if usage.cached_tokens:
        out["prompt_tokens_details"] = {"cached_tokens": usage.cached_tokens}
    return out


def _tool_calls(calls: list[ToolCall]) -> list[dict[str, Any]]:
    return [
        {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
        for c in calls
    ]


def render_completion(
    response: ChatResponse, completion_id: str, model: str, created: int
) -> dict[str, Any]:
    choices = []
    for choice in response.choices:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": choice.content,
            "refusal": choice.refusal,
        }
        if choice.tool_calls:
            message["tool_calls"] = _tool_calls(choice.tool_calls)
        choices.append(
            {
                "index": choice.index,
                "message": message,
                "logprobs": None,
                "finish_reason": choice.finish_reason or "stop",
            }
        )
    body: dict[str, Any] = {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": choices,
        "usage": render_usage(response.usage or Usage()),
    }
    if response.system_fingerprint:
        body["system_fingerprint"] = response.system_fingerprint
    return body


class ChunkRenderer:
    """Renders the SSE frames of one stream (a :class:`~visiongate.api.surface.StreamRenderer`)."""

    ping_interval: float | None = None  # Chat Completions has no ping event

    __slots__ = ("_include_usage", "_prefix", "_splicer", "_suffix")

    def __init__(self, completion_id: str, model: str, created: int, include_usage: bool) -> None:
        head = orjson.dumps(
            {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
            }
        )
        self._prefix = b"data: " + head[:-1] + b',"system_fingerprint":null,"choices":'
        self._suffix = b',"usage":null}\n\n' if include_usage else b"}\n\n"
        self._include_usage = include_usage
        self._splicer = Splicer(completion_id, model, created, include_usage)

    def delta(self, delta: StreamDelta) -> bytes:
        """The frame for one delta (without its usage: that goes in :meth:`usage`), or
        the upstream's own chunks it keeps, spliced."""
        if delta.chunks is not None:
            return self._splicer.frames(delta.chunks)
        body: dict[str, Any] = {}
        if delta.role:
            body["role"] = delta.role
        if delta.content is not None:
            body["content"] = delta.content
        if delta.refusal is not None:
            body["refusal"] = delta.refusal
        if delta.tool_calls:
            body["tool_calls"] = [
                _tool_call_delta(t.index, t.id, t.name, t.arguments) for t in delta.tool_calls
            ]
        choice = {
            "index": delta.index,
            "delta": body,
            "logprobs": None,
            "finish_reason": delta.finish_reason,
        }
        return self._prefix + orjson.dumps([choice]) + self._suffix

    def usage(self, usage: Usage) -> bytes:
        """The extra last chunk that ``stream_options.include_usage`` asks for (else none)."""
        if not self._include_usage:
            return b""
        return self._prefix + b"[]" + b',"usage":' + orjson.dumps(render_usage(usage)) + b"}\n\n"

    @staticmethod
    def start() -> bytes:
        return b""

    @staticmethod
    def end() -> bytes:
        return DONE

    @staticmethod
    def error(exc: GatewayError) -> bytes:
        return error_frame(exc) + DONE

    @staticmethod
    def ping() -> bytes:
        return b""


def _tool_call_delta(
    index: int, call_id: str | None, name: str | None, args: str | None
) -> dict[str, Any]:
    out: dict[str, Any] = {"index": index}
    if call_id is not None:
        out["id"] = call_id
        out["type"] = "function"
    fn: dict[str, Any] = {}
    if name is not None:
        fn["name"] = name
    if args is not None:
        fn["arguments"] = args
    out["function"] = fn
    return out
