"""Conversation rules and tool-call arguments shared by the Anthropic and Gemini adapters.

Both refuse images outside user and tool turns, need the call id on a tool result, and
need the first real turn to be the user's; Gemini also needs the last one to be. Checked
before any image work, so a request that cannot be expressed fails fast and names the
message.
"""

from __future__ import annotations

from typing import Any

import orjson

from visiongate.core.messages import ChatRequest, ToolCall
from visiongate.errors import InvalidRequest

__all__ = ["check_turns", "tool_arguments"]


def tool_arguments(call: ToolCall, param: str) -> dict[str, Any]:
    """An assistant tool call's arguments as the object both APIs want (OpenAI sends a
    JSON string). Raises InvalidRequest naming the call when it is not a JSON object."""
    if not call.arguments.strip():
        return {}
    try:
        value = orjson.loads(call.arguments)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest("tool call arguments are not valid JSON", param=param) from exc
    if not isinstance(value, dict):
        raise InvalidRequest("tool call arguments must be a JSON object", param=param)
    return value


def check_turns(request: ChatRequest, api: str, *, end_with_user: bool = False) -> None:
    """Raise InvalidRequest naming the message the ``api`` cannot take."""
    turns: list[int] = []
    for i, message in enumerate(request.messages):
        if message.role in ("system", "developer", "assistant") and message.images:
            raise InvalidRequest(
                f"{api} accepts images only in user and tool messages, not in a "
                f"{message.role} message",
                code="unsupported_content",
                param=message.images[0].param,
            )
        if message.role == "tool" and not message.tool_call_id:
            raise InvalidRequest(
                "a tool message needs the tool_call_id of the call it answers",
                param=f"messages[{i}].tool_call_id",
            )
        if message.role not in ("system", "developer"):
            turns.append(i)
    if not turns:
        raise InvalidRequest(
            f"{api} needs at least one user message besides system messages", param="messages"
        )
    if request.messages[turns[0]].role == "assistant":
        raise InvalidRequest(
            f"{api} conversations must start with a user message after the system messages",
            param=f"messages[{turns[0]}].role",
        )
    if end_with_user and request.messages[turns[-1]].role == "assistant":
        raise InvalidRequest(
            f"{api} conversations must end with a user or tool message",
            param=f"messages[{turns[-1]}].role",
        )
