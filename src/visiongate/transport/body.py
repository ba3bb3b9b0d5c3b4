"""What a request body is to the HTTP client: bytes, or segments sent back to back."""

from __future__ import annotations

__all__ = ["Body", "body_length"]

Body = bytes | list[bytes]  # one piece, or segments written with one writelines


def body_length(body: Body) -> int:
    return len(body) if isinstance(body, bytes) else sum(map(len, body))
