"""A tiny HTTP/1.1 server core for the benchmark's fake servers (loopback only).

The fake upstream and the image host must cost next to nothing per request, or they, not
the gateway, would be what the benchmark measures. So this is a bare ``asyncio.Protocol``
(on the gateway's own uvloop loop) with no framework: keep-alive, ``Content-Length`` request
bodies, one request at a time per connection, and responses that are either one body or a
list of chunks sent with chunked transfer encoding (for SSE), optionally after a delay.
"""

from __future__ import annotations

import asyncio
import signal
import socket
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Reply", "Request", "serve"]

_MAX_HEAD = 64 * 1024
_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    411: "Length Required",
}


@dataclass(slots=True)
class Request:
    method: str
    target: str  # path and query, as sent
    headers: dict[str, str]  # lower-case names
    body: bytes

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]


@dataclass(slots=True)
class Reply:
    """One response: ``body``, or ``chunks`` streamed as chunked transfer encoding.

    ``delay_s`` passes before the first byte; ``chunk_delay_s`` between chunks.
    """

    status: int = 200
    content_type: str = "application/json"
    body: bytes = b""
    chunks: list[bytes] | None = None
    delay_s: float = 0.0
    chunk_delay_s: float = 0.0
    headers: list[tuple[str, str]] = field(default_factory=list)

    def head(self) -> bytes:
        lines = [f"HTTP/1.1 {self.status} {_REASONS.get(self.status, 'Status')}"]
        lines.append(f"content-type: {self.content_type}")
        if self.chunks is None:
            lines.append(f"content-length: {len(self.body)}")
        else:
            lines.append("transfer-encoding: chunked")
            lines.append("cache-control: no-cache")
        lines.extend(f"{k}: {v}" for k, v in self.headers)
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


Handler = Callable[[Request], Reply]


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


class _Connection(asyncio.Protocol):
    def __init__(self, handler: Handler, on_connect: Callable[[], None]) -> None:
        self._handler = handler
        self._on_connect = on_connect
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._busy = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # uvloop's is no subclass
        self._on_connect()

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if not self._busy:
            self._next()

    def _next(self) -> None:
        """Handle every complete request in the buffer, stopping at a delayed reply."""
        while self._transport is not None and not self._busy:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > _MAX_HEAD:
                    self._transport.close()
                return
            head = bytes(self._buffer[:end]).decode("latin-1").split("\r\n")
            method, target, _ = ([*head[0].split(" "), "", ""])[:3]
            headers = {}
            for line in head[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            if "chunked" in headers.get("transfer-encoding", ""):
                self._send(Reply(411, body=b'{"error":"send a content-length"}'), False)
                return
            size = int(headers.get("content-length") or 0)
            if len(self._buffer) < end + 4 + size:
                return
            body = bytes(self._buffer[end + 4 : end + 4 + size])
            del self._buffer[: end + 4 + size]
            keep = headers.get("connection", "").lower() != "close"
            self._send(self._handler(Request(method, target, headers, body)), keep)

    def _send(self, reply: Reply, keep: bool) -> None:
        if reply.delay_s > 0 or (reply.chunks and reply.chunk_delay_s > 0):
            self._busy = True
            asyncio.get_running_loop().create_task(self._send_later(reply, keep))
            return
        self._write(reply, keep)

    def _write(self, reply: Reply, keep: bool) -> None:
        transport = self._transport
        if transport is None:
            return
        if reply.chunks is None:
            transport.write(reply.head() + reply.body)
        else:
            frames = b"".join(_chunk(c) for c in reply.chunks if c)
            transport.write(reply.head() + frames + b"0\r\n\r\n")
        if not keep:
            transport.close()

    async def _send_later(self, reply: Reply, keep: bool) -> None:
        await asyncio.sleep(reply.delay_s)
        transport = self._transport
        if transport is not None and reply.chunks is not None and reply.chunk_delay_s > 0:
            transport.write(reply.head())
            for chunk in reply.chunks:
                if self._transport is None:
                    return
                if chunk:
                    transport.write(_chunk(chunk))
                await asyncio.sleep(reply.chunk_delay_s)
            transport.write(b"0\r\n\r\n")
            if not keep:
                transport.close()
        else:
            self._write(reply, keep)
        self._busy = False
        if self._buffer:
            self._next()


def serve(host: str, port: int, handler: Handler, on_connect: Callable[[], None]) -> None:
    """Serve ``handler`` on ``host:port`` until SIGTERM or SIGINT.

    On the gateway's own loop (uvloop, letting in every waiting connection when it wakes,
    ``visiongate.listener``): with uvloop's own listener the fake took one new connection
    per turn of its loop, and wrk's 64 connections at the start of each point waited for
    it, which showed as a p99 tail in the *direct* runs.
    """
    from visiongate.listener import GatewayLoop

    async def main() -> None:
        loop = asyncio.get_running_loop()
        sock = socket.create_server((host, port), backlog=1024)  # SO_REUSEADDR on POSIX
        server = await loop.create_server(
            lambda: _Connection(handler, on_connect), sock=sock, backlog=1024
        )
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        async with server:
            await stop.wait()

    with asyncio.Runner(loop_factory=GatewayLoop) as runner:
        runner.run(main())
