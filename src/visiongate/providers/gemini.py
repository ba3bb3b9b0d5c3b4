"""Google Gemini API adapter (generativelanguage ``v1beta``).

Sends the ``generateContent`` body built by :mod:`visiongate.providers.gemini_payload` and
translates the answer back. A streamed answer (``:streamGenerateContent?alt=sse``) is a
sequence of ``GenerateContentResponse`` objects of the same shape as the non-streamed one, so
one translator (:class:`GeminiStreamTranslator`) serves both: ``from_gemini_response`` feeds
it the single body and folds the deltas, and the two paths cannot drift.

Decisions (see docs/providers-anthropic-gemini.md; the request-side ones are in
:mod:`visiongate.providers.gemini_payload`):

- Safety blocks (``promptFeedback.blockReason``, a candidate stopped for ``SAFETY`` and
  friends) finish with ``content_filter``; when no text was produced the reason is the
  message content, so the client can tell a block from an empty answer.
- A rejected API key (HTTP 400 ``API_KEY_INVALID``) is the operator's problem: a 502.
- The delay a 429 asks for is in its body (``google.rpc.RetryInfo``), not in a header: it
  drives the routing policy's retry backoff and becomes the client's ``Retry-After``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

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
from visiongate.providers.base import HttpProvider, map_upstream_status
from visiongate.providers.delay import parse_duration
from visiongate.providers.gemini_payload import (
    MAX_STOP_SEQUENCES,
    check_conversation,
    to_gemini_payload,
)

if TYPE_CHECKING:
    from visiongate.core.catalog import ModelEntry
    from visiongate.core.messages import ChatRequest, FinishReason
    from visiongate.transport import Response

__all__ = [
    "MAX_STOP_SEQUENCES",
    "GeminiProvider",
    "GeminiStreamTranslator",
    "check_conversation",
    "from_gemini_error",
    "from_gemini_response",
    "retry_delay",
    "to_gemini_payload",
]

log = logging.getLogger(__name__)

_BLOCKED = frozenset(
    {
        "SAFETY",
        "RECITATION",
        "LANGUAGE",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "IMAGE_SAFETY",
    }
)
_FINISH: Mapping[str, FinishReason] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    **dict.fromkeys(_BLOCKED, "content_filter"),
    "OTHER": "stop",
    "FINISH_REASON_UNSPECIFIED": "stop",
    "MALFORMED_FUNCTION_CALL": "stop",
    "UNEXPECTED_TOOL_CALL": "stop",
    "TOO_MANY_TOOL_CALLS": "stop",
}


# ------------------------------------------------------------------ response mapping


def new_call_id() -> str:
    """An id for a function call (Gemini 1.5/2.0 do not give one; OpenAI clients need it)."""
    return f"call_{uuid.uuid4().hex[:24]}"


def usage_from(meta: Mapping[str, Any] | None) -> Usage | None:
    """Usage from ``usageMetadata``: tool-use prompt tokens count as prompt, thinking
    tokens as completion (as OpenAI counts reasoning tokens)."""
    if not isinstance(meta, dict):
        return None

    def count(key: str) -> int:
        value = meta.get(key)
        return int(value) if isinstance(value, int | float) else 0

    return Usage(
        prompt_tokens=count("promptTokenCount") + count("toolUsePromptTokenCount"),
        completion_tokens=count("candidatesTokenCount") + count("thoughtsTokenCount"),
        cached_tokens=count("cachedContentTokenCount"),
    )


def from_gemini_error(error: Any, provider: str = "google") -> GatewayError:
    """The gateway error for a Gemini error object (``{"code", "message", "status"}``)."""
    if not isinstance(error, dict):
        return UpstreamError(f"{provider} sent an error without details")
    code = error.get("code")
    status = code if isinstance(code, int) and 400 <= code < 600 else 500
    label = error.get("status")
    text = str(error.get("message") or "no message")
    delay = retry_delay(error)
    return map_upstream_status(
        provider,
        status,
        f"{label}: {text}" if label else text,
        retry_after=delay,
    )


def retry_delay(error: Mapping[str, Any]) -> float | None:
    """The delay an error's ``google.rpc.RetryInfo`` detail asks for, in seconds (the
    protobuf Duration ``"37s"`` → 37.0, ``"1.5s"`` → 1.5), validated and clamped by
    :func:`parse_duration`; None when absent or not a duration."""
    detail = _detail(error, "rpc.RetryInfo")
    return parse_duration(detail.get("retryDelay") if detail else None)


class GeminiStreamTranslator:
    """Turns ``GenerateContentResponse`` chunks into :class:`StreamDelta`.

    Text and function calls are emitted as they arrive. The finish reason and usage are
    emitted by :meth:`finish` when the stream ends, because Gemini may send
    ``usageMetadata`` again after the chunk with ``finishReason`` and the last one counts.
    """

    def __init__(self, new_id: Callable[[], str] = new_call_id, provider: str = "google") -> None:
        self.provider = provider
        self.upstream_model: str | None = None
        self.upstream_id: str | None = None
        self._new_id = new_id
        self._started = False
        self._tools = 0
        self._text = False
        self._reason: str | None = None
        self._blocked: str | None = None  # promptFeedback.blockReason, whatever its value
        self._note: str | None = None
        self._usage: Usage | None = None

    def from_gemini_chunk(self, chunk: Mapping[str, Any]) -> list[StreamDelta]:
        """The deltas one chunk produces. Raises the mapped GatewayError for an error chunk."""
        if "error" in chunk:
            raise from_gemini_error(chunk["error"], self.provider)
        deltas: list[StreamDelta] = []
        if not self._started:
            self._started = True
            self.upstream_model = chunk.get("modelVersion")
            self.upstream_id = chunk.get("responseId")
            deltas.append(StreamDelta(role="assistant", upstream_model=self.upstream_model))
        self._usage = usage_from(chunk.get("usageMetadata")) or self._usage
        feedback = chunk.get("promptFeedback") or {}
        if feedback.get("blockReason"):
            self._reason = self._blocked = str(feedback["blockReason"])
            detail = feedback.get("blockReasonMessage")
            self._note = f"Gemini blocked the prompt ({self._blocked})" + (
                f": {detail}" if detail else ""
            )
        candidates = chunk.get("candidates") or []
        if candidates:  # candidateCount is always 1
            deltas.extend(self._candidate(candidates[0]))
        return deltas

    def finish(self) -> StreamDelta:
        """The last delta (finish reason and usage). Raises UpstreamError when the stream
        ended without a finish reason, i.e. it broke off."""
        if self._reason is None:
            raise UpstreamError(f"{self.provider} ended the stream before a finish reason")
        reason = "content_filter" if self._blocked else _FINISH.get(self._reason)
        if reason is None:
            log.warning("unknown Gemini finishReason %r mapped to 'stop'", self._reason)
            reason = "stop"
        if reason == "stop" and self._tools:
            reason = "tool_calls"
        note = None
        if reason == "content_filter" and not self._text:
            note = self._note or f"Gemini stopped the answer ({self._reason})"
        return StreamDelta(content=note, finish_reason=reason, usage=self._usage)

    def _candidate(self, candidate: Mapping[str, Any]) -> list[StreamDelta]:
        deltas: list[StreamDelta] = []
        for part in (candidate.get("content") or {}).get("parts") or ():
            if part.get("thought"):
                continue  # thinking summaries are not part of the answer
            if part.get("text"):
                self._text = True
                deltas.append(StreamDelta(content=part["text"]))
            elif isinstance(part.get("functionCall"), dict):
                call = part["functionCall"]
                piece = ToolCallDelta(
                    index=self._tools,
                    id=call.get("id") or self._new_id(),
                    name=call.get("name"),
                    arguments=orjson.dumps(call.get("args") or {}).decode(),
                )
                self._tools += 1
                deltas.append(StreamDelta(tool_calls=[piece]))
        if candidate.get("finishReason"):
            self._reason = candidate["finishReason"]
        return deltas


def from_gemini_response(
    body: Any, new_id: Callable[[], str] = new_call_id, provider: str = "google"
) -> ChatResponse:
    """A :class:`ChatResponse` from a ``generateContent`` answer, through the stream
    translator. Raises UpstreamError on nonsense, the mapped error for an error body."""
    if not isinstance(body, dict):
        raise UpstreamError(f"{provider} answered with something that is not an object")
    translator = GeminiStreamTranslator(new_id, provider)
    deltas = [*translator.from_gemini_chunk(body), translator.finish()]
    texts = [d.content for d in deltas if d.content]
    calls = [
        ToolCall(id=piece.id or "", name=piece.name or "", arguments=piece.arguments or "{}")
        for d in deltas
        for piece in d.tool_calls or ()
    ]
    last = deltas[-1]
    choice = Choice(
        content="".join(texts) if texts or not calls else None,
        tool_calls=calls or None,
        finish_reason=last.finish_reason,
    )
    return ChatResponse(
        choices=[choice],
        usage=last.usage,
        upstream_model=translator.upstream_model,
        upstream_id=translator.upstream_id,
    )


# ------------------------------------------------------------------ the provider


class GeminiProvider(HttpProvider):
    """Serves catalog models whose provider has ``kind = "google"``."""

    accepts_top_k = True

    def pdf_form(self, model: ModelEntry) -> Literal["native", "text"] | None:
        return "native"

    def check(self, request: ChatRequest, model: ModelEntry) -> None:
        super().check(request, model)
        check_conversation(request)

    def error_message(self, body: bytes) -> tuple[str, str | None]:
        """Gemini errors are ``{"error": {"code", "message", "status"}}``."""
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            data = None
        error = data.get("error") if isinstance(data, dict) else None
        if isinstance(error, dict) and error.get("message"):
            label = error.get("status")
            message = f"{label}: {error['message']}" if label else str(error["message"])
            return self._scrub(message), _error_reason(error)
        message, code = super().error_message(body)
        return self._scrub(message), code

    def retry_after(self, status: int, headers: Mapping[str, str], body: bytes) -> float | None:
        """The ``RetryInfo`` delay in the error body (Gemini's way; it usually sends no
        ``Retry-After`` header), else the header."""
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            data = None
        error = data.get("error") if isinstance(data, dict) else None
        delay = retry_delay(error) if isinstance(error, dict) else None
        return delay if delay is not None else super().retry_after(status, headers, body)

    async def _post(self, url: str, payload: Any, model: ModelEntry) -> Response:
        """:meth:`post`, except that a rejected API key (which Gemini answers with HTTP 400)
        is the operator's problem: a 502, as 401/403 are for other providers."""
        try:
            return await self.post(url, payload, self._headers(), model)
        except InvalidRequest as exc:
            if exc.code != "API_KEY_INVALID":
                raise
            error = UpstreamError(
                f"{self.name} refused the gateway's API key; the operator must check "
                f"{self.entry.api_key_env or 'the provider key'}. Upstream said: {exc.message}"
            )
            error.upstream_status = 401  # what it means: the routing policy cools the account
            raise error from exc

    def _scrub(self, text: str) -> str:
        key = self.entry.api_key
        return text.replace(key, "***") if key else text

    def _url(self, model: ModelEntry, method: str) -> str:
        return f"{self.entry.base_url}/v1beta/models/{quote(model.upstream, safe='')}:{method}"

    def _headers(self) -> dict[str, str]:
        return {"x-goog-api-key": self.entry.api_key or ""}

    async def complete(self, request: ChatRequest, model: ModelEntry) -> ChatResponse:
        payload = to_gemini_payload(request, model)
        response = await self._post(self._url(model, "generateContent"), payload, model)
        return from_gemini_response(await self.read_json(response), provider=self.name)

    async def stream(self, request: ChatRequest, model: ModelEntry) -> AsyncIterator[StreamDelta]:
        payload = to_gemini_payload(request, model)
        url = self._url(model, "streamGenerateContent") + "?alt=sse"
        response = await self._post(url, payload, model)
        translator = GeminiStreamTranslator(provider=self.name)
        events = self.events(response)
        finished = False
        try:
            async for event in events:
                for delta in translator.from_gemini_chunk(_chunk_json(event.data, self.name)):
                    yield delta
            finished = True
            yield translator.finish()
        finally:
            if not finished:
                response.close()  # drops the connection: the upstream stops generating
            await events.aclose()


def _error_reason(error: Mapping[str, Any]) -> str | None:
    """The ``google.rpc.ErrorInfo`` reason of an error (``API_KEY_INVALID`` ...), if any."""
    detail = _detail(error, "rpc.ErrorInfo")
    reason = detail.get("reason") if detail else None
    return str(reason) if reason else None


def _detail(error: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    """The first of an error's ``details`` whose ``@type`` ends with ``kind``."""
    details = error.get("details")
    for detail in details if isinstance(details, list) else ():
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith(kind):
            return detail
    return None


def _chunk_json(data: str, provider: str) -> Mapping[str, Any]:
    try:
        chunk = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise UpstreamError(f"{provider} sent a stream chunk that is not JSON") from exc
    if not isinstance(chunk, dict):
        raise UpstreamError(f"{provider} sent a stream chunk that is not an object")
    return chunk
