"""Anthropic Messages API request mapping: internal :class:`ChatRequest` → ``/v1/messages`` body.

Kept apart from :mod:`visiongate.providers.anthropic` (answer translation and the provider
class) because the two directions change for different reasons: this side follows what the
Messages API accepts, the other what it sends back. Both functions are pure; every public
name here is re-exported by ``visiongate.providers.anthropic``.

Decisions (see docs/providers-anthropic-gemini.md):

- System and developer messages, wherever they appear, become top-level ``system`` text
  blocks in order; images there are refused (the API takes text only).
- Tool results become ``tool_result`` blocks in a user turn; consecutive turns of the same
  role are merged, so the payload always alternates user/assistant starting with user.
- ``seed``, ``presence_penalty``, ``frequency_penalty`` and a tool's ``strict`` flag are
  sampling hints the API lacks: ignored, as documented.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from visiongate.core.messages import DocumentPart, ImagePart, Message, TextPart, ThinkingPart
from visiongate.errors import GatewayError, InvalidRequest
from visiongate.providers.body import payload_text
from visiongate.providers.conversation import check_turns, tool_arguments

if TYPE_CHECKING:
    from visiongate.core.catalog import ModelEntry
    from visiongate.core.messages import ChatRequest

__all__ = ["check_conversation", "to_anthropic_payload"]

_MEDIA_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})


def check_conversation(request: ChatRequest) -> None:
    """Refuse conversations the Messages API cannot express, before any image work.

    Raises InvalidRequest naming the message: images outside user and tool messages, a
    tool message without ``tool_call_id``, or a conversation whose first non-system turn
    is not from the user (the API requires the user to speak first). A last assistant
    turn is allowed: Anthropic continues it as a prefill.
    """
    check_turns(request, "Anthropic")


def to_anthropic_payload(
    request: ChatRequest, model: ModelEntry, *, stream: bool = False
) -> dict[str, Any]:
    """The Messages API body for ``request`` sent to ``model``.

    Every image must already carry its bytes (the pipeline guarantees it for models
    without URL pass-through). Raises InvalidRequest for what the API cannot express.
    """
    check_conversation(request)
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for i, message in enumerate(request.messages):
        if message.role in ("system", "developer"):
            system.extend(
                _cached({"type": "text", "text": part.text}, part.cache_control)
                for part in message.parts
                if isinstance(part, TextPart) and part.text
            )
            continue
        role, blocks = _turn(i, message, model)
        if not blocks:
            continue  # an empty message says nothing; dropping it keeps the turns valid
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    if not turns:
        raise InvalidRequest("the conversation has no content to send", param="messages")
    _trim_prefill(turns[-1])

    payload: dict[str, Any] = {
        "model": model.upstream,
        "messages": turns,
        "max_tokens": _max_tokens(request, model),
    }
    if system:
        payload["system"] = system
    if request.temperature is not None:
        payload["temperature"] = min(max(request.temperature, 0.0), 1.0)
    if request.top_p is not None:
        payload["top_p"] = request.top_p
    if request.top_k is not None:
        payload["top_k"] = request.top_k
    if request.stop:
        payload["stop_sequences"] = list(request.stop)
    if request.user:
        payload["metadata"] = {"user_id": request.user}
    if request.tools:
        payload["tools"] = [
            _cached(
                {
                    "name": tool.name,
                    **({"description": tool.description} if tool.description else {}),
                    "input_schema": tool.parameters or {"type": "object", "properties": {}},
                },
                tool.cache_control,
            )
            for tool in request.tools
        ]
        choice = _tool_choice(request)
        if choice is not None:
            payload["tool_choice"] = choice
    if stream:
        payload["stream"] = True
    return payload


def _max_tokens(request: ChatRequest, model: ModelEntry) -> int:
    ceiling = model.max_output_tokens if model.max_output_tokens > 0 else None
    wanted = request.max_tokens or ceiling or 4096
    return min(wanted, ceiling) if ceiling else wanted


def _turn(index: int, message: Message, model: ModelEntry) -> tuple[str, list[dict[str, Any]]]:
    """(role, content blocks) of one user, assistant or tool message."""
    if message.role == "tool":
        result: dict[str, Any] = {"type": "tool_result", "tool_use_id": message.tool_call_id}
        content = _content_blocks(message, model)
        if content:
            result["content"] = content
        if message.is_error:
            result["is_error"] = True
        return "user", [_cached(result, message.cache_control)]
    blocks = _content_blocks(message, model)
    if message.role == "assistant":
        for j, call in enumerate(message.tool_calls or ()):
            block = {
                "type": "tool_use",
                "id": call.id,
                "name": call.name,
                "input": tool_arguments(
                    call, f"messages[{index}].tool_calls[{j}].function.arguments"
                ),
            }
            blocks.append(_cached(block, call.cache_control))
        return "assistant", blocks
    return "user", blocks


def _content_blocks(message: Message, model: ModelEntry) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for part in message.parts:
        match part:
            case TextPart(text=text):
                if text:  # the API refuses empty text blocks
                    blocks.append(_cached({"type": "text", "text": text}, part.cache_control))
            case ImagePart():
                blocks.append(_cached(_image_block(part, model), part.cache_control))
            case ThinkingPart(redacted=None):
                blocks.append(
                    {"type": "thinking", "thinking": part.thinking, "signature": part.signature}
                )
            case ThinkingPart(redacted=data):
                blocks.append({"type": "redacted_thinking", "data": data})
            case DocumentPart():
                blocks.append(_cached(_document_block(part), part.cache_control))
    return blocks


def _cached(block: dict[str, Any], cache_control: dict[str, Any] | None) -> dict[str, Any]:
    """The block with the client's cache breakpoint, when it set one."""
    if cache_control is not None:
        block["cache_control"] = cache_control
    return block


def _document_block(part: DocumentPart) -> dict[str, Any]:
    """A PDF as a ``document`` block: a base64 source, or the client's URL when the
    document pipeline left it for Anthropic to fetch."""
    if part.native and part.data is None and isinstance(part.url, str):
        return {"type": "document", "source": {"type": "url", "url": part.url}}
    if not part.native or part.data is None:
        raise GatewayError(f"document {part.param} reached the Anthropic adapter without its PDF")
    source = {
        "type": "base64",
        "media_type": "application/pdf",
        "data": payload_text(part.base64()),
    }
    return {"type": "document", "source": source}


def _image_block(part: ImagePart, model: ModelEntry) -> dict[str, Any]:
    if part.has_bytes:
        media_type = "image/jpeg" if part.media_type == "image/jpg" else part.media_type
        if media_type not in _MEDIA_TYPES:
            raise InvalidRequest(
                f"Anthropic does not accept {media_type} images",
                code="invalid_image",
                param=part.param,
            )
        source = {"type": "base64", "media_type": media_type, "data": payload_text(part.base64())}
        return {"type": "image", "source": source}
    url = part.url
    if (
        model.image.url_passthrough
        and isinstance(url, str)
        and url.startswith(("http://", "https://"))
    ):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise GatewayError(f"image {part.param} reached the Anthropic adapter without its bytes")


def _trim_prefill(turn: dict[str, Any]) -> None:
    """A final assistant turn is a prefill; the API refuses one ending in whitespace."""
    if turn["role"] != "assistant":
        return
    last = turn["content"][-1]
    if last["type"] == "text":
        last["text"] = last["text"].rstrip()
        if not last["text"]:
            turn["content"].pop()


def _tool_choice(request: ChatRequest) -> dict[str, Any] | None:
    choice = request.tool_choice
    if choice is None:
        mapped: dict[str, Any] | None = None
    elif choice == "auto":
        mapped = {"type": "auto"}
    elif choice == "required":
        mapped = {"type": "any"}
    elif choice == "none":
        return {"type": "none"}
    else:
        mapped = {"type": "tool", "name": choice}
    if request.parallel_tool_calls is False:
        mapped = {**(mapped or {"type": "auto"}), "disable_parallel_tool_use": True}
    return mapped
