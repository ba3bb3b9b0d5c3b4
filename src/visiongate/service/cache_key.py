"""The answer cache's key: what the model sees, not how the client spelled it.

Peer gateways key their caches on the request's text, so the same photo sent once as a
URL and once as base64 misses. Here each image is its :meth:`ImagePart.digest` (the
bytes the provider receives, after fitting), each PDF the digest of the PDF the
provider receives (only the selected pages), and every other field that changes the
answer is written in one canonical form: JSON with sorted keys, fields at their default
value left out, numbers as floats, so field order, ``"temperature": 1`` against no
temperature, or a tool list written in another key order do not make a new entry.

Left out on purpose, because they do not change the answer: ``stream`` and
``include_usage`` (a stream's hit is replayed from the same entry), ``user`` (abuse
tracking), prompt-cache hints (``cache_control``: they change the provider's bill, not
the words) and what a surface only echoes back (``echo``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import orjson

from visiongate.core.messages import (
    ChatRequest,
    DocumentPart,
    ImagePart,
    Message,
    TextPart,
    ThinkingPart,
)

__all__ = ["KEY_VERSION", "answer_key", "canonical_request"]

# Part of every key: a change to what goes into keys (or to the entry format) only has
# to bump it, and old entries are never read again.
KEY_VERSION = 1

# Values equal to the provider default are written as if the field were absent.
_DEFAULTS: dict[str, Any] = {
    "temperature": 1.0,
    "top_p": 1.0,
    "n": 1,
    "presence_penalty": 0.0,
    "frequency_penalty": 0.0,
    "parallel_tool_calls": True,
    "tool_choice": "auto",
}
_FLOATS = ("temperature", "top_p", "presence_penalty", "frequency_penalty")


def answer_key(
    request: ChatRequest,
    model_id: str,
    scope: str,
    url_digests: Mapping[str, bytes] | None = None,
    upstream: str | None = None,
) -> str:
    """The hex key of ``request`` for ``model_id`` (the catalog id the request resolved
    to, so aliases share entries) within ``scope`` (a gateway key id, or ``*``), sent
    upstream as ``upstream`` (a retired model followed to its successor is another key).

    ``url_digests`` gives the digest of an image the provider fetches itself, by URL;
    such an image missing from it is keyed by its URL. Call after the image pipeline
    has prepared the request.
    """
    document = canonical_request(request, url_digests or {})
    document["model"] = model_id
    document["upstream"] = upstream or model_id
    document["scope"] = scope
    document["v"] = KEY_VERSION
    return hashlib.sha256(orjson.dumps(document, option=orjson.OPT_SORT_KEYS)).hexdigest()


def canonical_request(request: ChatRequest, url_digests: Mapping[str, bytes]) -> dict[str, Any]:
    """Every field of ``request`` that can change the answer, in one canonical form."""
    out: dict[str, Any] = {"messages": [_message(m, url_digests) for m in request.messages]}
    params: dict[str, Any] = {
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "n": request.n,
        "seed": request.seed,
        "stop": request.stop or None,
        "presence_penalty": request.presence_penalty,
        "frequency_penalty": request.frequency_penalty,
        "top_k": request.top_k,
        "response_format": _format(request.response_format),
        "tool_choice": request.tool_choice,
        "parallel_tool_calls": request.parallel_tool_calls,
    }
    for name in _FLOATS:
        if params[name] is not None:
            params[name] = float(params[name])
    for name, default in _DEFAULTS.items():
        if params[name] == default:
            params[name] = None
    out.update((name, value) for name, value in params.items() if value is not None)
    if request.tools:
        out["tools"] = [
            _without_none(
                {
                    "name": tool.name,
                    "description": tool.description,
                    "parameters": tool.parameters,
                    "strict": tool.strict,
                }
            )
            for tool in request.tools
        ]
    return out


def _message(message: Message, url_digests: Mapping[str, bytes]) -> dict[str, Any]:
    parts: list[Any] = []
    for part in message.parts:
        if isinstance(part, TextPart):
            parts.append(["text", part.text])
        elif isinstance(part, ImagePart):
            parts.append(["image", _image(part, url_digests), part.media_type, part.detail])
        elif isinstance(part, ThinkingPart):
            parts.append(["thinking", part.thinking, part.signature, part.redacted])
        elif isinstance(part, DocumentPart):
            parts.append(["document", *_document(part, url_digests)])
        else:  # a part kind this module does not know must not be keyed as nothing
            raise TypeError(f"the answer cache cannot key a {type(part).__name__}")
    return _without_none(
        {
            "role": message.role,
            "parts": parts,
            "name": message.name,
            "tool_calls": [[c.id, c.name, c.arguments] for c in message.tool_calls]
            if message.tool_calls
            else None,
            "tool_call_id": message.tool_call_id,
            "is_error": message.is_error or None,
        }
    )


def _image(part: ImagePart, url_digests: Mapping[str, bytes]) -> str:
    if part.has_bytes:
        return part.digest().hex()
    url = part.url if isinstance(part.url, str) else ""
    digest = url_digests.get(url)
    return digest.hex() if digest is not None else "url:" + url


def _document(part: DocumentPart, url_digests: Mapping[str, bytes]) -> list[Any]:
    """A PDF the provider reads itself, by the digest of the PDF it receives (only the
    selected pages); one read page by page here (``local/ocr``), by each page's text or
    image. A document rendered to pages is no longer a part: its pages are keyed."""
    if part.text_pages is not None:
        pages = [
            [n, page if isinstance(page, str) else _image(page, url_digests)]
            for n, page in part.text_pages
        ]
        return ["pages", pages, part.filename]
    b64 = part.base64()
    digest = hashlib.sha256(b64.encode("ascii") if isinstance(b64, str) else b64).hexdigest()
    return [digest, part.page_count, part.filename]


def _format(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if not value or value == {"type": "text"}:
        return None
    return value


def _without_none(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}
