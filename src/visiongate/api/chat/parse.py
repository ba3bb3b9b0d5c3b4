"""OpenAI Chat Completions JSON → the internal :class:`ChatRequest`, validated once.

Hand-written rather than pydantic models: this runs for every request and the messages
may carry megabytes of base64, which must not be copied or re-validated. Every
refusal names the offending place in the request (``param``) the way OpenAI does.
"""

from __future__ import annotations

from typing import Any, Literal, cast

import orjson

from visiongate.api.fields import bad as _bad
from visiongate.api.fields import fallbacks
from visiongate.api.fields import integer as _integer
from visiongate.api.fields import number as _number
from visiongate.api.files import openai_file
from visiongate.core.messages import (
    ChatRequest,
    DocumentPart,
    ImagePart,
    Message,
    Part,
    Role,
    TextPart,
    ToolCall,
    ToolSpec,
)

__all__ = ["parse_chat_request"]

Detail = Literal["auto", "low", "high"]
_ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})
_DETAILS = frozenset({"auto", "low", "high"})
_FORMAT_TYPES = frozenset({"text", "json_object", "json_schema"})
# Optional members of a function tool, with the type each must have when present.
_TOOL_FIELDS = (
    ("description", str, "a string"),
    ("parameters", dict, "a JSON Schema object"),
    ("strict", bool, "true or false"),
)
# Accepted and deliberately ignored: they do not change the answer (documented in README).
_IGNORED = frozenset({"store", "metadata", "service_tier", "stream_options", "parallel_tool_calls"})
_HANDLED = frozenset(
    {
        "model",
        "messages",
        "stream",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "stop",
        "n",
        "seed",
        "response_format",
        "tools",
        "tool_choice",
        "user",
        "fallbacks",
        "presence_penalty",
        "frequency_penalty",
        "functions",
        "function_call",
        "logprobs",
        "top_logprobs",
    }
)


def _parts(content: Any, role: str, where: str) -> list[Part]:
    if isinstance(content, str):
        return [TextPart(content)]
    if not isinstance(content, list):
        raise _bad("'content' must be a string or a list of content parts.", f"{where}.content")
    parts: list[Part] = []
    for j, item in enumerate(content):
        param = f"{where}.content[{j}]"
        if isinstance(item, str):
            parts.append(TextPart(item))
            continue
        if not isinstance(item, dict):
            raise _bad("Each content part must be an object with a 'type'.", param)
        kind = item.get("type")
        if kind == "text":
            text = item.get("text")
            if not isinstance(text, str):
                raise _bad("A text part needs a string 'text'.", f"{param}.text")
            parts.append(TextPart(text))
        elif kind == "image_url":
            parts.append(_image_part(item, role, param))
        elif kind == "file":
            parts.append(_file_part(item, role, param))
        elif kind == "refusal" and role == "assistant":
            parts.append(TextPart(str(item.get("refusal") or "")))
        else:
            raise _bad(
                f"Content part type {kind!r} is not supported; use 'text', 'image_url' or 'file'.",
                f"{param}.type",
                code="unsupported_parameter" if isinstance(kind, str) else "invalid_request_error",
            )
    return parts


def _image_part(item: dict[str, Any], role: str, param: str) -> ImagePart:
    if role != "user":
        raise _bad(
            f"Image parts are only allowed in 'user' messages, not in a {role!r} message.", param
        )
    spec = item.get("image_url")
    url: Any
    detail: Any
    if isinstance(spec, str):
        url, detail = spec, "auto"
    elif isinstance(spec, dict):
        url, detail = spec.get("url"), spec.get("detail") or "auto"
    else:
        raise _bad(
            "An image_url part needs an 'image_url' object with a 'url'.", f"{param}.image_url"
        )
    if not isinstance(url, str | bytes) or not url:  # bytes: a data URL cut out (cut.py)
        raise _bad(
            "'image_url.url' must be a non-empty string.",
            f"{param}.image_url.url",
            "invalid_image_url",
        )
    if not isinstance(detail, str) or detail not in _DETAILS:
        raise _bad("'detail' must be 'auto', 'low' or 'high'.", f"{param}.image_url.detail")
    return ImagePart(param=f"{param}.image_url.url", detail=cast(Detail, detail), url=url)


def _file_part(item: dict[str, Any], role: str, param: str) -> DocumentPart:
    """OpenAI's ``file`` part: ``file_data`` (a data: URL), or ``file_url`` (an extension,
    fetched like an image URL), an optional ``filename``, and ``pages`` (an extension)."""
    if role != "user":
        raise _bad(
            f"File parts are only allowed in 'user' messages, not in a {role!r} message.", param
        )
    spec = item.get("file")
    where = f"{param}.file"
    if not isinstance(spec, dict):
        raise _bad("A file part needs a 'file' object with 'file_data'.", where)
    return openai_file(spec, where)


def _tool_calls(raw: Any, where: str) -> list[ToolCall]:
    if not isinstance(raw, list):
        raise _bad("'tool_calls' must be a list.", f"{where}.tool_calls")
    calls = []
    for k, call in enumerate(raw):
        param = f"{where}.tool_calls[{k}]"
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise _bad("Each tool call needs 'id' and 'function': {name, arguments}.", param)
        args = fn.get("arguments", "")
        if not isinstance(args, str):
            args = orjson.dumps(args).decode()
        calls.append(
            ToolCall(id=str(call.get("id") or f"call_{k}"), name=fn["name"], arguments=args)
        )
    return calls


def _message(raw: Any, i: int) -> Message:
    where = f"messages[{i}]"
    if not isinstance(raw, dict):
        raise _bad("Each message must be an object with 'role' and 'content'.", where)
    role = raw.get("role")
    if role == "function":
        raise _bad(
            "The 'function' role is deprecated; use 'tool' messages.",
            f"{where}.role",
            "unsupported_parameter",
        )
    if not isinstance(role, str) or role not in _ROLES:
        raise _bad(f"'role' must be one of {sorted(_ROLES)}; got {role!r}.", f"{where}.role")
    content = raw.get("content")
    tool_calls = _tool_calls(raw["tool_calls"], where) if raw.get("tool_calls") else None
    if content is None:
        if not (role == "assistant" and tool_calls):
            raise _bad("'content' is required for this message.", f"{where}.content")
        parts: list[Part] = []
    else:
        parts = _parts(content, role, where)
    tool_call_id = raw.get("tool_call_id")
    if role == "tool" and not isinstance(tool_call_id, str):
        raise _bad("A 'tool' message needs the 'tool_call_id' it answers.", f"{where}.tool_call_id")
    if tool_call_id is not None and not isinstance(tool_call_id, str):
        raise _bad("'tool_call_id' must be a string.", f"{where}.tool_call_id")
    name = raw.get("name")
    return Message(
        role=cast(Role, role),
        parts=parts,
        name=name if isinstance(name, str) else None,
        tool_calls=tool_calls,
        tool_call_id=tool_call_id,
    )


def _stop(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(s, str) for s in value) and len(value) <= 4:
        return list(value) or None
    raise _bad("'stop' must be a string or a list of up to 4 strings.", "stop")


def _tools(value: Any) -> list[ToolSpec] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise _bad("'tools' must be a list of function tools.", "tools")
    specs = []
    for k, tool in enumerate(value):
        fn = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(tool, dict) or tool.get("type") != "function" or not isinstance(fn, dict):
            raise _bad("Each tool must be {'type': 'function', 'function': {...}}.", f"tools[{k}]")
        if not isinstance(fn.get("name"), str):
            raise _bad("A function tool needs a 'name'.", f"tools[{k}].function.name")
        for key, kind, label in _TOOL_FIELDS:
            if fn.get(key) is not None and not isinstance(fn[key], kind):
                raise _bad(f"'{key}' must be {label}.", f"tools[{k}].function.{key}")
        specs.append(
            ToolSpec(
                name=fn["name"],
                description=fn.get("description"),
                parameters=fn.get("parameters"),
                strict=fn.get("strict"),
            )
        )
    return specs or None


def _tool_choice(value: Any) -> str | None:
    if value is None or value in ("auto", "none", "required"):
        return value
    if isinstance(value, dict):
        fn = value.get("function")
        if isinstance(fn, dict) and isinstance(fn.get("name"), str):
            return fn["name"]
    raise _bad(
        "'tool_choice' must be 'auto', 'none', 'required' or a function choice.", "tool_choice"
    )


def _response_format(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    kind = value.get("type") if isinstance(value, dict) else None
    if not isinstance(kind, str) or kind not in _FORMAT_TYPES:
        raise _bad(
            "'response_format.type' must be 'text', 'json_object' or 'json_schema'.",
            "response_format",
        )
    if kind == "json_schema":
        spec = value.get("json_schema")
        if not isinstance(spec, dict) or not isinstance(spec.get("name", ""), str):
            raise _bad(
                "'json_schema' must be an object with a 'name' and a 'schema'.",
                "response_format.json_schema",
            )
        schema = spec.get("schema")
        if schema is not None and not isinstance(schema, dict | bool):
            raise _bad(
                "'schema' must be a JSON Schema object.", "response_format.json_schema.schema"
            )
    return value


def _refuse_unknown(data: dict[str, Any]) -> None:
    for key, value in data.items():
        if key in _HANDLED or key in _IGNORED or value is None:
            continue
        raise _bad(
            f"The parameter '{key}' is not supported by this gateway.", key, "unsupported_parameter"
        )
    if data.get("functions") or data.get("function_call"):
        raise _bad(
            "'functions' is deprecated; send 'tools' instead.", "functions", "unsupported_parameter"
        )
    if data.get("logprobs") or data.get("top_logprobs"):
        raise _bad(
            "'logprobs' is not supported by this gateway.", "logprobs", "unsupported_parameter"
        )


def parse_chat_request(data: dict[str, Any]) -> ChatRequest:
    """Validate an OpenAI chat completion request body. Raises InvalidRequest."""
    model = data.get("model")
    if not isinstance(model, str) or not model:
        raise _bad("'model' is required: the id of a model from GET /v1/models.", "model")
    raw_messages = data.get("messages")
    if not isinstance(raw_messages, list) or not raw_messages:
        raise _bad("'messages' must be a non-empty list of messages.", "messages")
    _refuse_unknown(data)
    messages = [_message(raw, i) for i, raw in enumerate(raw_messages)]
    stream = data.get("stream") or False
    if not isinstance(stream, bool):
        raise _bad("'stream' must be true or false.", "stream")
    options = data.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise _bad("'stream_options' must be an object.", "stream_options")
    obfuscation = options.get("include_obfuscation") if options else None
    if obfuscation is not None and not isinstance(obfuscation, bool):
        raise _bad(
            "'stream_options.include_obfuscation' must be true or false.",
            "stream_options.include_obfuscation",
        )
    max_tokens = _integer(data, "max_completion_tokens", 1)
    if max_tokens is None:
        max_tokens = _integer(data, "max_tokens", 1)
    user = data.get("user")
    if user is not None and not isinstance(user, str):
        raise _bad("'user' must be a string.", "user")
    parallel = data.get("parallel_tool_calls")
    return ChatRequest(
        model=model,
        messages=messages,
        stream=stream,
        include_usage=bool(stream and options and options.get("include_usage")),
        include_obfuscation=obfuscation if stream else None,
        max_tokens=max_tokens,
        temperature=_number(data, "temperature", 0, 2),
        top_p=_number(data, "top_p", 0, 1),
        stop=_stop(data.get("stop")),
        n=_integer(data, "n", 1, 128) or 1,
        seed=_integer(data, "seed", -(2**63)),
        response_format=_response_format(data.get("response_format")),
        tools=_tools(data.get("tools")),
        tool_choice=_tool_choice(data.get("tool_choice")),
        parallel_tool_calls=parallel if isinstance(parallel, bool) else None,
        user=user,
        presence_penalty=_number(data, "presence_penalty", -2, 2),
        frequency_penalty=_number(data, "frequency_penalty", -2, 2),
        fallbacks=fallbacks(data.get("fallbacks")),
    )
