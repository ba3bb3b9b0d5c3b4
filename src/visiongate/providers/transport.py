"""A keep-alive HTTP/1.1 client for provider APIs and image hosts, on ``asyncio.Protocol``
and httptools.

Why not aiohttp for the upstream call: its per-request machinery (request and response
objects, a task to write the body, multidicts, a stream reader) cost ~310 µs of CPU per
call on the development VM, half of the gateway's whole budget per request; this client,
which does only what a provider call needs, measured ~105 µs in the same loop
(``docs/performance.md``). What a provider call needs is small: POST a body that is
already bytes, read a JSON answer or an SSE stream, reuse connections, and time out.

What it does: one pool of idle connections per (scheme, host, port), most recently used
first; TLS through asyncio's SSL transport with the system's default verification
(``SSL_CERT_FILE`` is honoured); a connect timeout and a read timeout that bounds every
wait for the next bytes (headers, body, each stream chunk), as aiohttp's ``sock_read`` did;
chunked and length-delimited bodies and bodies that end at close (httptools' llhttp parser);
gzip and deflate answers; a request that found its pooled connection closed by the server
before any byte of the answer is sent again once on a new connection. No proxies, cookies
or redirects: provider APIs need none of them, and the image fetcher follows redirects
itself, each hop checked.

Image URLs are fetched with it too (``images/fetch.py``): its ``resolve`` hook is where
the SSRF guard sits, so a connection only ever goes to an address that was checked.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import zlib
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import httptools

from visiongate.providers.body import Body, body_length

__all__ = ["HttpClient", "Response", "TransportError"]

# A reader that falls this far behind the upstream stops the socket being read until it
# catches up, so a fast upstream cannot fill memory behind a slow client.
_PAUSE_ABOVE = 4 * 2**20
_RESUME_BELOW = 2**20
# Above this a request body is handed to the transport as its own buffer, not copied
# into one with the head.
_JOIN_BELOW = 64 * 1024
_USER_AGENT = "visiongate"


class TransportError(Exception):
    """The upstream could not be reached, or broke the connection or the HTTP framing.

    Messages name what happened, never a URL's query or a header, so they are safe to
    show (keys travel in headers).
    """


@dataclass(frozen=True, slots=True)
class _Target:
    """What a URL means for a connection and a request line; parsed once per URL."""

    key: tuple[bool, str, int]
    host: str
    port: int
    tls: bool
    path: str
    host_header: str


def _parse_target(url: str) -> _Target:
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
    return _Target((tls, host, port), host, port, tls, path, host_header)


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


class _Connection(asyncio.Protocol):
    """One upstream connection and the answer being read on it.

    httptools calls the ``on_*`` methods from ``feed_data``; the answer's parts are kept
    here and a single waiter future is woken when there is something new, so the reader
    costs nothing while bytes are already buffered.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.idle_since = 0.0
        self.keep_alive = False
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}
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
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(TransportError(f"malformed HTTP answer ({type(exc).__name__})"))
            self.close()
        except zlib.error:
            self._fail(TransportError("the compressed answer could not be decoded"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
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
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        known = self.headers.get(key)
        self.headers[key] = text if known is None else f"{known}, {text}"

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if status < 200:
            # 1xx (100 Continue, 103 Early Hints): the real answer follows.
            self.interim = True
            self.headers = {}
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
        if self.decoder is not None:
            body = self.decoder.decompress(body)
        self._push(body)

    def on_message_complete(self) -> None:
        if self.interim:
            self.interim = False
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
        waiter = self.loop.create_future()
        self.waiter = waiter
        timer = self.loop.call_later(timeout, _expire, waiter) if timeout else None
        try:
            await waiter
        finally:
            self.waiter = None
            if timer is not None:
                timer.cancel()

    def send(self, head: bytes, body: Body) -> None:
        self._reset()
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
        if self.transport is not None:
            self.transport.close()


class Response:
    """An answer whose status and headers have arrived; the body is read from it.

    Read the body with :meth:`read` or :meth:`iter_chunks`, then :meth:`release` (which
    :meth:`read` does itself) so the connection goes back to the pool; :meth:`close`
    drops the connection instead, which is how a stream the client left is stopped.
    """

    __slots__ = ("_client", "_conn", "_key", "_timeout", "headers", "status")

    def __init__(self, client: HttpClient, conn: _Connection, key: tuple[bool, str, int]) -> None:
        self._client = client
        self._conn: _Connection | None = conn
        self._key = key
        self._timeout = client.read_timeout
        self.status = conn.status
        self.headers = conn.headers

    @property
    def content_type(self) -> str:
        """The media type without parameters, lower-cased."""
        raw = self.headers.get("content-type")
        if not raw:
            return "application/octet-stream"
        return raw.partition(";")[0].strip().lower()

    async def read(self) -> bytes:
        """The whole body. Raises TimeoutError or TransportError."""
        conn = self._conn
        if conn is None:
            raise TransportError("the answer was already read or dropped")
        try:
            while not conn.complete:
                await conn.wait(self._timeout)
        except BaseException:
            self.close()
            raise
        body = conn.take() if conn.chunks else b""
        self.release()
        return body

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives: whatever is buffered at each step, joined."""
        conn = self._conn
        if conn is None:
            raise TransportError("the answer was already read or dropped")
        while True:
            if conn.chunks:
                yield conn.take()
                continue
            if conn.complete:
                return
            await conn.wait(self._timeout)

    async def discard(self, timeout: float) -> None:
        """Read and drop the rest of the body for at most ``timeout`` seconds, then
        release: the connection goes back to the pool if the body ended in time.

        For an answer the caller has read enough of (an SSE stream after ``[DONE]``,
        whose chunked end usually follows at once): dropping the connection instead
        would cost the next request a new connection and, over TLS, a handshake.
        """
        conn = self._conn
        if conn is None:
            return
        loop = conn.loop
        deadline = loop.time() + timeout
        try:
            while not conn.complete:
                if conn.chunks:
                    conn.take()
                left = deadline - loop.time()
                if left <= 0:
                    break
                await conn.wait(left)
        except (TimeoutError, TransportError):
            pass
        if conn.chunks:
            conn.take()
        self.release()

    def release(self) -> None:
        """Hand the connection back to the pool if the answer was read to its end and the
        upstream keeps connections; otherwise close it."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if conn.complete and conn.keep_alive and not conn.closed and not conn.chunks:
            self._client._park(self._key, conn)
        else:
            conn.close()

    def close(self) -> None:
        """Drop the connection: the upstream sees the client go."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


class HttpClient:
    """Pooled HTTP/1.1 connections to a provider's hosts."""

    def __init__(
        self,
        *,
        connect_timeout: float | None,
        read_timeout: float | None,
        keepalive: float = 60.0,
        ssl_context: ssl.SSLContext | None = None,
        resolve: Callable[[str, int], Awaitable[Sequence[str]]] | None = None,
    ) -> None:
        """``resolve``: the addresses to connect to for a host and port, tried in order
        (the host name still goes into TLS and the Host header); by default the system
        resolver's, inside ``create_connection``. The image fetcher's checks each one
        (images/fetch.py): a connection only ever goes to an address that was checked."""
        self.connect_timeout = connect_timeout or None
        self.read_timeout = read_timeout or None
        self.keepalive = keepalive
        self._ssl = ssl_context
        self._resolve = resolve
        self._idle: dict[tuple[bool, str, int], list[_Connection]] = {}
        self._targets: dict[str, _Target] = {}
        self._closed = False

    async def post(self, url: str, body: Body, headers: Mapping[str, str]) -> Response:
        """Send ``body`` (bytes, or segments sent back to back) and return once the
        answer's status and headers are in.

        Raises TimeoutError (connect or read timeout) or TransportError.
        """
        return await self.request("POST", url, headers, body)

    async def get(self, url: str, headers: Mapping[str, str]) -> Response:
        """GET ``url``; as :meth:`post`, without a body."""
        return await self.request("GET", url, headers)

    async def request(
        self, method: str, url: str, headers: Mapping[str, str], body: Body | None = None
    ) -> Response:
        target = self._targets.get(url)
        if target is None:
            target = _parse_target(url)
            if len(self._targets) < 256:
                self._targets[url] = target
        length = None if body is None else body_length(body)
        head = self._head(method, target, headers, length)
        body = b"" if body is None else body
        for attempt in (0, 1):
            conn, reused = await self._acquire(target)
            try:
                conn.send(head, body)
                while not conn.headers_done:
                    await conn.wait(self.read_timeout)
            except TransportError:
                conn.close()
                if reused and attempt == 0 and not conn.got_bytes:
                    continue  # the server had closed the idle connection: not a real failure
                raise
            except BaseException:
                conn.close()
                raise
            return Response(self, conn, target.key)
        raise AssertionError("unreachable")

    @staticmethod
    def _head(
        method: str, target: _Target, headers: Mapping[str, str], length: int | None
    ) -> bytes:
        sized = "" if length is None else f"content-length: {length}\r\n"
        lines = [
            f"{method} {target.path} HTTP/1.1\r\nhost: {target.host_header}\r\n"
            f"{sized}accept-encoding: gzip, deflate\r\n"
        ]
        if "user-agent" not in headers:
            lines.append(f"user-agent: {_USER_AGENT}\r\n")
        for name, value in headers.items():
            if "\n" in value or "\r" in value or "\n" in name or "\r" in name:
                raise ValueError(f"header {name!r} holds a line break")
            lines.append(f"{name}: {value}\r\n")
        lines.append("\r\n")
        return "".join(lines).encode("latin-1")

    async def _acquire(self, target: _Target) -> tuple[_Connection, bool]:
        loop = asyncio.get_running_loop()
        idle = self._idle.get(target.key)
        if idle:
            now = loop.time()
            while idle:
                conn = idle.pop()
                if conn.closed:
                    continue
                if self._expired(conn, now):
                    conn.close()
                    continue
                return conn, True
        return await self._connect(loop, target), False

    async def _connect(self, loop: asyncio.AbstractEventLoop, target: _Target) -> _Connection:
        if self._closed:
            raise TransportError("the client is closed")
        context: ssl.SSLContext | None = None
        if target.tls:
            if self._ssl is None:
                self._ssl = ssl.create_default_context()
            context = self._ssl
        async with asyncio.timeout(self.connect_timeout):
            if self._resolve is None:
                return await self._open(loop, target, target.host, context)
            addresses = await self._resolve(target.host, target.port)
            failure: TransportError | None = None
            for address in addresses:  # the first that answers, in the resolver's order
                try:
                    return await self._open(loop, target, address, context)
                except TransportError as exc:
                    failure = exc
            raise failure or TransportError(f"no address to connect to for {target.host}")

    async def _open(
        self,
        loop: asyncio.AbstractEventLoop,
        target: _Target,
        address: str,
        context: ssl.SSLContext | None,
    ) -> _Connection:
        try:
            _, conn = await loop.create_connection(
                lambda: _Connection(loop),
                address,
                target.port,
                ssl=context,
                server_hostname=target.host if context is not None else None,
            )
        except TimeoutError:
            raise
        except ssl.SSLCertVerificationError as exc:
            raise TransportError(f"TLS certificate check failed: {exc.verify_message}") from exc
        except (OSError, ssl.SSLError) as exc:
            raise TransportError(f"could not connect ({type(exc).__name__})") from exc
        return conn

    def _expired(self, conn: _Connection, now: float) -> bool:
        return now - conn.idle_since > self.keepalive

    def _park(self, key: tuple[bool, str, int], conn: _Connection) -> None:
        if self._closed:
            conn.close()
            return
        now = conn.loop.time()
        conn.idle_since = now
        idle = self._idle.setdefault(key, [])
        if idle and (idle[0].closed or self._expired(idle[0], now)):
            # Reuse takes from the top, so after a burst the bottom of the stack can sit
            # unused: drop what the server closed or what has idled too long.
            for stale in idle:
                if not stale.closed and self._expired(stale, now):
                    stale.close()
            idle[:] = [c for c in idle if not c.closed]
        idle.append(conn)

    async def close(self) -> None:
        """Close idle connections; answers still being read close when they are done."""
        self._closed = True
        for conns in self._idle.values():
            for conn in conns:
                conn.close()
        self._idle.clear()
