"""Anthropic Messages API request JSON → the internal :class:`ChatRequest`.

Blocks map onto internal parts and turns: ``text`` and ``image`` blocks (with their
``cache_control``) are parts; an assistant's ``tool_use`` blocks are its tool calls and
its ``thinking`` blocks are handed back as :class:`ThinkingPart`; each ``tool_result`` in
a user turn becomes a tool message, whose content keeps its text *and images* and whose
``is_error`` and ``cache_control`` travel with it. A base64 image becomes a data URL, so
it goes through the same image pipeline (sniffing, fitting, caps) as every other image; a
``document`` block with a PDF source (base64 or url) becomes a :class:`DocumentPart` for
the document pipeline. Anything no model could be given is a 400 naming the block.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from visiongate.api.fields import bad, boolean, fallbacks, integer, number, string
from visiongate.core.messages import (
    ChatRequest,
    DocumentPart,
    ImagePart,
    Message,
    Part,
    TextPart,
    ThinkingPart,
    ToolCall,
    ToolSpec,
)
from visiongate.documents.pages import parse_pages

__all__ = ["image_places", "parse_messages_request"]

_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
_HANDLED = frozenset(
    {
        "model",
        "messages",
        "system",
        "max_tokens",
        "stop_sequences",
        "temperature",
        "top_p",
        "top_k",
        "tools",
        "tool_choice",
        "metadata",
        "stream",
        "fallbacks",  # a visiongate extension: the request's own fallbacks
    }
)
_IGNORED = frozenset({"service_tier"})  # a billing preference, no effect on the answer
_REFUSED = {
    "thinking": "extended thinking is not supported through this gateway; send the request "
    "without it",
    "container": "containers belong to Anthropic's server tools, which this gateway does not run",
    "mcp_servers": "MCP connectors are not supported; run the tools yourself as client tools",
    "context_management": "context management is not supported by this gateway",
}


def image_places(data: Any) -> Iterator[tuple[dict[str, Any], str]]:
    """Where a base64 image's (or PDF's) ``data`` sits: image and document blocks of
    messages and of tool results (for the cut, ``api/cut.py``)."""
    messages = data.get("messages") if isinstance(data, dict) else None
    for message in messages if isinstance(messages, list) else ():
        blocks = message.get("content") if isinstance(message, dict) else None
        for block in blocks if isinstance(blocks, list) else ():
            if not isinstance(block, dict):
                continue
            inner = block.get("content") if block.get("type") == "tool_result" else [block]
            for image in inner if isinstance(inner, list) else ():
                source = image.get("source") if isinstance(image, dict) else None
                kind = image.get("type")  # type: ignore[union-attr]
                if kind in ("image", "document") and isinstance(source, dict):
                    yield source, "data"


def _cache(block: dict[str, Any], where: str) -> dict[str, Any] | None:
    value = block.get("cache_control")
    if value is None:
        return None
    if not isinstance(value, dict) or value.get("type") != "ephemeral":
        raise bad(
            "'cache_control' must be {'type': 'ephemeral'} (optionally with 'ttl').",
            f"{where}.cache_control",
        )
    return value


def _image(block: dict[str, Any], where: str) -> ImagePart:
    source = block.get("source")
    kind = source.get("type") if isinstance(source, dict) else None
    if kind == "base64":
        media_type = source.get("media_type")  # type: ignore[union-attr]
        data = source.get("data")  # type: ignore[union-attr]
        if media_type not in _IMAGE_TYPES:
            raise bad(
                f"'media_type' must be one of {sorted(_IMAGE_TYPES)}.",
                f"{where}.source.media_type",
                "invalid_image",
            )
        if not isinstance(data, str | bytes) or not data:
            raise bad("'source.data' must be base64 text.", f"{where}.source.data", "invalid_image")
        prefix = f"data:{media_type};base64,"
        url: str | bytes = prefix + data if isinstance(data, str) else prefix.encode() + data
        param = f"{where}.source.data"
    elif kind == "url":
        url = string(source.get("url"), f"{where}.source.url", required=True)  # type: ignore[union-attr,assignment]
        param = f"{where}.source.url"
    elif kind == "file":
        raise bad(
            "File sources need Anthropic's Files API, which this gateway does not have; send "
            "the image as base64 or a URL.",
            f"{where}.source.type",
            "unsupported_parameter",
        )
    else:
        raise bad("An image block needs a 'source' of type base64 or url.", f"{where}.source")
    return ImagePart(param=param, url=url, cache_control=_cache(block, where))


def _document(block: dict[str, Any], where: str) -> DocumentPart:
    """A ``document`` block with a PDF source (base64 or URL), ``title`` as its file name
    and the ``pages`` extension. Plain-text and content sources are refused: send text as
    text blocks."""
    for key in ("citations", "context"):
        if block.get(key) is not None:
            raise bad(
                f"'{key}' on a document block is not supported by this gateway; leave it out.",
                f"{where}.{key}",
                "unsupported_parameter",
            )
    source = block.get("source")
    kind = source.get("type") if isinstance(source, dict) else None
    if kind == "base64":
        if source.get("media_type") != "application/pdf":  # type: ignore[union-attr]
            raise bad(
                "A base64 document must be a PDF: 'media_type': 'application/pdf'.",
                f"{where}.source.media_type",
                "unsupported_content",
            )
        data = source.get("data")  # type: ignore[union-attr]
        if not isinstance(data, str | bytes) or not data:
            raise bad("'source.data' must be base64 text.", f"{where}.source.data")
        part = DocumentPart(param=f"{where}.source.data", b64=data)
    elif kind == "url":
        url = string(source.get("url"), f"{where}.source.url", required=True)  # type: ignore[union-attr]
        part = DocumentPart(param=f"{where}.source.url", url=url)
    elif kind == "file":
        raise bad(
            "File sources need Anthropic's Files API, which this gateway does not have; send "
            "the PDF as base64 or a URL.",
            f"{where}.source.type",
            "unsupported_parameter",
        )
    elif kind in ("text", "content"):
        raise bad(
            f"Document sources of type {kind!r} are not supported; send the text as text "
            "blocks, or a PDF as a base64 or url source.",
            f"{where}.source.type",
            "unsupported_content",
        )
    else:
        raise bad("A document block needs a 'source' of type base64 or url.", f"{where}.source")
    part.filename = string(block.get("title"), f"{where}.title")  # type: ignore[assignment]
    pages = block.get("pages")
    parse_pages(pages, f"{where}.pages")
    part.pages = str(pages) if pages is not None else None
    part.cache_control = _cache(block, where)
    return part


def _blocks(content: Any, where: str) -> list[Any]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list):
        raise bad("'content' must be a string or a list of content blocks.", where)
    return content


def _tool_result(block: dict[str, Any], where: str) -> Message:
    call_id = string(block.get("tool_use_id"), f"{where}.tool_use_id", required=True)
    parts: list[Part] = []
    content = block.get("content")
    if content is not None:
        for j, inner in enumerate(_blocks(content, f"{where}.content")):
            at = f"{where}.content[{j}]"
            kind = inner.get("type") if isinstance(inner, dict) else None
            if kind == "text":
                parts.append(_text(inner, at))
            elif kind == "image":
                parts.append(_image(inner, at))
            elif kind == "document":
                parts.append(_document(inner, at))
            else:
                raise _unsupported_block(kind, at, "a tool_result's content")
    return Message(
        role="tool",
        parts=parts,
        tool_call_id=call_id,
        is_error=boolean(block.get("is_error"), f"{where}.is_error") or False,
        cache_control=_cache(block, where),
    )


def _text(block: dict[str, Any], where: str) -> TextPart:
    text = block.get("text")
    if not isinstance(text, str):
        raise bad("A text block needs a string 'text'.", f"{where}.text")
    return TextPart(text, cache_control=_cache(block, where))


def _unsupported_block(kind: Any, where: str, place: str) -> Exception:
    return bad(
        f"Content block type {kind!r} is not supported in {place}.",
        f"{where}.type",
        "unsupported_content" if isinstance(kind, str) else "invalid_request_error",
    )


def _user_turn(content: Any, where: str) -> list[Message]:
    """A user turn: its tool results (one tool message each), then what the user said."""
    results: list[Message] = []
    parts: list[Part] = []
    for j, block in enumerate(_blocks(content, f"{where}.content")):
        at = f"{where}.content[{j}]"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            parts.append(_text(block, at))
        elif kind == "image":
            parts.append(_image(block, at))
        elif kind == "document":
            parts.append(_document(block, at))
        elif kind == "tool_result":
            results.append(_tool_result(block, at))
        else:
            raise _unsupported_block(kind, at, "a user turn")
    if parts or not results:
        results.append(Message(role="user", parts=parts))
    return results


def _assistant_turn(content: Any, where: str) -> Message:
    parts: list[Part] = []
    calls: list[ToolCall] = []
    for j, block in enumerate(_blocks(content, f"{where}.content")):
        at = f"{where}.content[{j}]"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            parts.append(_text(block, at))
        elif kind == "tool_use":
            call_id = string(block.get("id"), f"{at}.id", required=True)
            name = string(block.get("name"), f"{at}.name", required=True)
            arguments = block.get("input", {})
            if not isinstance(arguments, dict):
                raise bad("'input' must be an object.", f"{at}.input")
            calls.append(
                ToolCall(
                    id=call_id,  # type: ignore[arg-type]
                    name=name,  # type: ignore[arg-type]
                    arguments=orjson.dumps(arguments).decode(),
                    cache_control=_cache(block, at),
                )
            )
        elif kind == "thinking":
            parts.append(
                ThinkingPart(
                    thinking=string(block.get("thinking"), f"{at}.thinking", required=False) or "",
                    signature=string(block.get("signature"), f"{at}.signature"),
                    param=at,
                )
            )
        elif kind == "redacted_thinking":
            data = string(block.get("data"), f"{at}.data", required=True)
            parts.append(ThinkingPart(redacted=data, param=at))
        elif kind == "image":
            raise bad("Images are only allowed in user turns.", at, "unsupported_content")
        else:
            raise _unsupported_block(kind, at, "an assistant turn")
    return Message(role="assistant", parts=parts, tool_calls=calls or None)


def _messages(value: Any) -> list[Message]:
    if not isinstance(value, list) or not value:
        raise bad("'messages' must be a non-empty list of messages.", "messages")
    out: list[Message] = []
    for i, raw in enumerate(value):
        where = f"messages[{i}]"
        if not isinstance(raw, dict):
            raise bad("Each message must be an object with 'role' and 'content'.", where)
        role = raw.get("role")
        if role == "user":
            out += _user_turn(raw.get("content"), where)
        elif role == "assistant":
            out.append(_assistant_turn(raw.get("content"), where))
        else:
            raise bad(
                "'role' must be 'user' or 'assistant' (system text goes in 'system').",
                f"{where}.role",
            )
    return out


def _system(value: Any) -> Message | None:
    if value is None:
        return None
    if isinstance(value, str):
        return Message(role="system", parts=[TextPart(value)]) if value else None
    if not isinstance(value, list):
        raise bad("'system' must be a string or a list of text blocks.", "system")
    parts: list[Part] = []
    for j, block in enumerate(value):
        at = f"system[{j}]"
        if not isinstance(block, dict) or block.get("type") != "text":
            raise bad("'system' blocks must be text blocks.", at)
        parts.append(_text(block, at))
    return Message(role="system", parts=parts)


def _tools(value: Any) -> list[ToolSpec] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise bad("'tools' must be a list of tools.", "tools")
    specs = []
    for k, tool in enumerate(value):
        where = f"tools[{k}]"
        if not isinstance(tool, dict):
            raise bad("Each tool must be an object.", where)
        kind = tool.get("type")
        if kind not in (None, "custom"):
            raise bad(
                f"Tool type {kind!r} is one of Anthropic's server or built-in tools, which "
                "this gateway does not run; declare client tools with 'input_schema'.",
                f"{where}.type",
                "unsupported_parameter",
            )
        schema = tool.get("input_schema")
        if not isinstance(schema, dict):
            raise bad("A tool needs an 'input_schema' object.", f"{where}.input_schema")
        specs.append(
            ToolSpec(
                name=string(tool.get("name"), f"{where}.name", required=True),  # type: ignore[arg-type]
                description=string(tool.get("description"), f"{where}.description"),
                parameters=schema,
                cache_control=_cache(tool, where),
            )
        )
    return specs or None


def _tool_choice(value: Any) -> tuple[str | None, bool | None]:
    """(OpenAI-style tool choice, parallel tool calls) for Anthropic's ``tool_choice``."""
    if value is None:
        return None, None
    kind = value.get("type") if isinstance(value, dict) else None
    mapped = {"auto": "auto", "any": "required", "none": "none"}.get(kind or "")
    if kind == "tool":
        mapped = string(value.get("name"), "tool_choice.name", required=True)
    if mapped is None:
        raise bad("'tool_choice.type' must be auto, any, tool or none.", "tool_choice.type")
    disable = boolean(
        value.get("disable_parallel_tool_use"), "tool_choice.disable_parallel_tool_use"
    )
    return mapped, (False if disable else None)


def _stop(value: Any) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise bad("'stop_sequences' must be a list of strings.", "stop_sequences")
    return list(value) or None


def _refuse_unknown(data: dict[str, Any]) -> None:
    for key, value in data.items():
        if key in _HANDLED or key in _IGNORED or value is None:
            continue
        reason = _REFUSED.get(key, "it is not supported by this gateway")
        raise bad(f"'{key}' cannot be honoured: {reason}.", key, "unsupported_parameter")


def parse_messages_request(data: dict[str, Any], *, counting: bool = False) -> ChatRequest:
    """Validate a Messages API body (``counting``: a ``count_tokens`` body, which has no
    ``max_tokens``). Raises InvalidRequest naming the field."""
    model = string(data.get("model"), "model", required=True)
    if counting:
        data = {k: v for k, v in data.items() if k not in ("max_tokens", "stream")}
    _refuse_unknown(data)
    max_tokens = integer(data, "max_tokens", 1)
    if max_tokens is None and not counting:
        raise bad("'max_tokens' is required.", "max_tokens")
    messages = _messages(data.get("messages"))
    system = _system(data.get("system"))
    if system is not None:
        messages.insert(0, system)
    metadata = data.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise bad("'metadata' must be an object.", "metadata")
    user = string((metadata or {}).get("user_id"), "metadata.user_id")
    choice, parallel = _tool_choice(data.get("tool_choice"))
    return ChatRequest(
        model=model,  # type: ignore[arg-type]
        messages=messages,
        stream=boolean(data.get("stream"), "stream") or False,
        max_tokens=max_tokens,
        temperature=number(data, "temperature", 0, 1),
        top_p=number(data, "top_p", 0, 1),
        top_k=integer(data, "top_k", 0),
        stop=_stop(data.get("stop_sequences")),
        tools=_tools(data.get("tools")),
        tool_choice=choice,
        parallel_tool_calls=parallel,
        user=user,
        fallbacks=fallbacks(data.get("fallbacks")),
    )
