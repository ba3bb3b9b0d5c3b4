"""Internal answers → the Responses API's ``response`` object.

``model`` is the id the client asked for; ids are derived from the gateway's request id
(``resp_…``, ``msg_…``, ``fc_…``), so an answer, its log line and its usage record share
one. ``output_text`` is not a wire field: the SDKs derive it from ``output``.
"""

from __future__ import annotations

from typing import Any

from visiongate.core.messages import ChatRequest, ChatResponse, Choice, ToolCall, Usage
from visiongate.core.outcome import Outcome

__all__ = [
    "function_call_item",
    "message_item",
    "render_response",
    "response_object",
    "response_status",
    "response_usage",
]

# Why an answer stopped short, as Responses ``incomplete_details.reason`` says it.
_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


def response_usage(usage: Usage) -> dict[str, Any]:
    return {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {
            "cached_tokens": usage.cached_tokens,
            "cache_write_tokens": usage.cache_creation_tokens,
        },
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage.total_tokens,
    }


def response_status(finish_reason: str | None) -> tuple[str, dict[str, Any] | None]:
    """``status`` and ``incomplete_details`` for the way the answer finished."""
    reason = _INCOMPLETE.get(finish_reason or "")
    if reason is None:
        return "completed", None
    return "incomplete", {"reason": reason}


def message_item(
    item_id: str, text: str | None, refusal: str | None, status: str
) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if text is not None:
        content.append({"type": "output_text", "text": text, "annotations": [], "logprobs": []})
    if refusal is not None:
        content.append({"type": "refusal", "refusal": refusal})
    return {
        "id": item_id,
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": content,
    }


def function_call_item(item_id: str, call: ToolCall, status: str) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "function_call",
        "status": status,
        "call_id": call.id,
        "name": call.name,
        "arguments": call.arguments,
    }


def response_object(
    request: ChatRequest,
    outcome: Outcome,
    status: str,
    output: list[dict[str, Any]],
    usage: Usage | None = None,
    incomplete: dict[str, Any] | None = None,
    error: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``response`` object, with the request's settings echoed as OpenAI does."""
    body: dict[str, Any] = {
        "id": f"resp_{outcome.request_id}",
        "object": "response",
        "created_at": int(outcome.created),
        "status": status,
        "error": error,
        "incomplete_details": incomplete,
        "model": request.model,
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "store": False,
        "tool_choice": "auto",
        "tools": [],
        "truncation": "disabled",
        "usage": response_usage(usage) if usage is not None else None,
    }
    body.update(request.echo or {})
    return body


def render_response(
    response: ChatResponse, request: ChatRequest, outcome: Outcome
) -> dict[str, Any]:
    choice = response.choices[0] if response.choices else Choice(content="")
    status, incomplete = response_status(choice.finish_reason)
    rid = outcome.request_id
    output: list[dict[str, Any]] = []
    if choice.content or choice.refusal is not None or not choice.tool_calls:
        output.append(message_item(f"msg_{rid}", choice.content or "", choice.refusal, status))
    for k, call in enumerate(choice.tool_calls or ()):
        output.append(function_call_item(f"fc_{rid}_{k}", call, "completed"))
    return response_object(request, outcome, status, output, response.usage or Usage(), incomplete)
