"""An OpenAI-compatible upstream whose streams are exact bytes, written in given pieces.

A raw asyncio server (an HTTP framework would re-frame the writes): every request gets a
``text/event-stream`` answer in chunked transfer encoding, one HTTP chunk per piece of
:attr:`ScriptedStream.pieces`, each written and drained on its own with a pause between
them, so the gateway reads them separately: an SSE event, a JSON string or a UTF-8
character split across pieces arrives split across reads. Non-stream requests get a
small ``chat.completion``. ``requests`` keeps every request body (parsed).
"""

from __future__ import annotations

import asyncio
import re
import socket
from typing import Any

import orjson

from tests.support.raw_server import RawServer

__all__ = ["ScriptedStream"]

_PAUSE_S = 0.02  # between pieces: long enough for each to be its own read
_COMPLETION = orjson.dumps(
    {
        "id": "chatcmpl-scripted",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }
)


class ScriptedStream(RawServer):
    """``with ScriptedStream() as up: up.pieces = [b"data: ...", ...]; up.url``."""

    def __init__(self) -> None:
        super().__init__()
        self.pieces: list[bytes] = []
        self.requests: list[dict[str, Any]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                match = re.search(rb"content-length: *(\d+)", head, re.IGNORECASE)
                body = orjson.loads(await reader.readexactly(int(match.group(1)) if match else 0))
                self.requests.append(body)
                if not body.get("stream"):
                    writer.write(
                        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                        b"content-length: %d\r\n\r\n" % len(_COMPLETION) + _COMPLETION
                    )
                    await writer.drain()
                    continue
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                    b"transfer-encoding: chunked\r\n\r\n"
                )
                for piece in self.pieces:
                    writer.write(b"%x\r\n" % len(piece) + piece + b"\r\n")
                    await writer.drain()
                    await asyncio.sleep(_PAUSE_S)
                writer.write(b"0\r\n\r\n")
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            if not writer.transport.is_closing():
                writer.close()
