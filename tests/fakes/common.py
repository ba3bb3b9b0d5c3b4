"""Pieces the fake upstreams share: image checks, per-request directives, SSE writing.

A fake's behaviour is set per test on the fake object, or per request by a directive in
the last user text: ``[[name]]`` or ``[[name:value]]`` (``[[stop:max_tokens]]``,
``[[status:429]]``, ``[[break:3]]`` ...). Directives let one fake shared by a module of
end-to-end tests answer each request differently without the test reaching into it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from PIL import Image

__all__ = [
    "Received",
    "approx_tokens",
    "decode_b64",
    "dimensions",
    "directives",
    "pause",
    "sniff",
    "sse_frame",
    "strip_directives",
    "words",
]

_DIRECTIVE = re.compile(r"\[\[(\w+)(?::([^\]]*))?\]\]")


@dataclass
class Received:
    """One request as the fake saw it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    size: int
    violations: list[str] = field(default_factory=list)


def directives(text: str) -> dict[str, str]:
    """``{"name": "value"}`` for each ``[[name:value]]`` in ``text`` (value "" if absent)."""
    return {m.group(1): m.group(2) or "" for m in _DIRECTIVE.finditer(text)}


def strip_directives(text: str) -> str:
    return _DIRECTIVE.sub("", text).strip()


def sniff(data: bytes) -> str | None:
    """The image (or PDF) media type from magic numbers, or None."""
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:2] == b"BM":
        return "image/bmp"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        if brand in (b"heic", b"heix", b"heim", b"heis"):
            return "image/heic"
        if brand in (b"mif1", b"msf1"):
            return "image/heif"
        if brand in (b"avif", b"avis"):
            return "image/avif"
    return None


def decode_b64(text: Any) -> bytes | None:
    """Strict standard base64 (no whitespace, no data: prefix), or None."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def dimensions(data: bytes) -> tuple[int, int] | None:
    """(width, height) read from the header, or None when Pillow cannot open it."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except Exception:  # any decoder failure means "not a usable image" here
        return None


def words(text: str) -> list[str]:
    """``text`` cut into word pieces that keep their trailing spaces (stream chunks)."""
    return re.findall(r"\S+\s*|\s+", text)


def approx_tokens(text: str) -> int:
    return max(1, (len(text) + 3) // 4) if text else 0


async def pause(request: web.Request, seconds: float) -> None:
    """Sleep up to ``seconds``, returning early once the client has gone away (so a slow
    answer never outlives the test that asked for it)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        transport = request.transport
        if transport is None or transport.is_closing():
            return
        await asyncio.sleep(min(0.05, deadline - loop.time()))


def sse_frame(name: str | None, data: Mapping[str, Any] | str, separator: str = "\n\n") -> bytes:
    """One SSE frame: an optional ``event:`` line and a ``data:`` line of JSON."""
    payload = data if isinstance(data, str) else json.dumps(data)
    head = f"event: {name}\n" if name else ""
    return f"{head}data: {payload}{separator}".encode()
