"""The internal message model that sits between the HTTP edge and every provider.

OpenAI's wire JSON is parsed once into these objects (``api/parse.py``); provider
adapters translate *from* them into their own wire format and translate the upstream
answer back into :class:`ChatResponse` or a sequence of :class:`StreamDelta`. Nothing
here knows about HTTP or about any provider.

Plain slotted dataclasses, not pydantic models: they are built on the hot path for
every request and never serialised directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "ChatRequest",
    "ChatResponse",
    "Choice",
    "ImagePart",
    "Message",
    "Part",
    "Role",
    "StreamDelta",
    "TextPart",
    "ToolCall",
    "ToolCallDelta",
    "ToolSpec",
    "Usage",
]

Role = Literal["system", "developer", "user", "assistant", "tool"]
FinishReason = Literal["stop", "length", "tool_calls", "content_filter"]


@dataclass(slots=True)
class TextPart:
    text: str
    kind: Literal["text"] = "text"


@dataclass(slots=True)
class ImagePart:
    """One image of the request.

    ``url`` is what the client sent: an http(s) URL or a ``data:`` URL. The image
    pipeline (``images/ingest.py``) fills ``data`` with the image bytes when the target
    needs them (always for data URLs, for http(s) URLs when the provider cannot fetch
    them itself), and ``b64`` with the canonical base64 of exactly those bytes when it
    already has it, so an untouched image is forwarded without being encoded again.
    ``media_type``, ``width``, ``height`` and ``frames`` come from the bytes, never from
    what the client declared. ``converted`` is set when the pipeline re-encoded the
    image. ``param`` points at the part in the request, for error messages.
    """

    param: str
    detail: Literal["auto", "low", "high"] = "auto"
    url: str | None = None
    data: bytes | None = None
    b64: str | None = None
    media_type: str | None = None
    width: int = 0
    height: int = 0
    frames: int = 1
    converted: bool = False
    kind: Literal["image"] = "image"

    @property
    def has_bytes(self) -> bool:
        return self.data is not None

    def data_url(self) -> str:
        """``data:<media_type>;base64,<b64>``, the form OpenAI-style APIs take inline."""
        return f"data:{self.media_type};base64,{self.base64()}"

    def base64(self) -> str:
        """The base64 of :attr:`data`, computed once."""
        if self.b64 is None:
            if self.data is None:
                raise ValueError(f"image {self.param} has no bytes yet")
            import pybase64

            self.b64 = pybase64.b64encode(self.data).decode("ascii")
        return self.b64


Part = TextPart | ImagePart


@dataclass(slots=True)
class ToolCall:
    """A function call the assistant made (``arguments`` is the JSON text, as OpenAI sends it)."""

    id: str
    name: str
    arguments: str


@dataclass(slots=True)
class ToolSpec:
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


@dataclass(slots=True)
class Message:
    role: Role
    parts: list[Part] = field(default_factory=list)
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None

    @property
    def text(self) -> str:
        """All text parts joined (for roles that carry text only)."""
        return "".join(p.text for p in self.parts if isinstance(p, TextPart))

    @property
    def images(self) -> list[ImagePart]:
        return [p for p in self.parts if isinstance(p, ImagePart)]


@dataclass(slots=True)
class ChatRequest:
    """A chat completion request, provider-neutral.

    ``model`` is the id the client asked for; the router resolves it to a catalog entry.
    ``tool_choice`` keeps OpenAI's semantics: ``"auto"``, ``"none"``, ``"required"`` or
    the name of one function.
    """

    model: str
    messages: list[Message]
    stream: bool = False
    include_usage: bool = False
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

    @property
    def images(self) -> list[ImagePart]:
        return [p for m in self.messages for p in m.parts if isinstance(p, ImagePart)]


@dataclass(slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
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
class StreamDelta:
    """One event of a streamed answer: new text, a tool-call piece, the finish reason,
    and/or the usage so far. Adapters yield these; the edge renders OpenAI chunks."""

    index: int = 0
    role: Literal["assistant"] | None = None
    content: str | None = None
    refusal: str | None = None
    tool_calls: list[ToolCallDelta] | None = None
    finish_reason: FinishReason | None = None
    usage: Usage | None = None
    upstream_model: str | None = None
