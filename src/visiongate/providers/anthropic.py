"""Anthropic Messages API adapter.

Translates the internal :class:`ChatRequest` into a ``POST {base_url}/v1/messages`` body and
the answer (a Message, or its SSE event stream) back into :class:`ChatResponse` /
:class:`StreamDelta`. The mapping functions are pure and named by direction
(``to_anthropic_payload``, ``from_anthropic_response``, ``from_anthropic_event`` via
:class:`AnthropicStreamTranslator`); :class:`AnthropicProvider` only adds the I/O.

Decisions (see docs/providers-anthropic-gemini.md):

- System and developer messages, wherever they appear, become top-level ``system`` text
  blocks in order; images there are refused (the API takes text only).
- Tool results become ``tool_result`` blocks in a user turn; consecutive turns of the same
  role are merged, so the payload always alternates user/assistant starting with user.
- ``response_format`` JSON is refused by :meth:`Provider.check` (no JSON mode in the API,
  and an emulation through a forced tool call would change what the client sees).
- ``seed``, ``presence_penalty``, ``frequency_penalty`` and a tool's ``strict`` flag are
  sampling hints the API lacks: ignored, as documented.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

import orjson

from visiongate.core.messages import (
    ChatResponse,
    Choice,
    ImagePart,
    Message,
    StreamDelta,
    TextPart,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from visiongate.errors import GatewayError, InvalidRequest, UpstreamError
from visiongate.providers.base import HttpProvider, map_upstream_status

if TYPE_CHECKING:
    from visiongate.core.catalog import ModelEntry
    from visiongate.core.messages import ChatRequest, FinishReason

__all__ = [
    "ANTHROPIC_VERSION",
    "AnthropicProvider",
    "AnthropicStreamTranslator",
    "check_conversation",
    "finish_reason",
    "from_anthropic_error",
    "from_anthropic_response",
    "to_anthropic_payload",
    "usage_from",
]

log = logging.getLogger(__name__)

ANTHROPIC_VERSION = "2023-06-01"
_MEDIA_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})

_FINISH: Mapping[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

# Error ``type`` → the HTTP status Anthropic uses for it, for errors that arrive as SSE
# events after the 200 (their status is implied by the type).
_ERROR_STATUS: Mapping[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


# ------------------------------------------------------------------ request mapping


def check_conversation(request: ChatRequest) -> None:
    """Refuse conversations the Messages API cannot express, before any image work.

    Raises InvalidRequest naming the message: images outside user and tool messages, a
    tool message without ``tool_call_id``, or a conversation whose first non-system turn
    is not from the user (the API requires the user to speak first).
    """
    first_turn: tuple[int, Message] | None = None
    for i, message in enumerate(request.messages):
        if message.role in ("system", "developer", "assistant") and message.images:
            raise InvalidRequest(
                f"Anthropic accepts images only in user and tool messages, not in a "
                f"{message.role} message",
                code="unsupported_content",
                param=message.images[0].param,
            )
        if message.role == "tool" and not message.tool_call_id:
            raise InvalidRequest(
                "a tool message needs the tool_call_id of the call it answers",
                param=f"messages[{i}].tool_call_id",
            )
        if first_turn is None and message.role not in ("system", "developer"):
            first_turn = (i, message)
    if first_turn is None:
        raise InvalidRequest(
            "Anthropic needs at least one user message besides system messages",
            param="messages",
        )
    index, message = first_turn
    if message.role == "assistant":
        raise InvalidRequest(
            "Anthropic conversations must start with a user message after the system messages",
            param=f"messages[{index}].role",
        )


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
            if message.text:
                system.append({"type": "text", "text": message.text})
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
    if request.stop:
        payload["stop_sequences"] = list(request.stop)
    if request.user:
        payload["metadata"] = {"user_id": request.user}
    if request.tools:
        payload["tools"] = [
            {
                "name": tool.name,
                **({"description": tool.description} if tool.description else {}),
                "input_schema": tool.parameters or {"type": "object", "properties": {}},
            }
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
        return "user", [result]
    blocks = _content_blocks(message, model)
    if message.role == "assistant":
        for j, call in enumerate(message.tool_calls or ()):
            blocks.append(
                {
                    "type": "tool_use",
                    "id": call.id,
                    "name": call.name,
                    "input": _arguments(
                        call, f"messages[{index}].tool_calls[{j}].function.arguments"
                    ),
                }
            )
        return "assistant", blocks
    return "user", blocks


def _content_blocks(message: Message, model: ModelEntry) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for part in message.parts:
        match part:
            case TextPart(text=text):
                if text:  # the API refuses empty text blocks
                    blocks.append({"type": "text", "text": text})
            case ImagePart():
                blocks.append(_image_block(part, model))
    return blocks


def _image_block(part: ImagePart, model: ModelEntry) -> dict[str, Any]:
    if part.has_bytes:
        media_type = "image/jpeg" if part.media_type == "image/jpg" else part.media_type
        if media_type not in _MEDIA_TYPES:
            raise InvalidRequest(
                f"Anthropic does not accept {media_type} images",
                code="invalid_image",
                param=part.param,
            )
        source = {"type": "base64", "media_type": media_type, "data": part.base64()}
        return {"type": "image", "source": source}
    if model.image.url_passthrough and part.url and part.url.startswith(("http://", "https://")):
        return {"type": "image", "source": {"type": "url", "url": part.url}}
    raise GatewayError(f"image {part.param} reached the Anthropic adapter without its bytes")


def _arguments(call: ToolCall, param: str) -> dict[str, Any]:
    if not call.arguments.strip():
        return {}
    try:
        value = orjson.loads(call.arguments)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest("tool call arguments are not valid JSON", param=param) from exc
    if not isinstance(value, dict):
        raise InvalidRequest("tool call arguments must be a JSON object", param=param)
    return value


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


# ------------------------------------------------------------------ response mapping


def finish_reason(stop_reason: str | None) -> FinishReason | None:
    """OpenAI's ``finish_reason`` for an Anthropic ``stop_reason`` (unknown → stop, logged)."""
    if stop_reason is None:
        return None
    mapped = _FINISH.get(stop_reason)
    if mapped is None:
        log.warning("unknown Anthropic stop_reason %r mapped to 'stop'", stop_reason)
        return "stop"
    return mapped


def usage_from(usage: Mapping[str, Any] | None) -> Usage:
    """Usage from an Anthropic ``usage`` object.

    Prompt tokens include cache writes and reads (Anthropic counts them apart from
    ``input_tokens``); ``cached_tokens`` is the cache reads.
    """
    usage = usage or {}
    read = _int(usage, "cache_read_input_tokens")
    prompt = _int(usage, "input_tokens") + _int(usage, "cache_creation_input_tokens") + read
    return Usage(
        prompt_tokens=prompt, completion_tokens=_int(usage, "output_tokens"), cached_tokens=read
    )


def _int(data: Mapping[str, Any], key: str) -> int:
    value = data.get(key)
    return int(value) if isinstance(value, int | float) else 0


def from_anthropic_response(body: Any, provider: str = "anthropic") -> ChatResponse:
    """A :class:`ChatResponse` from a Messages API answer. Raises UpstreamError on nonsense."""
    if not isinstance(body, dict) or body.get("type") != "message":
        raise UpstreamError(f"{provider} answered with something that is not a message")
    texts: list[str] = []
    calls: list[ToolCall] = []
    for block in body.get("content") or ():
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            texts.append(str(block.get("text", "")))
        elif kind == "tool_use":
            calls.append(
                ToolCall(
                    id=str(block.get("id", "")),
                    name=str(block.get("name", "")),
                    arguments=orjson.dumps(block.get("input") or {}).decode(),
                )
            )
    choice = Choice(
        content="".join(texts) if texts or not calls else None,
        tool_calls=calls or None,
        finish_reason=finish_reason(body.get("stop_reason")) or "stop",
    )
    return ChatResponse(
        choices=[choice],
        usage=usage_from(body.get("usage")),
        upstream_model=body.get("model"),
        upstream_id=body.get("id"),
    )


def from_anthropic_error(error: Any, provider: str = "anthropic") -> GatewayError:
    """The gateway error for an Anthropic error object (``{"type", "message"}``)."""
    if not isinstance(error, dict):
        return UpstreamError(f"{provider} sent an error event without details")
    kind = str(error.get("type") or "api_error")
    message = f"{kind}: {error.get('message') or 'no message'}"
    return map_upstream_status(provider, _ERROR_STATUS.get(kind, 500), message)


class AnthropicStreamTranslator:
    """Turns Messages API stream events into :class:`StreamDelta`, one event at a time.

    State kept: which content blocks are tool calls (and their OpenAI index), whether a
    tool call got any argument text, the usage so far, and whether ``message_stop`` came.
    """

    def __init__(self, provider: str = "anthropic") -> None:
        self.provider = provider
        self.done = False
        self._usage: dict[str, Any] = {}  # latest value of each Anthropic usage field
        self._tools: dict[int, int] = {}  # content block index → tool call index
        self._tool_args: dict[int, bool] = {}

    def from_anthropic_event(self, event: Mapping[str, Any]) -> list[StreamDelta]:
        """The deltas one event produces (often none). Raises the mapped GatewayError for
        an ``error`` event."""
        kind = event.get("type")
        if kind == "message_start":
            message = event.get("message") or {}
            self._merge_usage(message.get("usage"))
            return [StreamDelta(role="assistant", upstream_model=message.get("model"))]
        if kind == "content_block_start":
            return self._block_start(int(event.get("index", 0)), event.get("content_block") or {})
        if kind == "content_block_delta":
            return self._block_delta(int(event.get("index", 0)), event.get("delta") or {})
        if kind == "content_block_stop":
            return self._block_stop(int(event.get("index", 0)))
        if kind == "message_delta":
            self._merge_usage(event.get("usage"))
            reason = finish_reason((event.get("delta") or {}).get("stop_reason"))
            if reason is None:
                return []
            return [StreamDelta(finish_reason=reason, usage=self.usage)]
        if kind == "message_stop":
            self.done = True
            return []
        if kind == "error":
            raise from_anthropic_error(event.get("error"), self.provider)
        return []  # ping, and event types newer than this adapter

    @property
    def usage(self) -> Usage:
        """The usage so far: ``message_start`` counts, updated by each ``message_delta``
        (whose ``output_tokens`` is cumulative)."""
        return usage_from(self._usage)

    def _merge_usage(self, usage: Any) -> None:
        if isinstance(usage, dict):
            self._usage.update({k: v for k, v in usage.items() if v is not None})

    def finish(self) -> None:
        """Call when the upstream stream ends; raises UpstreamError if it ended early."""
        if not self.done:
            raise UpstreamError(f"{self.provider} ended the stream before message_stop")

    def _block_start(self, index: int, block: Mapping[str, Any]) -> list[StreamDelta]:
        kind = block.get("type")
        if kind == "text":
            text = block.get("text")
            return [StreamDelta(content=text)] if text else []
        if kind == "tool_use":
            position = len(self._tools)
            self._tools[index] = position
            given = block.get("input")
            arguments = orjson.dumps(given).decode() if given else ""
            self._tool_args[index] = bool(arguments)
            return [
                _tool_piece(
                    position, id=block.get("id"), name=block.get("name"), arguments=arguments
                )
            ]
        return []  # thinking and server-side blocks are not part of the OpenAI answer

    def _block_delta(self, index: int, delta: Mapping[str, Any]) -> list[StreamDelta]:
        kind = delta.get("type")
        if kind == "text_delta":
            text = delta.get("text")
            return [StreamDelta(content=text)] if text else []
        if kind == "input_json_delta" and index in self._tools:
            piece = delta.get("partial_json")
            if not piece:
                return []
            self._tool_args[index] = True
            return [_tool_piece(self._tools[index], arguments=piece)]
        return []

    def _block_stop(self, index: int) -> list[StreamDelta]:
        if index in self._tools and not self._tool_args[index]:
            # A call without parameters streams no JSON; OpenAI clients expect an object.
            self._tool_args[index] = True
            return [_tool_piece(self._tools[index], arguments="{}")]
        return []


def _tool_piece(index: int, **fields: Any) -> StreamDelta:
    return StreamDelta(tool_calls=[ToolCallDelta(index=index, **fields)])


# ------------------------------------------------------------------ the provider


class AnthropicProvider(HttpProvider):
    """Serves catalog models whose provider has ``kind = "anthropic"``."""

    def check(self, request: ChatRequest, model: ModelEntry) -> None:
        super().check(request, model)
        check_conversation(request)

    def error_message(self, body: bytes) -> tuple[str, str | None]:
        """Anthropic errors are ``{"type":"error","error":{"type","message"}}``."""
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            return self._scrub(body[:500].decode("utf-8", "replace").strip()), None
        error = data.get("error") if isinstance(data, dict) else None
        if isinstance(error, dict) and error.get("message"):
            kind = error.get("type")
            message = f"{kind}: {error['message']}" if kind else str(error["message"])
            return self._scrub(message), None
        message, code = super().error_message(body)
        return self._scrub(message), code

    def _scrub(self, text: str) -> str:
        key = self.entry.api_key
        return text.replace(key, "***") if key else text

    @property
    def _url(self) -> str:
        return f"{self.entry.base_url}/v1/messages"

    def _headers(self) -> dict[str, str]:
        return {"x-api-key": self.entry.api_key or "", "anthropic-version": ANTHROPIC_VERSION}

    async def complete(self, request: ChatRequest, model: ModelEntry) -> ChatResponse:
        payload = to_anthropic_payload(request, model)
        response = await self.post(self._url, payload, self._headers(), model)
        return from_anthropic_response(await self.read_json(response), self.name)

    async def stream(self, request: ChatRequest, model: ModelEntry) -> AsyncIterator[StreamDelta]:
        payload = to_anthropic_payload(request, model, stream=True)
        response = await self.post(self._url, payload, self._headers(), model)
        translator = AnthropicStreamTranslator(self.name)
        events = self.events(response)
        try:
            async for event in events:
                for delta in translator.from_anthropic_event(_event_json(event.data, self.name)):
                    yield delta
            translator.finish()
        finally:
            if not translator.done:
                response.close()  # drops the connection: the upstream stops generating
            await events.aclose()


def _event_json(data: str, provider: str) -> Mapping[str, Any]:
    try:
        event = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise UpstreamError(f"{provider} sent a stream event that is not JSON") from exc
    if not isinstance(event, dict):
        raise UpstreamError(f"{provider} sent a stream event that is not an object")
    return event
