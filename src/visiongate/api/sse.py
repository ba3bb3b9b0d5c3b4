"""SSE framing shared by every stream: the terminator and the mid-stream error frame."""

from __future__ import annotations

import orjson

from visiongate.errors import GatewayError

__all__ = ["DONE", "error_frame"]

DONE = b"data: [DONE]\n\n"


def error_frame(error: GatewayError) -> bytes:
    """An error after the stream started: one ``data: {"error": ...}`` event.

    The official SDKs raise on a chunk with a top-level ``error`` key; ``[DONE]`` follows.
    """
    return b"data: " + orjson.dumps(error.to_dict()) + b"\n\n"
