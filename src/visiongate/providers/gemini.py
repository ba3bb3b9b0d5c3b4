"""Google Gemini API adapter (generativelanguage ``v1beta``).

Translates the internal :class:`ChatRequest` into a ``generateContent`` body and the answer
back. A streamed answer (``:streamGenerateContent?alt=sse``) is a sequence of
``GenerateContentResponse`` objects of the same shape as the non-streamed one, so one
translator (:class:`GeminiStreamTranslator`) serves both: ``from_gemini_response`` feeds it
the single body and folds the deltas, and the two paths cannot drift.

Decisions (see docs/providers-anthropic-gemini.md):

- The JSON uses lowerCamelCase field names throughout (``inlineData``/``mimeType``,
  ``systemInstruction``, ``generationConfig``), the form Google's REST reference shows.
- ``assistant`` → ``model``; tool results are ``functionResponse`` parts in a user turn,
  their function name looked up from the assistant call they answer; consecutive turns of
  the same role are merged. The API wants the user to speak first and last; anything else
  is a 400 before any image work.
- Safety blocks (``promptFeedback.blockReason``, a candidate stopped for ``SAFETY`` and
  friends) finish with ``content_filter``; when no text was produced the reason is the
  message content, so the client can tell a block from an empty answer.
- ``user`` and ``parallel_tool_calls`` have no Gemini counterpart and are ignored.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import aiohttp
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
from visiongate.providers.base import HttpProvider, map_upstream_status, unsupported
from visiongate.providers.gemini_schema import gemini_schema

if TYPE_CHECKING:
    from visiongate.core.catalog import ModelEntry
    from visiongate.core.messages import ChatRequest, FinishReason

__all__ = [
    "GeminiProvider",
    "GeminiStreamTranslator",
    "check_conversation",
    "from_gemini_error",
    "from_gemini_response",
    "to_gemini_payload",
]

log = logging.getLogger(__name__)

MAX_STOP_SEQUENCES = 5
_MEDIA_TYPES = frozenset({"image/png", "image/jpeg", "image/webp", "image/heic", "image/heif"})
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


# ------------------------------------------------------------------ request mapping


def check_conversation(request: ChatRequest) -> None:
    """Refuse, before any image work, what ``generateContent`` cannot express.

    Raises InvalidRequest naming the field: more than five stop sequences, images outside
    user and tool messages, a tool message without ``tool_call_id``, or a conversation
    that does not start and end with the user.
    """
    if request.stop and len(request.stop) > MAX_STOP_SEQUENCES:
        raise unsupported("stop", f"Gemini takes at most {MAX_STOP_SEQUENCES} stop sequences")
    turns: list[int] = []
    for i, message in enumerate(request.messages):
        if message.role in ("system", "developer", "assistant") and message.images:
            raise InvalidRequest(
                f"Gemini accepts images only in user and tool messages, not in a "
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
            "Gemini needs at least one user message besides system messages", param="messages"
        )
    if request.messages[turns[0]].role == "assistant":
        raise InvalidRequest(
            "Gemini conversations must start with a user message after the system messages",
            param=f"messages[{turns[0]}].role",
        )
    if request.messages[turns[-1]].role == "assistant":
        raise InvalidRequest(
            "Gemini conversations must end with a user or tool message",
            param=f"messages[{turns[-1]}].role",
        )


def to_gemini_payload(request: ChatRequest, model: ModelEntry) -> dict[str, Any]:
    """The ``generateContent`` body for ``request`` sent to ``model``.

    Every image must already carry its bytes in a format Gemini takes (the image pipeline
    converts GIF, BMP, ... first). Raises InvalidRequest for what the API cannot express.
    """
    check_conversation(request)
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    call_names: dict[str, str] = {}
    for i, message in enumerate(request.messages):
        if message.role in ("system", "developer"):
            if message.text:
                system.append({"text": message.text})
            continue
        if message.role == "assistant":
            for call in message.tool_calls or ():
                call_names[call.id] = call.name
        role, parts = _content(i, message, call_names)
        if not parts:
            continue
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})
    if not contents:
        raise InvalidRequest("the conversation has no content to send", param="messages")

    payload: dict[str, Any] = {"contents": contents}
    if system:
        payload["systemInstruction"] = {"parts": system}
    config = _generation_config(request, model)
    if config:
        payload["generationConfig"] = config
    if request.tools:
        payload["tools"] = [
            {"functionDeclarations": [_declaration(t, i) for i, t in enumerate(request.tools)]}
        ]
        tool_config = _tool_config(request.tool_choice)
        if tool_config:
            payload["toolConfig"] = tool_config
    return payload


def _content(
    index: int, message: Message, call_names: Mapping[str, str]
) -> tuple[str, list[dict[str, Any]]]:
    """(role, parts) of one user, assistant or tool message."""
    if message.role == "tool":
        name = call_names.get(message.tool_call_id or "") or message.name
        if not name:
            raise InvalidRequest(
                "this tool result answers no tool call earlier in the conversation; Gemini "
                "needs the function's name",
                param=f"messages[{index}].tool_call_id",
            )
        response = {"name": name, "response": _tool_output(message.text)}
        images = [_image(p) for p in message.parts if isinstance(p, ImagePart)]
        return "user", [{"functionResponse": response}, *images]
    parts: list[dict[str, Any]] = []
    for part in message.parts:
        match part:
            case TextPart(text=text):
                if text:
                    parts.append({"text": text})
            case ImagePart():
                parts.append(_image(part))
    if message.role == "assistant":
        for j, call in enumerate(message.tool_calls or ()):
            param = f"messages[{index}].tool_calls[{j}].function.arguments"
            parts.append({"functionCall": {"name": call.name, "args": _arguments(call, param)}})
        return "model", parts
    return "user", parts


def _image(part: ImagePart) -> dict[str, Any]:
    if not part.has_bytes:
        raise GatewayError(f"image {part.param} reached the Gemini adapter without its bytes")
    media_type = "image/jpeg" if part.media_type == "image/jpg" else part.media_type
    if media_type not in _MEDIA_TYPES:
        raise InvalidRequest(
            f"Gemini does not accept {media_type} images", code="invalid_image", param=part.param
        )
    return {"inlineData": {"mimeType": media_type, "data": part.base64()}}


def _tool_output(text: str) -> dict[str, Any]:
    """A tool's result as the JSON object ``functionResponse.response`` must be: a JSON
    object is sent as is, anything else under ``output`` (Google's documented key)."""
    try:
        value = orjson.loads(text) if text.strip() else text
    except orjson.JSONDecodeError:
        value = text
    return value if isinstance(value, dict) else {"output": value}


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


def _generation_config(request: ChatRequest, model: ModelEntry) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if request.max_tokens is not None:
        ceiling = model.max_output_tokens
        config["maxOutputTokens"] = (
            min(request.max_tokens, ceiling) if ceiling > 0 else request.max_tokens
        )
    optional = {
        "temperature": request.temperature,
        "topP": request.top_p,
        "seed": request.seed,
        "presencePenalty": request.presence_penalty,
        "frequencyPenalty": request.frequency_penalty,
    }
    config.update({k: v for k, v in optional.items() if v is not None})
    if request.stop:
        config["stopSequences"] = list(request.stop)
    config.update(_response_format(request.response_format))
    return config


def _response_format(response_format: Mapping[str, Any] | None) -> dict[str, Any]:
    kind = (response_format or {}).get("type")
    if kind in (None, "text"):
        return {}
    if kind == "json_object":
        return {"responseMimeType": "application/json"}
    if kind == "json_schema":
        spec = (response_format or {}).get("json_schema") or {}
        schema = spec.get("schema") if isinstance(spec, dict) else None
        out: dict[str, Any] = {"responseMimeType": "application/json"}
        if schema:
            out["responseSchema"] = gemini_schema(schema, "response_format.json_schema.schema")
        return out
    raise unsupported("response_format", f"response_format type {kind!r} is not supported")


def _declaration(tool: Any, index: int) -> dict[str, Any]:
    declaration: dict[str, Any] = {"name": tool.name}
    if tool.description:
        declaration["description"] = tool.description
    params = tool.parameters or {}
    if params.get("properties"):  # Gemini refuses an OBJECT schema without properties
        declaration["parameters"] = gemini_schema(params, f"tools[{index}].function.parameters")
    return declaration


def _tool_config(choice: str | None) -> dict[str, Any] | None:
    if choice is None:
        return None
    if choice in ("auto", "none", "required"):
        mode = {"auto": "AUTO", "none": "NONE", "required": "ANY"}[choice]
        return {"functionCallingConfig": {"mode": mode}}
    return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [choice]}}


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
    return map_upstream_status(provider, status, f"{label}: {text}" if label else text)


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

    async def _post(self, url: str, payload: Any, model: ModelEntry) -> aiohttp.ClientResponse:
        """:meth:`post`, except that a rejected API key (which Gemini answers with HTTP 400)
        is the operator's problem: a 502, as 401/403 are for other providers."""
        try:
            return await self.post(url, payload, self._headers(), model)
        except InvalidRequest as exc:
            if exc.code != "API_KEY_INVALID":
                raise
            raise UpstreamError(
                f"{self.name} refused the gateway's API key; the operator must check "
                f"{self.entry.api_key_env or 'the provider key'}. Upstream said: {exc.message}"
            ) from exc

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
    for detail in error.get("details") or ():
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("rpc.ErrorInfo"):
            reason = detail.get("reason")
            return str(reason) if reason else None
    return None


def _chunk_json(data: str, provider: str) -> Mapping[str, Any]:
    try:
        chunk = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise UpstreamError(f"{provider} sent a stream chunk that is not JSON") from exc
    if not isinstance(chunk, dict):
        raise UpstreamError(f"{provider} sent a stream chunk that is not an object")
    return chunk
