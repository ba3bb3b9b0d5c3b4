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
before any byte of the answer is sent again once on a new connection; an HTTP proxy
(``proxy.py``: absolute form for http, a CONNECT tunnel for https). No cookies or
redirects: provider APIs need neither, and the image fetcher follows redirects itself,
each hop checked.

Image URLs are fetched with it too (``images/fetch.py``): its ``resolve`` hook is where
the SSRF guard sits, so a connection only ever goes to an address that was checked.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence

from visiongate.transport.body import Body, body_length
from visiongate.transport.connection import (
    BodyTooLarge,
    Connection,
    Target,
    TransportError,
    parse_target,
)
from visiongate.transport.proxy import Proxy, open_tunnel

__all__ = ["BodyTooLarge", "HttpClient", "Response", "TransportError"]

_USER_AGENT = "visiongate"


class Response:
    """An answer whose status and headers have arrived; the body is read from it.

    Read the body with :meth:`read`, :meth:`iter_chunks` or :meth:`next_chunk`, then
    :meth:`release` (which :meth:`read` does itself) so the connection goes back to the
    pool; :meth:`close` drops the connection instead, which is how a stream the client
    left is stopped.
    """

    __slots__ = ("_client", "_conn", "_deadline", "_key", "_timeout", "headers", "status")

    def __init__(
        self,
        client: HttpClient,
        conn: Connection,
        key: tuple[bool, str, int],
        deadline: float | None = None,
    ) -> None:
        self._client = client
        self._conn: Connection | None = conn
        self._key = key
        self._timeout = client.read_timeout
        self._deadline = deadline
        self.status = conn.status
        self.headers = conn.headers

    def _wait_for(self, conn: Connection) -> float | None:
        """The next wait's limit: the read timeout, or less if the call's deadline is
        nearer. Raises TimeoutError once the deadline has passed."""
        return _limit(conn.loop, self._timeout, self._deadline)

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
        parts: list[bytes] = []
        try:
            while not conn.complete:
                if conn.paused:  # past the pause threshold: reading resumes once drained
                    parts.append(conn.take())
                await conn.wait(self._wait_for(conn))
        except BaseException:
            self.close()
            raise
        if conn.chunks:
            parts.append(conn.take())
        self.release()
        return parts[0] if len(parts) == 1 else b"".join(parts)

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives: whatever is buffered at each step, joined."""
        while chunk := await self.next_chunk():
            yield chunk

    async def next_chunk(self) -> bytes:
        """What has arrived of the body since the last call, waiting for something when
        nothing has; ``b""`` once the body has ended. :meth:`iter_chunks` as one awaited
        call per read, for a reader that would otherwise wrap a generator in a generator.
        Raises TimeoutError or TransportError (and drops the connection)."""
        conn = self._conn
        if conn is None:
            raise TransportError("the answer was already read or dropped")
        while True:
            if conn.chunks:
                return conn.take()
            if conn.complete:
                return b""
            try:
                await conn.wait(self._wait_for(conn))
            except BaseException:
                self.close()
                raise

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


def _limit(
    loop: asyncio.AbstractEventLoop, timeout: float | None, deadline: float | None
) -> float | None:
    if deadline is None:
        return timeout
    left = deadline - loop.time()
    if left <= 0:
        raise TimeoutError("the call's deadline passed")
    return left if timeout is None else min(left, timeout)


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
        deadline: float | None = None,
        max_body: int | None = None,
        max_per_host: int = 256,
        proxy: str | None = None,
    ) -> None:
        """``resolve``: the addresses to connect to for a host and port, tried in order
        (the host name still goes into TLS and the Host header); by default the system
        resolver's, inside ``create_connection``. The image fetcher's checks each one
        (images/fetch.py): a connection only ever goes to an address that was checked.

        ``deadline``: seconds one call may take in all, from sending to the body's end
        (the read timeout alone never stops an upstream that drips a byte at a time).
        ``max_body``: the longest answer body (decoded) a request takes unless it names
        its own limit. ``max_per_host``: connections open at once to one host; a request
        past it waits (up to the connect timeout) for one to come back. ``proxy``: an
        ``http://[user:password@]host:port`` proxy every request goes through (absolute
        form for http, a CONNECT tunnel for https; transport/proxy.py); the ``resolve``
        hook is then not used, the proxy resolves names. Raises ValueError for a proxy URL
        it cannot use.
        """
        self.connect_timeout = connect_timeout or None
        self.read_timeout = read_timeout or None
        self.keepalive = keepalive
        self.deadline = deadline or None
        self.max_body = max_body
        self.max_per_host = max(1, max_per_host)
        self._ssl = ssl_context
        self._resolve = resolve
        self._proxy = Proxy.parse(proxy) if proxy else None
        self._idle: dict[tuple[bool, str, int], list[Connection]] = {}
        self._counts: dict[tuple[bool, str, int], int] = {}
        self._waiting: dict[tuple[bool, str, int], deque[asyncio.Future[None]]] = {}
        self._targets: dict[str, Target] = {}
        self._closed = False

    async def post(self, url: str, body: Body, headers: Mapping[str, str]) -> Response:
        """Send ``body`` (bytes, or segments sent back to back) and return once the
        answer's status and headers are in.

        Raises TimeoutError (connect or read timeout) or TransportError.
        """
        return await self.request("POST", url, headers, body)

    async def get(
        self, url: str, headers: Mapping[str, str], max_body: int | None = None
    ) -> Response:
        """GET ``url``; as :meth:`post`, without a body. ``max_body``: an answer whose body
        (decoded) is longer fails with :class:`BodyTooLarge` as soon as it is."""
        return await self.request("GET", url, headers, max_body=max_body)

    async def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: Body | None = None,
        max_body: int | None = None,
    ) -> Response:
        target = self._targets.get(url)
        if target is None:
            target = parse_target(url)
            if len(self._targets) < 256:
                self._targets[url] = target
        length = None if body is None else body_length(body)
        head = self._head(method, target, headers, length, self._proxy)
        body = b"" if body is None else body
        if max_body is None:
            max_body = self.max_body
        loop = asyncio.get_running_loop()
        deadline = None if self.deadline is None else loop.time() + self.deadline
        for attempt in (0, 1):
            conn, reused = await self._acquire(target)
            try:
                conn.send(head, body, max_body)
                while not conn.headers_done:
                    await conn.wait(_limit(loop, self.read_timeout, deadline))
            except TransportError:
                conn.close()
                if reused and attempt == 0 and not conn.got_bytes:
                    continue  # the server had closed the idle connection: not a real failure
                raise
            except BaseException:
                conn.close()
                raise
            return Response(self, conn, target.key, deadline)
        raise AssertionError("unreachable")

    @staticmethod
    def _head(
        method: str,
        target: Target,
        headers: Mapping[str, str],
        length: int | None,
        proxy: Proxy | None = None,
    ) -> bytes:
        sized = "" if length is None else f"content-length: {length}\r\n"
        path = target.path
        if proxy is not None and not target.tls:  # absolute form, for the proxy to forward
            path = f"http://{target.host_header}{path}"
            if proxy.authorization:
                sized += f"proxy-authorization: {proxy.authorization}\r\n"
        lines = [f"{method} {path} HTTP/1.1\r\nhost: {target.host_header}\r\n{sized}"]
        if "accept-encoding" not in headers:
            lines.append("accept-encoding: gzip, deflate\r\n")
        if "user-agent" not in headers:
            lines.append(f"user-agent: {_USER_AGENT}\r\n")
        for name, value in headers.items():
            if "\n" in value or "\r" in value or "\n" in name or "\r" in name:
                raise ValueError(f"header {name!r} holds a line break")
            lines.append(f"{name}: {value}\r\n")
        lines.append("\r\n")
        return "".join(lines).encode("latin-1")

    async def _acquire(self, target: Target) -> tuple[Connection, bool]:
        loop = asyncio.get_running_loop()
        key = target.key
        waited_until: float | None = None
        while True:
            idle = self._idle.get(key)
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
            if self._counts.get(key, 0) < self.max_per_host:
                break
            # Every connection to this host is busy: wait for one to come back or close.
            if waited_until is None:
                waited_until = loop.time() + (self.connect_timeout or 30.0)
            busy = f"all {self.max_per_host} connections to the host are busy"
            left = waited_until - loop.time()
            if left <= 0:
                raise TimeoutError(busy)
            waiter = loop.create_future()
            queue = self._waiting.setdefault(key, deque())
            queue.append(waiter)
            try:
                async with asyncio.timeout(left):
                    await waiter
            except TimeoutError:
                raise TimeoutError(busy) from None
            finally:
                if not waiter.done():
                    waiter.cancel()
                with contextlib.suppress(ValueError):
                    queue.remove(waiter)
        self._counts[key] = self._counts.get(key, 0) + 1
        try:
            return await self._connect(loop, target), False
        except BaseException:
            self._gone(key)
            raise

    def _gone(self, key: tuple[bool, str, int]) -> None:
        """One connection to ``key`` less: let a waiting request open one."""
        left = self._counts.get(key, 1) - 1
        if left > 0:
            self._counts[key] = left
        else:
            self._counts.pop(key, None)
        self._wake_one(key)

    def _wake_one(self, key: tuple[bool, str, int]) -> None:
        queue = self._waiting.get(key)
        while queue:
            waiter = queue.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def _connect(self, loop: asyncio.AbstractEventLoop, target: Target) -> Connection:
        if self._closed:
            raise TransportError("the client is closed")
        context: ssl.SSLContext | None = None
        if target.tls:
            if self._ssl is None:
                self._ssl = ssl.create_default_context()
            context = self._ssl
        async with asyncio.timeout(self.connect_timeout):
            proxy = self._proxy
            if proxy is not None:
                if not target.tls:  # absolute-form requests to the proxy (_head)
                    return await self._open(loop, target, proxy.host, None, port=proxy.port)
                tunnel = await open_tunnel(proxy, target.host, target.port, None)
                return await self._open(loop, target, "", context, sock=tunnel)
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
        target: Target,
        address: str,
        context: ssl.SSLContext | None,
        *,
        port: int | None = None,
        sock: socket.socket | None = None,
    ) -> Connection:
        """A connection to ``address`` (``port``: the target's unless given), or over
        ``sock`` (a proxy tunnel), with TLS for the target's name when ``context``."""
        key = target.key
        try:
            if sock is not None:
                _, conn = await loop.create_connection(
                    lambda: Connection(loop, lambda _: self._gone(key)),
                    sock=sock,
                    ssl=context,
                    server_hostname=target.host if context is not None else None,
                )
            else:
                _, conn = await loop.create_connection(
                    lambda: Connection(loop, lambda _: self._gone(key)),
                    address,
                    port or target.port,
                    ssl=context,
                    server_hostname=target.host if context is not None else None,
                )
        except TimeoutError:
            if sock is not None:
                sock.close()
            raise
        except ssl.SSLCertVerificationError as exc:
            raise TransportError(f"TLS certificate check failed: {exc.verify_message}") from exc
        except (OSError, ssl.SSLError) as exc:
            if sock is not None:
                sock.close()
            raise TransportError(f"could not connect ({type(exc).__name__})") from exc
        return conn

    def _expired(self, conn: Connection, now: float) -> bool:
        return now - conn.idle_since > self.keepalive

    def _park(self, key: tuple[bool, str, int], conn: Connection) -> None:
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
        self._wake_one(key)

    async def close(self) -> None:
        """Close idle connections; answers still being read close when they are done."""
        self._closed = True
        for conns in self._idle.values():
            for conn in conns:
                conn.close()
        self._idle.clear()
