"""Large data URLs cut out of a request body before it is parsed, and put back after.

Parsing is what an image request costs most at the edge: ``orjson.loads`` turns every
base64 payload into a new string (validating it as UTF-8 on the way), ~0.6-0.8 ms for a
2 MB body of four images, more than the rest of the gateway's work on it. Yet a data URL
needs none of that: it is ASCII that the image pipeline validates itself and, when the
image needs no change, goes upstream byte for byte. So a large body's ``"data:...``
strings are found with ``bytes.find`` (memchr speed), copied out as bytes, replaced by a
short token, and the small rest is parsed. Each token is then swapped back for its bytes
where the request says ``image_url.url`` (or a PDF's ``file_data``); ``ImagePart.url`` and
``DocumentPart.url`` carry them as ``bytes``.

Each surface says where its images' base64 sits (:class:`Cut`): Chat Completions and the
Responses API carry data URLs (found by their ``"data:`` opening), the Messages API bare
base64 under a ``"data"`` key (found by that key, which raw JSON bytes cannot hold inside
a string: a quote there is escaped), and each names the places the tokens must come back.

The cut is only a fast path, never a second parser: a span with a backslash (a JSON
escape) is left in place, and unless every token comes back exactly once, whole, as an
image URL (a ``"data:`` inside a text, an object key, a token repeated), the body is
parsed as it is. Tokens hold a random per-process part, so a client cannot forge one.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["CHAT", "Cut", "cut_data_urls", "cut_key_values", "put_back"]

MIN_BODY = 64 * 1024  # smaller bodies are parsed as they are
MIN_URL = 16 * 1024  # a data URL shorter than this stays in the body
_START = b'"data:'
_SPACE = b" \t\r\n"
_TOKEN = f"vg-cut-{secrets.token_hex(8)}-"
_TOKEN_BYTES = _TOKEN.encode()


def cut_data_urls(body: bytes | bytearray) -> tuple[bytes | bytearray, list[bytes]]:
    """The body with its large data URLs replaced by tokens, and those URLs (without
    their quotes), in order; the body itself and ``[]`` when there is nothing to cut."""
    return _cut(body, _START, None)


def cut_key_values(
    body: bytes | bytearray, key: bytes = b'"data"'
) -> tuple[bytes | bytearray, list[bytes]]:
    """As :func:`cut_data_urls`, for the large string values of every ``key`` member."""
    return _cut(body, key, key)


def _value_start(body: bytes | bytearray, at: int) -> int:
    """Where the string value of the member whose key ends at ``at`` opens (its quote),
    or -1 when what follows is not ``: "``."""
    size = len(body)
    while at < size and body[at] in _SPACE:
        at += 1
    if at >= size or body[at] != 0x3A:  # ":"
        return -1
    at += 1
    while at < size and body[at] in _SPACE:
        at += 1
    return at if at < size and body[at] == 0x22 else -1  # '"'


def _cut(
    body: bytes | bytearray, marker: bytes, key: bytes | None
) -> tuple[bytes | bytearray, list[bytes]]:
    if len(body) < MIN_BODY:
        return body, []
    find = body.find
    start = find(marker)
    if start < 0:
        return body, []
    view = memoryview(body)
    pieces: list[bytes | memoryview] = []
    urls: list[bytes] = []
    kept = 0  # the body up to here is in pieces
    while start >= 0:
        if key is not None:  # the marker is the key: the value's quote comes after ':'
            value = _value_start(body, start + len(key))
            if value < 0:
                start = find(marker, start + len(key))
                continue
            start = value
        end = find(b'"', start + 1)  # no escaped quote can come first: see below
        if end < 0:
            break
        if end - start > MIN_URL and find(b"\\", start + 1, end) < 0:
            pieces.append(view[kept : start + 1])
            pieces.append(b"%s%d" % (_TOKEN_BYTES, len(urls)))
            urls.append(bytes(view[start + 1 : end]))
            kept = end
        start = find(marker, end + 1)
    if not urls:
        return body, []
    pieces.append(view[kept:])
    return b"".join(pieces), urls


# Where, in a parsed body, an image's base64 may be: (the object holding it, its key).
Places = Callable[[Any], Iterable[tuple[dict[str, Any], str]]]


def _items(data: Any, key: str) -> Iterator[dict[str, Any]]:
    """The objects in the list ``data[key]`` (nothing when it is not a list)."""
    value = data.get(key) if isinstance(data, dict) else None
    if isinstance(value, list):
        yield from (item for item in value if isinstance(item, dict))


def chat_image_places(data: Any) -> Iterator[tuple[dict[str, Any], str]]:
    """``messages[*].content[*].image_url(.url)``, and a file part's ``file.file_data``
    (a PDF's data URL, ``DocumentPart.url``)."""
    for message in _items(data, "messages"):
        for item in _items(message, "content"):
            kind = item.get("type")
            if kind == "image_url":
                spec = item.get("image_url")
                yield (spec, "url") if isinstance(spec, dict) else (item, "image_url")
            elif kind == "file" and isinstance(item.get("file"), dict):
                yield item["file"], "file_data"


@dataclass(frozen=True, slots=True)
class Cut:
    """How one surface's large base64 strings are found in its body and put back."""

    find: Callable[[bytes | bytearray], tuple[bytes | bytearray, list[bytes]]]
    places: Places


CHAT = Cut(cut_data_urls, chat_image_places)


def put_back(data: Any, urls: list[bytes], places: Places = chat_image_places) -> bool:
    """Replace each token found at one of ``places`` by its URL (or base64), in place;
    True when every one went back exactly once (else ``data`` is to be dropped)."""
    placed = [False] * len(urls)
    for holder, key in places(data):
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
