"""What an adapter's payload becomes on the wire, for tests that read payloads."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from visiongate.providers.body import serialise


def on_the_wire(payload: Any) -> Any:
    """The payload as the upstream parses it: serialised as HttpProvider.post does
    (verbatim image bytes spliced in), then read back."""
    body = serialise(payload)
    return orjson.loads(body if isinstance(body, bytes) else b"".join(body))


def ascii_text(value: str | bytes) -> str:
    """Base64 or a data URL as the str JSON carries, whichever form the part holds."""
    return value.decode("ascii") if isinstance(value, bytes) else value


def as_parsed(value: Any) -> Any:
    """``value`` with every bytes (a data URL cut out unparsed, api/cut.py) turned back
    into the str JSON parsing would have made of it."""
    if isinstance(value, bytes):
        return value.decode("ascii")
    if isinstance(value, dict):
        return {k: as_parsed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_parsed(v) for v in value]
    return value


def sse_events(chunks: Iterable[bytes]) -> list[tuple[str | None, str]]:
    """``(event name, data)`` of each server-sent event in a byte stream, however the
    stream was split into chunks; comments are skipped."""
    buffer = b"".join(chunks).replace(b"\r\n", b"\n").decode("utf-8")
    events: list[tuple[str | None, str]] = []
    for block in buffer.split("\n\n"):
        name: str | None = None
        data: list[str] = []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
        if data:
            events.append((name, "\n".join(data)))
    return events


def count_images(body: Any) -> int:
    """Images in a provider request body, whatever the wire format: OpenAI ``image_url``
    parts, Anthropic ``image`` blocks (tool results included), Gemini ``inlineData``."""
    if isinstance(body, list):
        return sum(count_images(item) for item in body)
    if not isinstance(body, dict):
        return 0
    own = 1 if body.get("type") in ("image_url", "image") or "inlineData" in body else 0
    return own + sum(count_images(value) for value in body.values())
