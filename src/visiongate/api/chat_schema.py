"""The chat route's request body as OpenAPI describes it (``/openapi.json``, ``/docs``).

Documentation only: the route is raw ASGI and parses by hand (``parse.py``), so these
models never validate a request. They say what ``parse.py`` accepts, so that clients,
generators and the schema-driven fuzzer (``tests/e2e/test_schema_fuzz_e2e.py``) see the
real shape: a body the schema allows parses, and what the parser refuses the schema
refuses where JSON Schema can say it (``tests/unit/api/test_chat_schema.py``). Where the
parser is more lenient (base64 wrapped over lines, a PDF under another declared type),
the schema shows the canonical form. Imported with the framework app, on first use.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ChatCompletionRequest"]


# What documents/pages.py reads: numbers and ranges, the last one maybe open ("5-").
_PAGES = r"^\s*[1-9][0-9]*\s*(-\s*([1-9][0-9]*)?\s*)?(,\s*[1-9][0-9]*\s*(-\s*([1-9][0-9]*)?\s*)?)*$"


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ImageUrl(_Closed):
    url: str = Field(
        min_length=1,
        pattern=r"^(https?://|data:image/[A-Za-z0-9.+-]+;base64,)",
        description="an http(s) URL, or data:image/<fmt>;base64,<payload>",
    )
    detail: Literal["auto", "low", "high"] | None = None


class TextPart(_Closed):
    type: Literal["text"]
    text: str


class ImageUrlPart(_Closed):
    type: Literal["image_url"]
    image_url: ImageUrl


class _FileOptions(_Closed):
    filename: str | None = None
    pages: (
        Annotated[str, Field(pattern=_PAGES, max_length=1000)] | Annotated[int, Field(ge=1)] | None
    ) = Field(
        default=None,
        description='an extension: the pages to send, e.g. "1-3,7" or "5-" (the rest are '
        "never read)",
    )


class FileData(_FileOptions):
    file_data: str = Field(
        pattern=r"^data:application/pdf;base64,[A-Za-z0-9+/]+={0,2}$",
        description="the PDF inline: data:application/pdf;base64,<payload>",
    )


class FileUrl(_FileOptions):
    file_url: str = Field(
        pattern=r"^https?://",
        description="an extension: an http(s) URL the gateway fetches the PDF from",
    )


class FilePart(_Closed):
    """A PDF, as ``file_data`` or ``file_url`` (one of the two); ``file_id`` is refused."""

    type: Literal["file"]
    file: FileData | FileUrl


class RefusalPart(_Closed):
    type: Literal["refusal"]
    refusal: str


class FunctionCall(_Closed):
    name: str
    arguments: str


class ToolCall(_Closed):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


# One model per role, as parse.py tells them apart: images and files only from the
# user, a null content only beside the assistant's tool calls, and a tool message
# always names the call it answers.


class SystemMessage(_Closed):
    role: Literal["system", "developer"]
    content: str | list[TextPart]
    name: str | None = None


class UserMessage(_Closed):
    role: Literal["user"]
    content: str | list[TextPart | ImageUrlPart | FilePart]
    name: str | None = None


class AssistantMessage(_Closed):
    role: Literal["assistant"]
    content: str | list[TextPart | RefusalPart]
    name: str | None = None
    tool_calls: list[ToolCall] | None = None


class AssistantToolCalls(_Closed):
    """An assistant turn that only calls tools: its content may be null."""

    role: Literal["assistant"]
    content: None = None
    name: str | None = None
    tool_calls: list[ToolCall] = Field(min_length=1)


class ToolMessage(_Closed):
    role: Literal["tool"]
    content: str | list[TextPart]
    tool_call_id: str = Field(min_length=1)


Message = SystemMessage | UserMessage | AssistantMessage | AssistantToolCalls | ToolMessage


class FunctionSpec(_Closed):
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class Tool(_Closed):
    type: Literal["function"]
    function: FunctionSpec


class StreamOptions(BaseModel):
    include_usage: bool | None = None
    include_obfuscation: bool | None = None


class JsonSchemaSpec(BaseModel):
    name: str = ""
    schema_: dict[str, Any] | bool | None = Field(default=None, alias="schema")
    description: str | None = None
    strict: bool | None = None


class ResponseFormat(_Closed):
    type: Literal["text", "json_object"]


class JsonSchemaFormat(_Closed):
    type: Literal["json_schema"]
    json_schema: JsonSchemaSpec


class FunctionName(_Closed):
    name: str


class NamedToolChoice(_Closed):
    type: Literal["function"] = "function"
    function: FunctionName


class ChatCompletionRequest(_Closed):
    """OpenAI Chat Completions with vision: text, image_url and file (PDF) parts, stream
    or not."""

    model: str = Field(min_length=1, description="an id from GET /v1/models")
    messages: list[Message] = Field(min_length=1)
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    stop: str | Annotated[list[str], Field(max_length=4)] | None = None
    n: int | None = Field(default=None, ge=1, le=128)
    seed: int | None = None
    response_format: ResponseFormat | JsonSchemaFormat | None = None
    tools: list[Tool] | None = None
    tool_choice: Literal["auto", "none", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: bool | None = None
    user: str | None = None
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    store: bool | None = None
    metadata: dict[str, str] | None = None
    service_tier: str | None = None
