"""The OpenAI Chat Completions adapter, also used for every OpenAI-compatible host.

The gateway already speaks OpenAI's format at its edge, so this adapter does the least
work: an untouched image goes out as the client's own base64 (``ImagePart.data_url``
reuses it), an http(s) URL the provider fetches itself goes out as that URL, and the
answer is mapped field by field. Host differences (Together, OpenRouter, MiniMax, vLLM)
are flags in the provider's catalog entry, read into a :class:`HostProfile`.

Pure mappings: :func:`to_openai_payload` here; the answer's way back,
:func:`~visiongate.providers.openai_shapes.from_openai_response` and
:func:`~visiongate.providers.openai_shapes.from_openai_chunk`, in ``openai_shapes``.
I/O: :class:`OpenAIProvider`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any, Literal, assert_never

import orjson

from visiongate.core.messages import (
    ChatRequest,
    ChatResponse,
    DocumentPart,
    ImagePart,
    Message,
    Part,
    StreamDelta,
    TextPart,
    ThinkingPart,
)
from visiongate.errors import GatewayError, InvalidRequest, UpstreamError
from visiongate.providers.base import HttpProvider, map_upstream_status
from visiongate.providers.body import payload_text
from visiongate.providers.openai_compat import HostProfile, minimax_base_resp_error
from visiongate.providers.openai_shapes import (
    TextChunkShape,
    from_openai_chunk,
    from_openai_response,
    text_of_openai_chunk,
    tool_choice_to_openai,
    tool_spec_to_openai,
)
from visiongate.providers.openai_stream import StreamState, joined
from visiongate.providers.sse import SseSplitter, block_event

if TYPE_CHECKING:
    from visiongate.core.catalog import ModelEntry, ProviderEntry
    from visiongate.settings import Settings

__all__ = [
    "OpenAIProvider",
    "to_openai_messages",
    "to_openai_payload",
]

_DEFAULT_HOST = HostProfile()
# How long a stream's body may take to end after [DONE] before its connection is dropped.
_DRAIN_AFTER_DONE_S = 1.0


# ---------------------------------------------------------------- internal -> OpenAI


def _image_to_openai(part: ImagePart) -> dict[str, Any]:
    if part.has_bytes:
        if not part.media_type:
            raise GatewayError(f"image {part.param} reached the provider without a media type")
        url = payload_text(part.data_url())
    elif part.url:
        url = payload_text(part.url)
    else:
        raise GatewayError(f"image {part.param} reached the provider with neither bytes nor URL")
    image: dict[str, Any] = {"url": url}
    if part.detail != "auto":
        image["detail"] = part.detail
    return {"type": "image_url", "image_url": image}


def _document_to_openai(part: DocumentPart) -> dict[str, Any]:
    """A PDF as OpenAI's ``file`` part (Chat Completions takes PDFs inline only)."""
    if not part.native or part.data is None:
        raise GatewayError(f"document {part.param} reached the provider without its PDF")
    file = {"filename": part.filename or "document.pdf", "file_data": payload_text(part.data_url())}
    return {"type": "file", "file": file}


def _user_content(message: Message) -> str | list[dict[str, Any]]:
    parts = message.parts
    if len(parts) == 1 and isinstance(parts[0], TextPart):
        return parts[0].text
    content: list[dict[str, Any]] = []
    for part in parts:
        match part:
            case TextPart(text=text):
                content.append({"type": "text", "text": text})
            case ImagePart():
                content.append(_image_to_openai(part))
            case ThinkingPart():
                pass  # Chat Completions has no reasoning turns to hand back (README)
            case DocumentPart():
                content.append(_document_to_openai(part))
            case _:
                assert_never(part)
    return content if content else ""


def _text_content(message: Message) -> str | list[dict[str, Any]] | None:
    """Content of a message that may hold text only (system, developer, assistant, tool)."""
    texts: list[str] = []
    for part in message.parts:
        match part:
            case TextPart(text=text):
                texts.append(text)
            case ImagePart(param=param) | DocumentPart(param=param):
                raise InvalidRequest(
                    f"images and files are accepted only in user messages, not in a "
                    f"{message.role} message; move the {part.kind} into a user message",
                    code="unsupported_content",
                    param=param,
                )
            case ThinkingPart():
                pass  # Chat Completions has no reasoning turns to hand back (README)
            case _:
                assert_never(part)
    if not texts:
        return None
    if len(texts) == 1:
        return texts[0]
    return [{"type": "text", "text": text} for text in texts]


def _message_to_openai(message: Message, index: int, host: HostProfile) -> dict[str, Any]:
    out: dict[str, Any] = {"role": host.role(message.role)}
    match message.role:
        case "user":
            out["content"] = _user_content(message)
        case "system" | "developer":
            content = _text_content(message)
            out["content"] = "" if content is None else content
        case "assistant":
            content = _text_content(message)
            out["content"] = "" if content is None and not message.tool_calls else content
            if message.tool_calls:
                out["tool_calls"] = [
                    {
                        "id": call.id,
                        "type": "function",
                        "function": {"name": call.name, "arguments": call.arguments},
                    }
                    for call in message.tool_calls
                ]
        case "tool":
            if not message.tool_call_id:
                raise InvalidRequest(
                    "a tool message needs the tool_call_id of the call it answers",
                    param=f"messages[{index}].tool_call_id",
                )
            content = _text_content(_without_images(message))
            if message.images and content is None:
                content = "(the result is the images in the next message)"
            if message.is_error:
                # Chat Completions has no failure flag on a result: the text says it.
                content = "Error: " + (content if isinstance(content, str) else message.text)
            out["content"] = "" if content is None else content
            out["tool_call_id"] = message.tool_call_id
        case _:
            assert_never(message.role)
    if message.name:
        out["name"] = message.name
    return out


def _without_images(message: Message) -> Message:
    if not message.images:
        return message
    parts: list[Part] = [p for p in message.parts if not isinstance(p, ImagePart)]
    return Message(role=message.role, parts=parts, tool_call_id=message.tool_call_id)


def _tool_images_message(results: list[Message]) -> dict[str, Any]:
    """The user message that carries the images of tool results.

    A Chat Completions ``tool`` message holds text only, and the tool messages answering
    one assistant turn must follow it directly; so the images of a run of results go
    together in one user message right after the run, each introduced by its call id.
    The model sees every image, in order, next to the result it came from.
    """
    content: list[dict[str, Any]] = []
    for result in results:
        content.append(
            {"type": "text", "text": f"Images returned by tool call {result.tool_call_id}:"}
        )
        content.extend(_image_to_openai(image) for image in result.images)
    return {"role": "user", "content": content}


def to_openai_messages(
    messages: list[Message], host: HostProfile = _DEFAULT_HOST
) -> list[dict[str, Any]]:
    """OpenAI ``messages`` for the internal ones.

    Raises InvalidRequest naming the part for an image in a system, developer or
    assistant message (OpenAI refuses those) and for a tool message without
    ``tool_call_id``. Images in tool results follow their run of tool messages in a user
    message (:func:`_tool_images_message`).
    """
    out: list[dict[str, Any]] = []
    with_images: list[Message] = []
    for i, message in enumerate(messages):
        if with_images and message.role != "tool":
            out.append(_tool_images_message(with_images))
            with_images = []
        out.append(_message_to_openai(message, i, host))
        if message.role == "tool" and message.images:
            with_images.append(message)
    if with_images:
        out.append(_tool_images_message(with_images))
    return out


def to_openai_payload(
    request: ChatRequest,
    model: ModelEntry,
    host: HostProfile = _DEFAULT_HOST,
    *,
    stream: bool | None = None,
) -> dict[str, Any]:
    """The Chat Completions body for ``request`` sent to ``model.upstream``.

    Every honoured request field is carried over; ``None`` fields are left out so the
    upstream's defaults apply. A stream always asks for usage (unless the host refuses
    ``stream_options``) so it can be recorded even when the client did not ask for it.
    """
    streaming = request.stream if stream is None else stream
    payload: dict[str, Any] = {
        "model": model.upstream,
        "messages": to_openai_messages(request.messages, host),
    }
    if request.max_tokens is not None:
        payload[host.max_tokens_field] = request.max_tokens
    if request.temperature is not None:
        payload["temperature"] = host.temperature(request.temperature)
    optional: tuple[tuple[str, Any], ...] = (
        ("top_p", request.top_p),
        # A sampling hint: left out, not refused, for models the catalog says lack it.
        ("seed", request.seed if model.supports("seed") else None),
        ("response_format", request.response_format),
        ("parallel_tool_calls", request.parallel_tool_calls),
        ("user", request.user),
        ("presence_penalty", request.presence_penalty),
        ("frequency_penalty", request.frequency_penalty),
    )
    for key, value in optional:
        if value is not None:
            payload[key] = value
    if request.stop:
        payload["stop"] = list(request.stop)
    if request.n != 1:
        payload["n"] = request.n
    if request.tools:
        payload["tools"] = [tool_spec_to_openai(tool) for tool in request.tools]
    if request.tool_choice is not None:
        payload["tool_choice"] = tool_choice_to_openai(request.tool_choice)
    if streaming:
        payload["stream"] = True
        if host.stream_options:
            options: dict[str, bool] = {"include_usage": True}
            if host.stream_obfuscation and request.include_obfuscation is not None:
                options["include_obfuscation"] = request.include_obfuscation
            payload["stream_options"] = options
    return payload


# ---------------------------------------------------------------- the provider


class OpenAIProvider(HttpProvider):
    """A Chat Completions account: OpenAI itself or any OpenAI-compatible host.

    One instance per ``[providers.X]`` table with ``kind = "openai"``; its pooled session
    comes from :class:`HttpProvider`. Raises ValueError at construction for quirks or
    options it does not know.
    """

    def __init__(self, entry: ProviderEntry, settings: Settings) -> None:
        super().__init__(entry, settings)
        self.host = HostProfile.from_entry(entry)
        self.url = entry.base_url + (entry.chat_path or "/chat/completions")
        self._headers = self.host.headers(entry.api_key)

    def pdf_form(self, model: ModelEntry) -> Literal["native", "text"] | None:
        return "native"  # the ``file`` part; the catalog says which models read it

    def _payload(
        self, request: ChatRequest, model: ModelEntry, stream: bool
    ) -> tuple[dict[str, Any], str]:
        """The body and the URL it goes to (a host whose URL names the deployment, such as
        Azure's, overrides this)."""
        return to_openai_payload(request, model, self.host, stream=stream), self.url

    async def complete(self, request: ChatRequest, model: ModelEntry) -> ChatResponse:
        payload, url = self._payload(request, model, stream=False)
        response = await self.post(url, payload, self._headers, model)
        data = await self.read_json(response)
        if not isinstance(data, dict):
            raise UpstreamError(f"{self.name} answered with JSON that is not an object")
        self._raise_for_body(data, model)
        return from_openai_response(data, self.name)

    async def stream(self, request: ChatRequest, model: ModelEntry) -> AsyncIterator[StreamDelta]:
        """The answer's deltas. Text chunks of one choice that arrived in the same network
        read become one delta that keeps them (``StreamDelta.chunks``), so a Chat
        Completions client can be sent the upstream's own bytes; every other chunk is
        mapped on its own (:func:`from_openai_chunk`)."""
        payload, url = self._payload(request, model, stream=True)
        response = await self.post(url, payload, self._headers, model)
        if response.content_type == "application/json":
            # Some hosts (MiniMax) refuse a stream with one JSON error body and HTTP 200.
            data = await self.read_json(response)
            self._raise_for_body(data if isinstance(data, dict) else {}, model)
            raise UpstreamError(f"{self.name} answered a stream request without a stream")
        state = StreamState()
        # Hosts whose chunks need more than the plain reading are mapped chunk by chunk.
        plain = not (self.host.base_resp or self.host.final_chunk_repeats)
        splitter = SseSplitter()
        try:
            while blocks := await self.event_blocks(response, splitter):
                deltas, error = self._deltas(blocks, state, plain, model)
                for delta in deltas:
                    yield delta
                if error is not None:  # after the deltas of the events before it
                    raise error
                if state.done:
                    break
            if not (state.done or state.held):
                raise UpstreamError(f"{self.name} ended the stream before the answer was complete")
            for delta in state.final():
                yield delta
            if state.done:
                # The client already has everything but [DONE]; the body's chunked end
                # normally follows at once, and reading it keeps the connection pooled.
                await response.discard(_DRAIN_AFTER_DONE_S)
        finally:
            # Releases the connection, or drops it when the body did not end: a client
            # that went away mid-stream also stops the upstream generating.
            response.release()

    def _deltas(
        self, blocks: list[str], state: StreamState, plain: bool, model: ModelEntry
    ) -> tuple[list[StreamDelta], GatewayError | None]:
        """The deltas to send for the events of one read (``blocks``), up to ``[DONE]``
        (which sets ``state.done``): text chunks of one choice in a row joined
        (:func:`joined`), runs of them written like the first read by their shape
        (:meth:`TextChunkShape.run`), the rest mapped one by one; and the error of an
        error event (or of one that is not JSON), to be raised once the deltas before
        it are sent. A list, not a generator: most reads hold one event, and a generator
        per read cost more than the event."""
        out: list[StreamDelta] = []
        try:
            self._read(blocks, state, plain, model, out)
        except GatewayError as exc:
            return out, exc
        return out, None

    def _read(
        self,
        blocks: list[str],
        state: StreamState,
        plain: bool,
        model: ModelEntry,
        out: list[StreamDelta],
    ) -> None:
        """:meth:`_deltas`' work: the deltas of ``blocks`` appended to ``out``."""
        run: list[StreamDelta] = []
        at, count = 0, len(blocks)
        while at < count:
            shape = state.shape
            found = None if shape is None else shape.run(blocks, at)
            if found is not None:
                assert shape is not None
                at += len(found.bodies)
                delta: StreamDelta | None = StreamDelta(
                    index=shape.index,
                    content="".join(found.texts),
                    upstream_model=shape.model,
                    chunks=[found],
                    run=found,
                )
            else:
                block = blocks[at]
                at += 1
                if block.startswith("data: ") and "\n" not in block:
                    data = block[6:]  # the usual event: one data line
                else:
                    event = block_event(block)
                    if event is None:
                        continue
                    data = event.data
                if data.strip() == "[DONE]":
                    state.done = True
                    break
                chunk = self._chunk(data)
                delta = text_of_openai_chunk(chunk) if plain else None
                if delta is not None:
                    if shape is None:
                        state.shape = TextChunkShape.learn(data, delta)
                    delta.chunks = [data]
            # A choice's first delta must name the role; a chunk that does not is mapped
            # on its own, and the role added to it.
            if delta is not None and (
                delta.role or delta.index in state.started or (run and run[0].index == delta.index)
            ):
                if run and run[0].index != delta.index:
                    out += state.take_all([joined(run)])
                    run = []
                run.append(delta)
                continue
            if run:
                out += state.take_all([joined(run)])
                run = []
            if found is not None:  # a run for a choice not yet started: cannot happen
                assert delta is not None
                out += state.take_all([delta])
                continue
            self._raise_for_body(chunk, model)
            deltas = from_openai_chunk(chunk, final_repeats_message=self.host.final_chunk_repeats)
            out += state.take_all(deltas)
        if run:
            out += state.take_all([joined(run)])

    def _chunk(self, text: str) -> dict[str, Any]:
        try:
            chunk = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise UpstreamError(f"{self.name} sent a stream event that is not JSON") from exc
        if type(chunk) is not dict:
            raise UpstreamError(f"{self.name} sent a stream event that is not an object")
        return chunk

    def _raise_for_body(self, data: Mapping[str, Any], model: ModelEntry) -> None:
        """Raise the error an answer carries despite HTTP 200: OpenRouter's ``error``
        member (also as a stream event), vLLM's ``object: error``, MiniMax's ``base_resp``."""
        if self.host.base_resp:
            error = minimax_base_resp_error(self.name, data)
            if error is not None:
                raise type(error)(self._redact(error.message), code=error.code, param=error.param)
        raw = data.get("error")
        if data.get("object") == "error":
            raw = data
        if raw is None:
            return
        message, code = self.error_message(orjson.dumps({"error": raw}))
        status = raw.get("code") if isinstance(raw, Mapping) else None
        if isinstance(status, int) and 400 <= status < 600:
            raise map_upstream_status(self.name, status, message, model, None, code)
        raise UpstreamError(f"{self.name} reported an error: {message}")

    def error_message(self, body: bytes) -> tuple[str, str | None]:
        message, code = super().error_message(body)
        return self._redact(message), code

    def _redact(self, text: str) -> str:
        """The text without the provider key, whole or in the masked form OpenAI echoes
        (``sk-ab***wxyz``): upstream messages are passed on to clients."""
        key = self.entry.api_key
        if not key or len(key) < 8:
            return text
        text = text.replace(key, "[redacted]")
        tail = key[-4:]
        return " ".join(
            "[redacted]" if "*" in word and tail in word else word for word in text.split(" ")
        )
