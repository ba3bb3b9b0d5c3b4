"""An OpenAI-compatible upstream that misbehaves at the byte level, on purpose.

A raw asyncio server (no HTTP framework, which would refuse to send most of this): it
reads one request, finds ``[[fault=NAME]]`` in the body, and answers with that fault —
or, without one, with a normal ``chat.completion`` (or a short SSE stream). Used by the
fault-matrix tests; every fault ends by itself (bounded sizes and durations).
"""

from __future__ import annotations

import asyncio
import re
import socket
import struct
from collections.abc import Awaitable, Callable

import orjson

from tests.support.raw_server import RawServer

__all__ = ["FAULTS", "HostileUpstream"]

_FAULT = re.compile(rb"\[\[fault=([a-z0-9_-]+)\]\]")
_COMPLETION = orjson.dumps(
    {
        "id": "chatcmpl-x",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "fine"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }
)


def _chunk(text: str, finish: str | None = None) -> bytes:
    delta = {"content": text} if text else {}
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    event = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    return b"data: " + orjson.dumps({**event, "choices": [choice]}) + b"\n\n"


def _head(status: str = "200 OK", *lines: bytes) -> bytes:
    return b"HTTP/1.1 " + status.encode() + b"\r\n" + b"".join(line + b"\r\n" for line in lines)


Writer = asyncio.StreamWriter
Fault = Callable[[Writer], Awaitable[None]]


async def _mid_headers(w: Writer) -> None:
    w.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/js")


async def _mid_body(w: Writer) -> None:
    w.write(_head("200 OK", b"content-type: application/json", b"content-length: 500") + b"\r\n")
    w.write(_COMPLETION[:40])


async def _mid_stream(w: Writer) -> None:
    w.write(_head("200 OK", b"content-type: text/event-stream") + b"\r\n")
    w.write(_chunk("one ") + _chunk("two "))
    await w.drain()
    await asyncio.sleep(0.2)


async def _huge_header(w: Writer) -> None:
    w.write(_head("200 OK", b"x-big: " + b"a" * (1024 * 1024)))
    w.write(b"content-length: 2\r\n\r\n{}")


async def _many_headers(w: Writer) -> None:
    w.write(_head("200 OK", *(b"x-h%d: v" % i for i in range(10_000))))
    w.write(b"content-length: 2\r\n\r\n{}")


async def _endless_body(w: Writer) -> None:
    w.write(_head("200 OK", b"content-type: application/json") + b"\r\n")  # until close
    block = b"[" * 65536
    for _ in range(4096):  # 256 MiB at most; the gateway's body cap stops it long before
        w.write(block)
        await w.drain()


async def _drip(w: Writer) -> None:
    answer = _head("200 OK", b"content-length: %d" % len(_COMPLETION)) + b"\r\n" + _COMPLETION
    for byte in answer[:60]:  # a byte a second: never idle long enough for a read timeout
        w.write(bytes([byte]))
        await w.drain()
        await asyncio.sleep(1.0)


def _whole(body: bytes, version: bytes = b"1.1", length: bool = True) -> Fault:
    async def send(w: Writer) -> None:
        lines = [b"content-type: application/json"]
        if length:
            lines.append(b"content-length: %d" % len(body))
        w.write(b"HTTP/" + version + b" 200 OK\r\n" + b"".join(line + b"\r\n" for line in lines))
        w.write(b"\r\n" + body)

    return send


async def _firehose(w: Writer) -> None:
    """A stream as fast as the socket takes it: 200 MiB of content chunks at most."""
    w.write(_head("200 OK", b"content-type: text/event-stream") + b"\r\n")
    event = _chunk("x" * 4000)
    for _ in range(200 * 1024 * 1024 // len(event)):
        w.write(event)
        await w.drain()


async def _reset(w: Writer) -> None:
    sock = w.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    w.transport.abort()


FAULTS: dict[str, Fault] = {
    "mid-headers": _mid_headers,
    "mid-body": _mid_body,
    "mid-stream": _mid_stream,
    "huge-header": _huge_header,
    "many-headers": _many_headers,
    "endless-body": _endless_body,
    "drip": _drip,
    "invalid-utf8": _whole(b'{"choices": [{"message": {"content": "\xff\xfe"}}]}'),
    "invalid-json": _whole(b'{"choices": [{"message": '),
    "json-array": _whole(b"[1, 2, 3]"),
    "http10-no-length": _whole(_COMPLETION, version=b"1.0", length=False),
    "reset": _reset,
    "firehose": _firehose,
}


class HostileUpstream(RawServer):
    """``with HostileUpstream() as up: up.url`` — an OpenAI base URL (``.../v1``)."""

    def __init__(self) -> None:
        super().__init__()
        self.served: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def serve(self, reader: asyncio.StreamReader, writer: Writer) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                match = re.search(rb"content-length: *(\d+)", head, re.IGNORECASE)
                body = await reader.readexactly(int(match.group(1)) if match else 0)
                found = _FAULT.search(body)
                name = found.group(1).decode() if found else "none"
                self.served.append(name)
                if name in FAULTS:
                    await FAULTS[name](writer)
                    await writer.drain()
                    break  # every fault ends the connection
                if b'"stream":true' in body.replace(b" ", b""):
                    writer.write(_head("200 OK", b"content-type: text/event-stream") + b"\r\n")
                    writer.write(_chunk("fine") + _chunk("", "stop") + b"data: [DONE]\n\n")
                    break
                await _whole(_COMPLETION)(writer)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            if not writer.transport.is_closing():
                writer.close()
