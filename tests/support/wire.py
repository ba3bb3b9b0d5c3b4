"""What an adapter's payload becomes on the wire, for tests that read payloads."""

from __future__ import annotations

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
