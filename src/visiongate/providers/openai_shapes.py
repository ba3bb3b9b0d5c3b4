"""Small pieces of OpenAI's wire shape that more than one adapter needs.

The gateway answers in OpenAI's format whatever the upstream, so every adapter ends up
normalising a finish reason, reading a usage object, or moving tool-call arguments
between JSON text (OpenAI's form) and a JSON object (Anthropic's and Gemini's form).
Those helpers live here, pure and without I/O; the OpenAI adapter's own request and
response mapping stays in ``providers/openai.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from visiongate.core.messages import FinishReason, ToolSpec, Usage
from visiongate.errors import InvalidRequest

__all__ = [
    "finish_reason_from_openai",
    "parse_tool_arguments",
    "tool_arguments_text",
    "tool_choice_to_openai",
    "tool_spec_to_openai",
    "usage_from_openai",
]

# Values seen from OpenAI and the OpenAI-compatible hosts (Together's "eos", vLLM's
# "abort", OpenAI's deprecated "function_call"), folded onto OpenAI's four.
_FINISH_REASONS: Mapping[str, FinishReason] = {
    "stop": "stop",
    "eos": "stop",
    "end_turn": "stop",
    "stop_sequence": "stop",
    "length": "length",
    "max_tokens": "length",
    "model_length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "tool_use": "tool_calls",
    "content_filter": "content_filter",
}


def finish_reason_from_openai(value: object) -> FinishReason | None:
    """OpenAI's ``finish_reason`` for an upstream one; None stays None (not finished yet).

    Unknown values become ``"stop"``: the answer did end, and clients only know the four.
    """
    if value is None:
        return None
    return _FINISH_REASONS.get(str(value).lower(), "stop")


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def usage_from_openai(raw: object) -> Usage | None:
    """A :class:`Usage` from an OpenAI ``usage`` object (None when there is none).

    Reads ``prompt_tokens_details.cached_tokens``. Hosts that only report
    ``total_tokens`` (older MiniMax answers) get the rest counted as prompt tokens.
    """
    if not isinstance(raw, Mapping):
        return None
    prompt = _int(raw.get("prompt_tokens"))
    completion = _int(raw.get("completion_tokens"))
    total = _int(raw.get("total_tokens"))
    if total and not prompt and "prompt_tokens" not in raw:
        prompt = max(total - completion, 0)
    details = raw.get("prompt_tokens_details")
    cached = _int(details.get("cached_tokens")) if isinstance(details, Mapping) else 0
    return Usage(prompt_tokens=prompt, completion_tokens=completion, cached_tokens=cached)


def tool_spec_to_openai(tool: ToolSpec) -> dict[str, Any]:
    """A ``{"type": "function", "function": {...}}`` tool, leaving out what was not given."""
    function: dict[str, Any] = {"name": tool.name}
    if tool.description is not None:
        function["description"] = tool.description
    if tool.parameters is not None:
        function["parameters"] = tool.parameters
    if tool.strict is not None:
        function["strict"] = tool.strict
    return {"type": "function", "function": function}


def tool_choice_to_openai(choice: str) -> str | dict[str, Any]:
    """``auto``/``none``/``required`` as they are; any other value names one function."""
    if choice in ("auto", "none", "required"):
        return choice
    return {"type": "function", "function": {"name": choice}}


def parse_tool_arguments(text: str, param: str) -> dict[str, Any]:
    """The JSON object in a tool call's ``arguments`` text, for APIs that take an object.

    Raises InvalidRequest naming ``param`` when the client sent arguments that are not a
    JSON object: an upstream would refuse them with a less helpful message.
    """
    if not text.strip():
        return {}
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(
            "tool call arguments must be a JSON object in a string", param=param
        ) from exc
    if not isinstance(value, dict):
        raise InvalidRequest("tool call arguments must be a JSON object", param=param)
    return value


def tool_arguments_text(value: object) -> str:
    """OpenAI's ``arguments`` string for arguments an upstream gave as an object (or text)."""
    if isinstance(value, str):
        return value
    if value is None:
        return "{}"
    return orjson.dumps(value).decode()
