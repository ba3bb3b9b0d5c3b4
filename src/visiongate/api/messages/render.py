"""Internal answers and errors → the Messages API's ``message`` object and error envelope.

``model`` is the id the client asked for; the id is ``msg_`` plus the gateway's request
id. Usage follows Anthropic's split: ``input_tokens`` excludes the prompt-cache reads and
writes, which are reported apart (internally they are part of the prompt).
"""

from __future__ import annotations

from typing import Any

import orjson

from visiongate.core.messages import ChatRequest, ChatResponse, Choice, Usage
from visiongate.core.outcome import Outcome
from visiongate.errors import GatewayError

__all__ = ["error_body", "message_usage", "render_message", "stop_reason", "tool_input"]

# Anthropic's error type for each HTTP status it uses; 503 (our local queue is full) is
# answered as Anthropic's own overload, 529, so clients retry it as they would.
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def error_body(exc: GatewayError, request_id: str | None = None) -> tuple[int, bytes]:
    """Status and body in Anthropic's envelope. The gateway's ``code`` and ``param`` ride
    along (Anthropic's SDK ignores fields it does not know) and the message names the
    param, so a client reading only ``message`` still learns which part to change."""
    status = 529 if exc.code == "overloaded" else exc.status
    kind = _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    message = exc.message
    if exc.param and exc.param not in message:
        message = f"{message} (at {exc.param})"
    error = {"type": kind, "message": message, "code": exc.code, "param": exc.param}
    body: dict[str, Any] = {"type": "error", "error": error}
    if request_id:
        body["request_id"] = request_id
    return status, orjson.dumps(body)


def message_usage(usage: Usage) -> dict[str, Any]:
    cached = usage.cached_tokens
    written = usage.cache_creation_tokens
    return {
        "input_tokens": max(usage.prompt_tokens - cached - written, 0),
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": cached,
        "output_tokens": usage.completion_tokens,
    }


def stop_reason(finish_reason: str | None, stop_sequence: str | None) -> str:
    if finish_reason == "length":
        return "max_tokens"
    if finish_reason == "tool_calls":
        return "tool_use"
    if finish_reason == "content_filter":
        return "refusal"
    return "stop_sequence" if stop_sequence else "end_turn"


def tool_input(arguments: str) -> dict[str, Any]:
    """A tool call's arguments as the object ``tool_use.input`` is; text that is not a
    JSON object (a provider's malformed call) is kept whole under ``_raw`` rather than
    lost."""
    try:
        value = orjson.loads(arguments) if arguments.strip() else {}
    except orjson.JSONDecodeError:
        return {"_raw": arguments}
    return value if isinstance(value, dict) else {"_raw": arguments}


def render_message(response: ChatResponse, request: ChatRequest, outcome: Outcome) -> bytes:
    choice = response.choices[0] if response.choices else Choice(content="")
    content: list[dict[str, Any]] = []
    text = choice.content or choice.refusal
    if text:
        content.append({"type": "text", "text": text})
    for call in choice.tool_calls or ():
        content.append(
            {
                "type": "tool_use",
                "id": call.id,
                "name": call.name,
                "input": tool_input(call.arguments),
            }
        )
    reason = choice.finish_reason
    if choice.refusal and reason == "stop":
        reason = "content_filter"
    body = {
        "id": f"msg_{outcome.request_id}",
        "type": "message",
        "role": "assistant",
        "model": request.model,
        "content": content,
        "stop_reason": stop_reason(reason, choice.stop_sequence),
        "stop_sequence": choice.stop_sequence,
        "usage": message_usage(response.usage or Usage()),
    }
    return orjson.dumps(body)
