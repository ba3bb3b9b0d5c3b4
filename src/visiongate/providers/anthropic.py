"""Anthropic Messages API adapter.

Sends the body built by :mod:`visiongate.providers.anthropic_payload` to
``POST {base_url}/v1/messages`` and translates the answer (a Message, or its SSE event
stream) back into :class:`ChatResponse` / :class:`StreamDelta`. The mapping functions are
pure and named by direction (``to_anthropic_payload`` re-exported from the payload module,
``from_anthropic_response``, ``from_anthropic_event`` via :class:`AnthropicStreamTranslator`);
:class:`AnthropicProvider` only adds the I/O.

Decisions (see docs/providers-anthropic-gemini.md; the request-side ones are in
:mod:`visiongate.providers.anthropic_payload`):

- ``response_format`` JSON is refused by :meth:`Provider.check` (no JSON mode in the API,
  and an emulation through a forced tool call would change what the client sees).
- Unknown ``stop_reason`` values finish with ``stop`` and are logged.
- Anthropic may answer an overload with HTTP 200 and an ``error`` event before any output.
  Until a delta has been produced, such an error raises what the HTTP status it stands
  for raises (529 for ``overloaded_error``), so the routing policy retries it as it would
  that status. After the first delta an error event ends the stream.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import orjson

from visiongate.core.messages import (
    ChatResponse,
    Choice,
    StreamDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from visiongate.errors import GatewayError, InvalidRequest, UpstreamError
from visiongate.providers.anthropic_payload import check_conversation, to_anthropic_payload
from visiongate.providers.base import HttpProvider, map_upstream_status
from visiongate.providers.body import serialise
from visiongate.transport import Body

if TYPE_CHECKING:
    from visiongate.core.catalog import ModelEntry
    from visiongate.core.messages import ChatRequest, FinishReason
    from visiongate.providers.base import SseEvent
    from visiongate.transport import Response

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
        prompt_tokens=prompt,
        completion_tokens=_int(usage, "output_tokens"),
        cached_tokens=read,
        cache_creation_tokens=_int(usage, "cache_creation_input_tokens"),
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
    sequence = body.get("stop_sequence")
    choice = Choice(
        content="".join(texts) if texts or not calls else None,
        tool_calls=calls or None,
        finish_reason=finish_reason(body.get("stop_reason")) or "stop",
        stop_sequence=sequence if isinstance(sequence, str) else None,
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
            delta = event.get("delta") or {}
            reason = finish_reason(delta.get("stop_reason"))
            if reason is None:
                return []
            sequence = delta.get("stop_sequence")
            return [
                StreamDelta(
                    finish_reason=reason,
                    stop_sequence=sequence if isinstance(sequence, str) else None,
                    usage=self.usage,
                )
            ]
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

    accepts_top_k = True
    accepts_pdf_urls = True

    def pdf_form(self, model: ModelEntry) -> Literal["native", "text"] | None:
        return "native"

    def check(self, request: ChatRequest, model: ModelEntry) -> None:
        super().check(request, model)
        check_conversation(request)
        if not model.supports("thinking"):
            for message in request.messages:
                for part in message.thinking:
                    raise InvalidRequest(
                        f"{model.id} has no extended thinking, so it cannot take a thinking "
                        "block back; leave it out or use a model with thinking",
                        code="unsupported_content",
                        param=part.param or "messages",
                    )

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
        payload = serialise(to_anthropic_payload(request, model, stream=True))
        opened = await self._open_stream(payload, model)
        translator, events = opened.translator, opened.events
        try:
            for delta in opened.first:
                yield delta
            async for event in events:
                for delta in translator.from_anthropic_event(_event_json(event.data, self.name)):
                    yield delta
            translator.finish()
        finally:
            if not translator.done:
                opened.response.close()  # drops the connection: the upstream stops generating
            await events.aclose()

    async def _open_stream(self, payload: Body, model: ModelEntry) -> _OpenStream:
        """POST the streaming request and read it up to its first deltas.

        An error event before them (the overload Anthropic sends after an HTTP 200) raises
        what its HTTP status would (529 for ``overloaded_error``), so the routing policy
        retries or moves on exactly as for that status: nothing has reached the client.
        """
        response = await self.post(self._url, payload, self._headers(), model)
        translator = AnthropicStreamTranslator(self.name)
        events = self.events(response)
        try:
            first = await self._first_deltas(events, translator)
        except BaseException:
            response.close()
            await events.aclose()
            raise
        return _OpenStream(response, events, translator, first)

    async def _first_deltas(
        self, events: AsyncIterator[SseEvent], translator: AnthropicStreamTranslator
    ) -> list[StreamDelta]:
        """The deltas of the first event that yields any (``[]`` for a stream without any)."""
        async for sse in events:
            deltas = translator.from_anthropic_event(_event_json(sse.data, self.name))
            if deltas:
                return deltas
        translator.finish()
        return []


@dataclass(slots=True)
class _OpenStream:
    """A stream past its first deltas, handed from :meth:`_open_stream` to the reader."""

    response: Response
    events: AsyncGenerator[SseEvent, None]
    translator: AnthropicStreamTranslator
    first: list[StreamDelta]


def _event_json(data: str, provider: str) -> Mapping[str, Any]:
    try:
        event = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise UpstreamError(f"{provider} sent a stream event that is not JSON") from exc
    if not isinstance(event, dict):
        raise UpstreamError(f"{provider} sent a stream event that is not an object")
    return event
