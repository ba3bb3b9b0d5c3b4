"""The chat route's request body as OpenAPI describes it (``/openapi.json``, ``/docs``).

Documentation only: the route is raw ASGI and parses by hand (``parse.py``), so these
models never validate a request. They say what ``parse.py`` accepts, so that clients,
generators and the schema-driven fuzzer (``tests/e2e/test_schema_fuzz_e2e.py``) see the
real shape. Imported with the framework app, on first use.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ChatCompletionRequest"]


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ImageUrl(_Closed):
    url: str = Field(description="http(s) URL, or data:image/<fmt>;base64,<payload>")
    detail: Literal["auto", "low", "high"] | None = None


class TextPart(_Closed):
    type: Literal["text"]
    text: str


class ImageUrlPart(_Closed):
    type: Literal["image_url"]
    image_url: ImageUrl


class FunctionCall(_Closed):
    name: str
    arguments: str


class ToolCall(_Closed):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class Message(_Closed):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart | ImageUrlPart] | None = Field(
        description="image_url parts only in user messages"
    )
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None


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


class ResponseFormat(BaseModel):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: dict[str, Any] | None = None


class ChatCompletionRequest(_Closed):
    """OpenAI Chat Completions with vision: text and image_url parts, stream or not."""

    model: str = Field(min_length=1, description="an id from GET /v1/models")
    messages: list[Message] = Field(min_length=1)
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    stop: str | list[str] | None = Field(default=None, max_length=4)
    n: int | None = Field(default=None, ge=1, le=128)
    seed: int | None = None
    response_format: ResponseFormat | None = None
    tools: list[Tool] | None = None
    tool_choice: Literal["auto", "none", "required"] | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    user: str | None = None
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    store: bool | None = None
    metadata: dict[str, str] | None = None
    service_tier: str | None = None
