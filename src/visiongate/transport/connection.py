"""One keep-alive HTTP/1.1 connection on ``asyncio.Protocol`` and httptools' parser.

The connection reads the answer as it arrives: httptools (llhttp) calls back for the
status, headers and each piece of body; chunked, length-delimited and close-delimited
bodies and gzip/deflate answers are handled here, and a single waiter future is woken
when there is something new. ``client.py`` pools these connections and turns them into
requests and responses.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httptools

from visiongate.transport.body import Body

__all__ = ["BodyTooLarge", "Connection", "Target", "TransportError", "parse_target"]


# A reader that falls this far behind the upstream stops the socket being read until it
# catches up, so a fast upstream cannot fill memory behind a slow client.
_PAUSE_ABOVE = 4 * 2**20
_RESUME_BELOW = 2**20
# Above this a request body is handed to the transport as its own buffer, not copied
# into one with the head.
_JOIN_BELOW = 64 * 1024
# An answer's head (status line and headers, 1xx answers included) may be this long and
# hold this many header lines; past either the connection is dropped. Provider answers
# carry ~20 headers in ~2 KB; the limits are those of common servers and proxies.
MAX_HEAD_BYTES = 64 * 1024
MAX_HEADERS = 100


class TransportError(Exception):
    """The upstream could not be reached, or broke the connection or the HTTP framing.

    Messages name what happened, never a URL's query or a header, so they are safe to
    show (keys travel in headers).
    """


class BodyTooLarge(TransportError):
    """The answer's body, decoded, is longer than the caller's limit."""


@dataclass(frozen=True, slots=True)
class Target:
    """What a URL means for a connection and a request line; parsed once per URL."""

    key: tuple[bool, str, int]
    host: str
    port: int
    tls: bool
    path: str
    host_header: str


def parse_target(url: str) -> Target:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {scheme}://{parts.hostname or ''}")
    tls = scheme == "https"
    host = parts.hostname
    port = parts.port or (443 if tls else 80)
    shown = f"[{host}]" if ":" in host else host
    default = 443 if tls else 80
    host_header = shown if port == default else f"{shown}:{port}"
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target((tls, host, port), host, port, tls, path, host_header)


# A wait's timer may fire this much before its due time (the loop's clock resolution)
# and still count as due, rather than being set again for what is left.
_EARLY_S = 0.001


class Connection(asyncio.Protocol):
    """One upstream connection and the answer being read on it.

    httptools calls the ``on_*`` methods from ``feed_data``; the answer's parts are kept
    here and a single waiter future is woken when there is something new, so the reader
    costs nothing while bytes are already buffered.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        on_lost: Callable[[Connection], None] | None = None,
    ) -> None:
        """``on_lost``: called once when the connection is gone (the pool counts it)."""
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.idle_since = 0.0
        self.keep_alive = False
        self._on_lost = on_lost
        # One timer for the waits on this connection, set again only when it fires: a
        # wait whose data comes first moves the due time (``_due``) and leaves the timer
        # as it is. A timer per wait cost a stream about 1 µs a read.
        self._timer: asyncio.TimerHandle | None = None
        self._due: float | None = None
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}
        self.repeated: dict[str, list[str]] | None = None  # joined once, at the end
        self.head_bytes = 0
        self.header_count = 0
        self.chunks: deque[bytes] = deque()
        self.buffered = 0
        self.headers_done = False
        self.complete = False
        self.error: TransportError | None = None
        self.got_bytes = False
        self.until_close = False
        self.interim = False
        self.paused = False
        self.decoder: zlib._Decompress | None = None
        self.limit: int | None = None  # most body bytes kept, after decoding
        self.received = 0
        self.waiter: asyncio.Future[None] | None = None

    # --- asyncio.Protocol ---------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self.got_bytes = True
        if not self.headers_done:
            # Counted before parsing: httptools keeps a header it has not seen the end of,
            # so an upstream that sends an endless header must be stopped here.
            self.head_bytes += len(data)
        try:
            self.parser.feed_data(data)
            if not self.headers_done and self.head_bytes > MAX_HEAD_BYTES:
                self._fail(TransportError(f"the answer's headers exceed {MAX_HEAD_BYTES} bytes"))
                self.close()
        except httptools.HttpParserError as exc:
            self._fail(TransportError(f"malformed HTTP answer ({type(exc).__name__})"))
            self.close()
        except zlib.error:
            self._fail(TransportError("the compressed answer could not be decoded"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        on_lost, self._on_lost = self._on_lost, None
        if on_lost is not None:
            on_lost(self)
        if self.complete:
            return
        if self.headers_done and self.until_close:
            # A body without a length ends where the connection does (RFC 9112 6.3).
            try:
                if self.decoder is not None:
                    self._push(self.decoder.flush())
                self.complete = True
                self._wake()
                return
            except zlib.error:
                pass
        self._fail(TransportError("the connection closed before the answer was complete"))

    # --- httptools callbacks ------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.error is not None:
            return
        self.header_count += 1
        if self.header_count > MAX_HEADERS:
            self._fail(TransportError(f"the answer has more than {MAX_HEADERS} headers"))
            self.close()
            return
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        known = self.headers.get(key)
        if known is None:
            self.headers[key] = text
            return
        # A repeated header: its values are joined once all are in, not once per value.
        if self.repeated is None:
            self.repeated = {}
        self.repeated.setdefault(key, [known]).append(text)

    def on_headers_complete(self) -> None:
        if self.error is not None:
            return
        if self.repeated is not None:
            for key, values in self.repeated.items():
                self.headers[key] = ", ".join(values)
            self.repeated = None
        status = self.parser.get_status_code()
        if status < 200:
            # 1xx (100 Continue, 103 Early Hints): the real answer follows.
            self.interim = True
            self.headers = {}
            self.header_count = 0
            return
        self.status = status
        headers = self.headers
        self.until_close = (
            "content-length" not in headers
            and "chunked" not in headers.get("transfer-encoding", "").lower()
            and status not in (204, 304)
        )
        encoding = headers.get("content-encoding", "").strip().lower()
        if encoding in ("gzip", "x-gzip", "deflate"):
            # wbits 47 accepts both the gzip and the zlib wrapper.
            self.decoder = zlib.decompressobj(47)
        self.headers_done = True
        self._wake()

    def on_body(self, body: bytes) -> None:
        if self.error is not None:
            return  # refused as too large: the rest is dropped, the connection closing
        limit = self.limit
        if self.decoder is not None:
            # With a limit, never decode more than one byte past it: a small gzip body
            # can stand for gigabytes (a decompression bomb from an image host).
            room = 0 if limit is None else limit - self.received + 1
            body = self.decoder.decompress(body, room)
        if limit is not None:
            self.received += len(body)
            if self.received > limit:
                self._fail(BodyTooLarge(f"the answer is larger than {limit} bytes"))
                self.close()
                return
        self._push(body)

    def on_message_complete(self) -> None:
        if self.interim:
            self.interim = False
            return
        if self.error is not None:
            return
        if self.decoder is not None:
            self._push(self.decoder.flush())
        self.keep_alive = self.parser.should_keep_alive()
        self.complete = True
        self._wake()

    # --- the reader's side ----------------------------------------------------------

    def _push(self, data: bytes) -> None:
        if not data:
            return
        self.chunks.append(data)
        self.buffered += len(data)
        if self.buffered > _PAUSE_ABOVE and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()
        self._wake()

    def take(self) -> bytes:
        """Everything buffered so far, as one bytes object."""
        chunks = self.chunks
        data = chunks.popleft() if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self.buffered = 0
        if self.paused and not self.closed and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()
        return data

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, error: TransportError) -> None:
        if self.error is None:
            self.error = error
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)

    async def wait(self, timeout: float | None) -> None:
        """Until the parser has something new, the connection fails, or ``timeout``."""
        if self.error is not None:
            raise self.error
        loop = self.loop
        waiter = loop.create_future()
        self.waiter = waiter
        if timeout:
            due = self._due = loop.time() + timeout
            timer = self._timer
            if timer is None or timer.when() > due + _EARLY_S:
                if timer is not None:
                    timer.cancel()
                self._timer = loop.call_at(due, self._on_timer)
        else:
            self._due = None
        try:
            await waiter
        finally:
            self.waiter = None

    def _on_timer(self) -> None:
        """The timer of :meth:`wait`: the waiter fails with TimeoutError if its wait is
        due, else the timer is set for the wait's due time."""
        self._timer = None
        waiter, due = self.waiter, self._due
        if waiter is None or waiter.done() or due is None:
            return  # nobody waits with a timeout: the next wait sets a timer
        if self.loop.time() + _EARLY_S >= due:
            waiter.set_exception(TimeoutError())
        else:
            self._timer = self.loop.call_at(due, self._on_timer)

    def send(self, head: bytes, body: Body, limit: int | None = None) -> None:
        """Write a request; ``limit``: refuse an answer whose body (decoded) is longer."""
        self._reset()
        self.limit = limit
        transport = self.transport
        if transport is None or transport.is_closing():
            self.closed = True
            raise TransportError("the connection closed before the request was sent")
        if isinstance(body, list):
            transport.writelines((head, *body))
        elif len(body) < _JOIN_BELOW:
            transport.write(head + body)
        else:
            transport.writelines((head, body))

    def close(self) -> None:
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.transport is not None:
            self.transport.close()
