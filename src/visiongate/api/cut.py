"""Large data URLs cut out of a request body before it is parsed, and put back after.

Parsing is what an image request costs most at the edge: ``orjson.loads`` turns every
base64 payload into a new string (validating it as UTF-8 on the way), ~0.6-0.8 ms for a
2 MB body of four images, more than the rest of the gateway's work on it. Yet a data URL
needs none of that: it is ASCII that the image pipeline validates itself and, when the
image needs no change, goes upstream byte for byte. So a large body's ``"data:...``
strings are found with ``bytes.find`` (memchr speed), copied out as bytes, replaced by a
short token, and the small rest is parsed. Each token is then swapped back for its bytes
where the request says ``image_url.url``; ``ImagePart.url`` carries them as ``bytes``.

The cut is only a fast path, never a second parser: a span with a backslash (a JSON
escape) is left in place, and unless every token comes back exactly once, whole, as an
image URL (a ``"data:`` inside a text, an object key, a token repeated), the body is
parsed as it is. Tokens hold a random per-process part, so a client cannot forge one.
"""

from __future__ import annotations

import secrets
from typing import Any

__all__ = ["cut_data_urls", "put_back"]

MIN_BODY = 64 * 1024  # smaller bodies are parsed as they are
MIN_URL = 16 * 1024  # a data URL shorter than this stays in the body
_START = b'"data:'
_TOKEN = f"vg-cut-{secrets.token_hex(8)}-"
_TOKEN_BYTES = _TOKEN.encode()


def cut_data_urls(body: bytes | bytearray) -> tuple[bytes | bytearray, list[bytes]]:
    """The body with its large data URLs replaced by tokens, and those URLs (without
    their quotes), in order; the body itself and ``[]`` when there is nothing to cut."""
    if len(body) < MIN_BODY:
        return body, []
    find = body.find
    start = find(_START)
    if start < 0:
        return body, []
    view = memoryview(body)
    pieces: list[bytes | memoryview] = []
    urls: list[bytes] = []
    kept = 0  # the body up to here is in pieces
    while start >= 0:
        end = find(b'"', start + 1)  # no escaped quote can come first: see below
        if end < 0:
            break
        if end - start > MIN_URL and find(b"\\", start + 1, end) < 0:
            pieces.append(view[kept : start + 1])
            pieces.append(b"%s%d" % (_TOKEN_BYTES, len(urls)))
            urls.append(bytes(view[start + 1 : end]))
            kept = end
        start = find(_START, end + 1)
    if not urls:
        return body, []
    pieces.append(view[kept:])
    return b"".join(pieces), urls


def put_back(data: Any, urls: list[bytes]) -> bool:
    """Replace each token in ``messages[*].content[*].image_url(.url)`` by its URL, in
    place; True when every URL went back exactly once (else ``data`` is to be dropped)."""
    messages = data.get("messages") if isinstance(data, dict) else None
    if not isinstance(messages, list):
        return False
    placed = [False] * len(urls)
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list):
            continue
        for item in content:
            if not isinstance(item, dict) or item.get("type") != "image_url":
                continue
            spec = item.get("image_url")
            holder, key = (spec, "url") if isinstance(spec, dict) else (item, "image_url")
            index = _index(holder.get(key), len(urls))
            if index is None:
                continue
            if placed[index]:
                return False
            placed[index] = True
            holder[key] = urls[index]
    return all(placed)


def _index(value: Any, count: int) -> int | None:
    if not isinstance(value, str) or not value.startswith(_TOKEN):
        return None
    digits = value[len(_TOKEN) :]
    if not digits.isdigit() or not digits.isascii():
        return None
    index = int(digits)
    return index if index < count and str(index) == digits else None
