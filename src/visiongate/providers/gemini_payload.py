"""Gemini request mapping: internal :class:`ChatRequest` → ``generateContent`` body.

Kept apart from :mod:`visiongate.providers.gemini` (answer translation and the provider
class) because the two directions change for different reasons: this side follows what
``generateContent`` accepts, the other what it sends back. Both functions are pure; every
public name here is re-exported by ``visiongate.providers.gemini``. JSON Schema conversion
lives in :mod:`visiongate.providers.gemini_schema`.

Decisions (see docs/providers-anthropic-gemini.md):

- The JSON uses lowerCamelCase field names throughout (``inlineData``/``mimeType``,
  ``systemInstruction``, ``generationConfig``), the form Google's REST reference shows.
- ``assistant`` → ``model``; tool results are ``functionResponse`` parts in a user turn,
  their function name looked up from the assistant call they answer; consecutive turns of
  the same role are merged. The API wants the user to speak first and last; anything else
  is a 400 before any image work.
- ``user`` and ``parallel_tool_calls`` have no Gemini counterpart and are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson

from visiongate.core.messages import DocumentPart, ImagePart, Message, TextPart
from visiongate.errors import GatewayError, InvalidRequest
from visiongate.providers.base import unsupported
from visiongate.providers.body import payload_text
from visiongate.providers.conversation import check_turns, tool_arguments
from visiongate.providers.gemini_schema import gemini_schema

if TYPE_CHECKING:
    from visiongate.core.catalog import ModelEntry
    from visiongate.core.messages import ChatRequest

__all__ = ["MAX_STOP_SEQUENCES", "check_conversation", "to_gemini_payload"]

MAX_STOP_SEQUENCES = 5
_MEDIA_TYPES = frozenset({"image/png", "image/jpeg", "image/webp", "image/heic", "image/heif"})


def check_conversation(request: ChatRequest) -> None:
    """Refuse, before any image work, what ``generateContent`` cannot express.

    Raises InvalidRequest naming the field: more than five stop sequences, images outside
    user and tool messages, a tool message without ``tool_call_id``, or a conversation
    that does not start and end with the user.
    """
    if request.stop and len(request.stop) > MAX_STOP_SEQUENCES:
        raise unsupported("stop", f"Gemini takes at most {MAX_STOP_SEQUENCES} stop sequences")
    check_turns(request, "Gemini", end_with_user=True)


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
        output = _tool_output(message.text)
        # Google's documented keys: "output" for a result, "error" for a failure.
        response = {"name": name, "response": {"error": output} if message.is_error else output}
        media = [
            _image(p) if isinstance(p, ImagePart) else _document(p)
            for p in message.parts
            if isinstance(p, ImagePart | DocumentPart)
        ]
        return "user", [{"functionResponse": response}, *media]
    parts: list[dict[str, Any]] = []
    for part in message.parts:
        match part:
            case TextPart(text=text):
                if text:
                    parts.append({"text": text})
            case ImagePart():
                parts.append(_image(part))
            case DocumentPart():
                parts.append(_document(part))
            case _:
                pass  # thinking handed back: Gemini has no such turn part (README)
    if message.role == "assistant":
        for j, call in enumerate(message.tool_calls or ()):
            param = f"messages[{index}].tool_calls[{j}].function.arguments"
            parts.append({"functionCall": {"name": call.name, "args": tool_arguments(call, param)}})
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
    return {"inlineData": {"mimeType": media_type, "data": payload_text(part.base64())}}


def _document(part: DocumentPart) -> dict[str, Any]:
    """A PDF inline, as Gemini's document understanding takes it."""
    if not part.native or part.data is None:
        raise GatewayError(f"document {part.param} reached the Gemini adapter without its PDF")
    return {"inlineData": {"mimeType": "application/pdf", "data": payload_text(part.base64())}}


def _tool_output(text: str) -> dict[str, Any]:
    """A tool's result as the JSON object ``functionResponse.response`` must be: a JSON
    object is sent as is, anything else under ``output`` (Google's documented key)."""
    try:
        value = orjson.loads(text) if text.strip() else text
    except orjson.JSONDecodeError:
        value = text
    return value if isinstance(value, dict) else {"output": value}


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
        "topK": request.top_k,
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
