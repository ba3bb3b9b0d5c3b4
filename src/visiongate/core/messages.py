"""The internal message model that sits between the HTTP edge and every provider.

Each surface's wire JSON (Chat Completions, Responses, Messages) is parsed once into
these objects (``api/*/parse.py``); provider adapters translate *from* them into their
own wire format and translate the upstream answer back into :class:`ChatResponse` or
a sequence of :class:`StreamDelta`. Nothing here knows about HTTP or about any provider.

Plain slotted dataclasses, not pydantic models: they are built on the hot path for
every request and never serialised directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from visiongate.core.media import DocumentPart, ImagePart

__all__ = [
    "ChatRequest",
    "ChatResponse",
    "Choice",
    "DocumentPart",
    "ImagePart",
    "Message",
    "Part",
    "Role",
    "StreamDelta",
    "TextPart",
    "TextRun",
    "ThinkingPart",
    "ToolCall",
    "ToolCallDelta",
    "ToolSpec",
    "Usage",
]

Role = Literal["system", "developer", "user", "assistant", "tool"]
FinishReason = Literal["stop", "length", "tool_calls", "content_filter"]


@dataclass(slots=True)
class TextPart:
    """Text; ``cache_control`` is a client's prompt-cache breakpoint on it (Anthropic's
    ``{"type": "ephemeral"}``), kept for providers that take one."""

    text: str
    kind: Literal["text"] = "text"
    cache_control: dict[str, Any] | None = None


@dataclass(slots=True)
class ThinkingPart:
    """A reasoning block of an earlier assistant turn that a client hands back (Anthropic's
    ``thinking`` with its ``signature``, or ``redacted_thinking`` with its ``data``).

    Only a provider that has the concept can take it back; adapters of providers that
    have none leave it out (documented), and the service refuses it for a model of a
    provider that has the concept but not this model.
    """

    thinking: str = ""
    signature: str | None = None
    redacted: str | None = None  # the opaque ``data`` of a ``redacted_thinking`` block
    param: str = ""
    kind: Literal["thinking"] = "thinking"


Part = TextPart | ImagePart | ThinkingPart | DocumentPart


@dataclass(slots=True)
class ToolCall:
    """A function call the assistant made (``arguments`` is the JSON text, as OpenAI sends it)."""

    id: str
    name: str
    arguments: str
    cache_control: dict[str, Any] | None = None


@dataclass(slots=True)
class ToolSpec:
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None
    cache_control: dict[str, Any] | None = None


@dataclass(slots=True)
class Message:
    """One turn. A ``tool`` message is a tool's result: its parts may hold images (the
    Messages and Responses APIs allow them), ``is_error`` says the tool failed, and
    ``cache_control`` is a cache breakpoint on the result as a whole."""

    role: Role
    parts: list[Part] = field(default_factory=list)
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    is_error: bool = False
    cache_control: dict[str, Any] | None = None

    @property
    def text(self) -> str:
        """All text parts joined (for roles that carry text only)."""
        return "".join(p.text for p in self.parts if isinstance(p, TextPart))

    @property
    def images(self) -> list[ImagePart]:
        return [p for p in self.parts if isinstance(p, ImagePart)]

    @property
    def thinking(self) -> list[ThinkingPart]:
        return [p for p in self.parts if isinstance(p, ThinkingPart)]

    @property
    def documents(self) -> list[DocumentPart]:
        return [p for p in self.parts if isinstance(p, DocumentPart)]


@dataclass(slots=True)
class ChatRequest:
    """A chat completion request, provider-neutral.

    ``model`` is the id the client asked for; the router resolves it to a catalog entry.
    ``tool_choice`` keeps OpenAI's semantics: ``"auto"``, ``"none"``, ``"required"`` or
    the name of one function. ``echo`` is what the inbound surface must repeat in its
    answer (the Responses API returns the request's settings); providers never read it.
    """

    model: str
    messages: list[Message]
    stream: bool = False
    include_usage: bool = False
    # ``stream_options.include_obfuscation`` as the client sent it: passed on to hosts
    # that pad their chunks (OpenAI), None when the client left it out.
    include_obfuscation: bool | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: list[str] | None = None
    n: int = 1
    seed: int | None = None
    response_format: dict[str, Any] | None = None
    tools: list[ToolSpec] | None = None
    tool_choice: str | None = None
    parallel_tool_calls: bool | None = None
    user: str | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    top_k: int | None = None
    echo: dict[str, Any] | None = None
    # Models or routes to try after the route's own fallbacks (service/routing.py).
    fallbacks: list[str] | None = None

    @property
    def images(self) -> list[ImagePart]:
        return [p for m in self.messages for p in m.parts if isinstance(p, ImagePart)]

    @property
    def documents(self) -> list[DocumentPart]:
        return [p for m in self.messages for p in m.parts if isinstance(p, DocumentPart)]


@dataclass(slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0  # prompt tokens read from the provider's prompt cache
    cache_creation_tokens: int = 0  # prompt tokens written to it (Anthropic reports them)
    image_tokens: int = 0
    estimated: bool = False

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(slots=True)
class Choice:
    index: int = 0
    content: str | None = None
    tool_calls: list[ToolCall] | None = None
    finish_reason: FinishReason | None = "stop"
    refusal: str | None = None
    stop_sequence: str | None = None  # which stop sequence ended it, where the provider says


@dataclass(slots=True)
class ChatResponse:
    choices: list[Choice]
    usage: Usage | None = None
    upstream_model: str | None = None
    upstream_id: str | None = None
    system_fingerprint: str | None = None


@dataclass(slots=True)
class ToolCallDelta:
    """A piece of a streamed tool call, in OpenAI's shape (id and name on the first piece)."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str | None = None


@dataclass(slots=True)
class TextRun:
    """Upstream ``chat.completion.chunk`` events in a row, read together, that differ in
    their text only (and in an ``obfuscation`` value, which OpenAI pads each chunk with):
    each is ``data: `` + ``head`` + a body + ``end`` (the end of ``tail``), then a blank
    line. A body is the text's JSON string body, and when the chunks are padded the tail
    up to the padding's value (``tail[:obfuscated]``) and that value. ``texts`` are the
    texts decoded. Read without a step per event
    (:class:`~visiongate.providers.openai_shapes.TextChunkShape`)."""

    head: str
    tail: str
    obfuscated: int | None
    end: str
    bodies: list[str]
    texts: list[str]

    def chunks(self) -> list[str]:
        """The JSON text of each event, as received."""
        head, end = self.head, self.end
        return [head + body + end for body in self.bodies]

    @property
    def raw(self) -> str:
        """The events as received, each with its ``data: `` and blank line."""
        return "".join(["data: " + chunk + "\n\n" for chunk in self.chunks()])


@dataclass(slots=True)
class StreamDelta:
    """One event of a streamed answer: new text, a tool-call piece, the finish reason,
    and/or the usage so far. Adapters yield these; the edge renders each surface's events.

    ``chunks``: where the upstream speaks Chat Completions, the upstream's own
    ``chat.completion.chunk`` events (the JSON text of each ``data:`` line, as received)
    that together say exactly what this delta says, and nothing it does not (so never on
    a delta carrying usage: the gateway reports usage itself). A surface
    that answers in that format may forward them, with the members it owns rewritten,
    instead of rendering the delta (``api/chat/splice.py``); every other reader uses the
    fields. Whoever changes a field of such a delta sets ``chunks`` to None. A
    :class:`TextRun` stands for the events of a run.

    ``parts``: a delta that joins several upstream events which arrived together (one
    network read), so that the layers above pass one delta rather than one per event,
    holds the deltas it joins, in order; ``run``: a delta for a run of text chunks keeps
    it. A consumer that answers event for event (the Responses and Messages streams, the
    answer cache's replay) takes :meth:`each`.
    """

    index: int = 0
    role: Literal["assistant"] | None = None
    content: str | None = None
    refusal: str | None = None
    tool_calls: list[ToolCallDelta] | None = None
    finish_reason: FinishReason | None = None
    stop_sequence: str | None = None
    usage: Usage | None = None
    upstream_model: str | None = None
    chunks: list[str | TextRun] | None = None
    parts: list[StreamDelta] | None = None
    run: TextRun | None = None

    def each(self) -> list[StreamDelta]:
        """A delta per upstream event this one stands for, in order: its ``parts``, and a
        delta for each text of a ``run`` (made only when asked for: a Chat Completions
        client never needs them)."""
        if self.parts is None and self.run is None:
            return [self]
        out: list[StreamDelta] = []
        for part in self.parts or (self,):
            run = part.run
            if run is None:
                out.append(part)
                continue
            role, model = part.role, part.upstream_model
            for text in run.texts:
                out.append(
                    StreamDelta(index=part.index, role=role, content=text, upstream_model=model)
                )
                role = None
        return out
