"""OpenAI Responses API request JSON → the internal :class:`ChatRequest`.

Stateless: the whole conversation comes in ``input`` (``previous_response_id`` and
``conversation`` are refused with what to send instead). Items map onto the internal
turns one to one: a message item is a message, a ``function_call`` item is an assistant
tool call (consecutive calls join one assistant turn), a ``function_call_output`` item
is a tool message whose output may hold text and images. Anything the gateway cannot
carry to a model is a 400 naming the field, never dropped.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from visiongate.api.fields import bad, boolean, fallbacks, integer, number, string
from visiongate.api.files import openai_file
from visiongate.core.messages import (
    ChatRequest,
    DocumentPart,
    ImagePart,
    Message,
    Part,
    TextPart,
    ToolCall,
    ToolSpec,
)

__all__ = ["image_places", "parse_responses_request"]

_ROLES = frozenset({"user", "system", "developer", "assistant"})
_DETAILS = {"auto": "auto", "low": "low", "high": "high", "original": "high"}
# Accepted and ignored: they do not change the answer (README). ``store: true`` is
# accepted but nothing is stored: the gateway keeps no responses.
_IGNORED = frozenset(
    {
        "metadata",
        "store",
        "service_tier",
        "stream_options",
        "prompt_cache_key",
        "safety_identifier",
        "include",
        "truncation",
    }
)
_HANDLED = frozenset(
    {
        "model",
        "input",
        "instructions",
        "max_output_tokens",
        "temperature",
        "top_p",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "text",
        "user",
        "stream",
        "fallbacks",  # a visiongate extension: the request's own fallbacks
    }
)
# What to send instead, for the parameters a stateless gateway cannot honour.
_REFUSED = {
    "previous_response_id": "the gateway keeps no responses; send the whole conversation "
    "in 'input' (earlier output items included)",
    "conversation": "the gateway keeps no conversations; send the whole conversation in 'input'",
    "background": "background responses are not supported; send the request without it",
    "prompt": "stored prompts are not supported; send the text in 'instructions' and 'input'",
    "reasoning": "reasoning settings are not supported by this gateway",
    "top_logprobs": "log probabilities are not supported by this gateway",
    "max_tool_calls": "a cap on built-in tool calls is not supported; there are no built-in "
    "tools here",
}


def image_places(data: Any) -> Iterator[tuple[dict[str, Any], str]]:
    """Where an ``input_image``'s URL or an ``input_file``'s data sits: in message content
    and in tool outputs (for the cut, ``api/cut.py``)."""
    items = data.get("input") if isinstance(data, dict) else None
    for item in items if isinstance(items, list) else ():
        parts = item.get("content", item.get("output")) if isinstance(item, dict) else None
        for part in parts if isinstance(parts, list) else ():
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "input_image":
                spec = part.get("image_url")  # type: ignore[union-attr]
                yield (spec, "url") if isinstance(spec, dict) else (part, "image_url")  # type: ignore[misc]
            elif kind == "input_file":
                yield part, "file_data"  # type: ignore[misc]  # a PDF's data URL


def _refuse_unknown(data: dict[str, Any]) -> None:
    for key, value in data.items():
        if key in _HANDLED or value is None:
            continue
        if key in _IGNORED:
            continue
        if key in _REFUSED:
            raise bad(f"'{key}' is not supported: {_REFUSED[key]}.", key, "unsupported_parameter")
        raise bad(
            f"The parameter '{key}' is not supported by this gateway.", key, "unsupported_parameter"
        )
    truncation = data.get("truncation")
    if truncation not in (None, "disabled"):
        raise bad(
            "Only truncation 'disabled' is supported: the gateway never drops input.",
            "truncation",
            "unsupported_parameter",
        )
    include = data.get("include")
    if include:
        raise bad(
            "'include' is not supported: there are no built-in tool outputs or reasoning "
            "items to include.",
            "include",
            "unsupported_parameter",
        )


def _image(item: dict[str, Any], param: str) -> ImagePart:
    if item.get("file_id") is not None:
        raise bad(
            "'file_id' images are not supported (there is no Files API here); send the image "
            "as an https URL or a data URL in 'image_url'.",
            f"{param}.file_id",
            "unsupported_parameter",
        )
    url = item.get("image_url")
    if isinstance(url, dict):  # some clients send the Chat Completions object form
        url = url.get("url")
    if not isinstance(url, str | bytes) or not url:
        raise bad(
            "An input_image part needs 'image_url': an https URL or a data URL.",
            f"{param}.image_url",
            "invalid_image_url",
        )
    detail = item.get("detail") or "auto"
    if detail not in _DETAILS:
        raise bad("'detail' must be 'auto', 'low', 'high' or 'original'.", f"{param}.detail")
    return ImagePart(param=f"{param}.image_url", detail=_DETAILS[detail], url=url)  # type: ignore[arg-type]


def _file(item: dict[str, Any], param: str) -> DocumentPart:
    """An ``input_file`` part: a PDF as ``file_data`` (a data URL) or ``file_url`` (fetched
    by the gateway), with ``filename`` and the ``pages`` extension."""
    if item.get("detail", "auto") not in ("auto", None):
        raise bad(
            "'detail' on an input_file is not supported; leave it out (the gateway sends "
            "PDF pages at the most detail the model keeps).",
            f"{param}.detail",
            "unsupported_parameter",
        )
    return openai_file(item, param)


def _content(content: Any, role: str, where: str, *, images: bool) -> list[Part]:
    """Parts of a message's content, or of a tool output (``images`` allowed or not)."""
    if isinstance(content, str):
        return [TextPart(content)]
    if not isinstance(content, list):
        raise bad("'content' must be a string or a list of content parts.", where)
    parts: list[Part] = []
    for j, item in enumerate(content):
        param = f"{where}[{j}]"
        if not isinstance(item, dict):
            raise bad("Each content part must be an object with a 'type'.", param)
        kind = item.get("type")
        if kind in ("input_text", "output_text", "text"):
            text = item.get("text")
            if not isinstance(text, str):
                raise bad("A text part needs a string 'text'.", f"{param}.text")
            parts.append(TextPart(text))
        elif kind == "refusal" and role == "assistant":
            parts.append(TextPart(str(item.get("refusal") or "")))
        elif kind == "input_image":
            if not images:
                raise bad(
                    f"Images are only allowed in user messages and tool outputs, not in a "
                    f"{role!r} message.",
                    param,
                    "unsupported_content",
                )
            parts.append(_image(item, param))
        elif kind == "input_file":
            if not images:
                raise bad(
                    f"Files are only allowed in user messages and tool outputs, not in a "
                    f"{role!r} message.",
                    param,
                    "unsupported_content",
                )
            parts.append(_file(item, param))
        else:
            raise bad(
                f"Content part type {kind!r} is not supported here; use 'input_text', "
                "'input_image' or 'input_file'.",
                f"{param}.type",
                "unsupported_parameter" if isinstance(kind, str) else "invalid_request_error",
            )
    return parts


def _message(item: dict[str, Any], where: str) -> Message:
    role = item.get("role")
    if role not in _ROLES:
        raise bad(f"'role' must be one of {sorted(_ROLES)}; got {role!r}.", f"{where}.role")
    content = item.get("content")
    if content is None:
        raise bad("'content' is required for a message.", f"{where}.content")
    parts = _content(content, role, f"{where}.content", images=role == "user")
    return Message(role=role, parts=parts)


def _call(item: dict[str, Any], where: str) -> ToolCall:
    call_id = string(item.get("call_id"), f"{where}.call_id", required=True)
    name = string(item.get("name"), f"{where}.name", required=True)
    arguments = item.get("arguments", "")
    if not isinstance(arguments, str):
        raise bad("'arguments' must be the call's JSON text.", f"{where}.arguments")
    return ToolCall(id=call_id, name=name, arguments=arguments)  # type: ignore[arg-type]


def _output(item: dict[str, Any], where: str) -> Message:
    call_id = string(item.get("call_id"), f"{where}.call_id", required=True)
    output = item.get("output")
    if output is None:
        raise bad("A function_call_output needs its 'output'.", f"{where}.output")
    parts = _content(output, "tool", f"{where}.output", images=True)
    return Message(role="tool", parts=parts, tool_call_id=call_id)


def _input(value: Any) -> list[Message]:
    if isinstance(value, str):
        return [Message(role="user", parts=[TextPart(value)])]
    if not isinstance(value, list) or not value:
        raise bad("'input' must be a string or a non-empty list of items.", "input")
    messages: list[Message] = []
    for i, item in enumerate(value):
        where = f"input[{i}]"
        if not isinstance(item, dict):
            raise bad("Each input item must be an object.", where)
        kind = item.get("type", "message")
        if kind == "message":
            messages.append(_message(item, where))
        elif kind == "function_call":
            call = _call(item, where)
            last = messages[-1] if messages else None
            if last is not None and last.role == "assistant" and last.tool_calls is not None:
                last.tool_calls.append(call)
            elif last is not None and last.role == "assistant" and not last.tool_calls:
                last.tool_calls = [call]
            else:
                messages.append(Message(role="assistant", tool_calls=[call]))
        elif kind == "function_call_output":
            messages.append(_output(item, where))
        elif kind == "item_reference":
            raise bad(
                "Item references need stored responses, which this gateway does not keep; "
                "send the item itself.",
                where,
                "unsupported_parameter",
            )
        else:
            raise bad(
                f"Input item type {kind!r} is not supported; send messages, function_call "
                "and function_call_output items.",
                f"{where}.type",
                "unsupported_parameter" if isinstance(kind, str) else "invalid_request_error",
            )
    return messages


def _tools(value: Any) -> list[ToolSpec] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise bad("'tools' must be a list of function tools.", "tools")
    specs = []
    for k, tool in enumerate(value):
        kind = tool.get("type") if isinstance(tool, dict) else None
        if kind != "function":
            raise bad(
                f"Tool type {kind!r} is not supported: built-in tools (web search, file "
                "search, code interpreter, ...) run inside OpenAI's service; declare "
                "function tools and run them yourself.",
                f"tools[{k}].type",
                "unsupported_parameter",
            )
        name = string(tool.get("name"), f"tools[{k}].name", required=True)
        parameters = tool.get("parameters")
        if parameters is not None and not isinstance(parameters, dict):
            raise bad("'parameters' must be a JSON schema object.", f"tools[{k}].parameters")
        specs.append(
            ToolSpec(
                name=name,  # type: ignore[arg-type]
                description=string(tool.get("description"), f"tools[{k}].description"),
                parameters=parameters,
                strict=boolean(tool.get("strict"), f"tools[{k}].strict"),
            )
        )
    return specs or None


def _tool_choice(value: Any) -> str | None:
    if value is None or value in ("auto", "none", "required"):
        return value
    if isinstance(value, dict) and value.get("type") == "function":
        return string(value.get("name"), "tool_choice.name", required=True)
    raise bad(
        "'tool_choice' must be 'auto', 'none', 'required' or {'type': 'function', 'name': …}.",
        "tool_choice",
        "unsupported_parameter" if isinstance(value, dict) else "invalid_request_error",
    )


def _text_format(value: Any) -> dict[str, Any] | None:
    """``text.format`` as the Chat Completions ``response_format`` the adapters know."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise bad("'text' must be an object.", "text")
    unknown = set(value) - {"format", "verbosity"}
    if unknown:
        key = sorted(unknown)[0]
        raise bad(f"'text.{key}' is not supported.", f"text.{key}", "unsupported_parameter")
    if value.get("verbosity") not in (None, "medium"):
        raise bad(
            "'text.verbosity' is not supported by this gateway.",
            "text.verbosity",
            "unsupported_parameter",
        )
    fmt = value.get("format")
    if fmt is None:
        return None
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        name = string(fmt.get("name"), "text.format.name", required=True)
        schema = fmt.get("schema")
        if not isinstance(schema, dict):
            raise bad("'text.format.schema' must be a JSON schema object.", "text.format.schema")
        spec: dict[str, Any] = {"name": name, "schema": schema}
        for key in ("description", "strict"):
            if fmt.get(key) is not None:
                spec[key] = fmt[key]
        return {"type": "json_schema", "json_schema": spec}
    raise bad(
        "'text.format.type' must be 'text', 'json_object' or 'json_schema'.", "text.format.type"
    )


def parse_responses_request(data: dict[str, Any]) -> ChatRequest:
    """Validate a Responses API request body. Raises InvalidRequest naming the field."""
    model = string(data.get("model"), "model", required=True)
    _refuse_unknown(data)
    messages = _input(data.get("input"))
    instructions = string(data.get("instructions"), "instructions")
    if instructions:
        messages.insert(0, Message(role="developer", parts=[TextPart(instructions)]))
    stream = boolean(data.get("stream"), "stream") or False
    text = data.get("text")
    echo = {
        "instructions": instructions,
        "max_output_tokens": data.get("max_output_tokens"),
        "metadata": data.get("metadata") if isinstance(data.get("metadata"), dict) else None,
        "parallel_tool_calls": data.get("parallel_tool_calls", True),
        "temperature": data.get("temperature"),
        "text": text if isinstance(text, dict) else {"format": {"type": "text"}},
        "tool_choice": data.get("tool_choice") or "auto",
        "tools": data.get("tools") or [],
        "top_p": data.get("top_p"),
        "user": data.get("user"),
    }
    return ChatRequest(
        model=model,  # type: ignore[arg-type]
        messages=messages,
        stream=stream,
        max_tokens=integer(data, "max_output_tokens", 1),
        temperature=number(data, "temperature", 0, 2),
        top_p=number(data, "top_p", 0, 1),
        response_format=_text_format(text),
        tools=_tools(data.get("tools")),
        tool_choice=_tool_choice(data.get("tool_choice")),
        parallel_tool_calls=boolean(data.get("parallel_tool_calls"), "parallel_tool_calls"),
        user=string(data.get("user"), "user"),
        fallbacks=fallbacks(data.get("fallbacks")),
        echo=echo,
    )
