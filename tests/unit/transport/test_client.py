"""The upstream HTTP client against raw socket servers that control every byte.

A raw ``asyncio`` server (not an HTTP framework) lets each test decide framing, timing and
when the connection closes: keep-alive reuse, chunked, gzip and close-delimited bodies, a
pooled connection the server dropped, a stall, a cut, 1xx answers and TLS.
"""

from __future__ import annotations

import asyncio
import gzip
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from visiongate.transport import BodyTooLarge, HttpClient, TransportError

pytestmark = pytest.mark.timeout(20)

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]


class Server:
    """Counts connections and requests; the handler writes whatever bytes it likes."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.requests: list[bytes] = []
        self.client_left = asyncio.Event()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        number = self.connections
        try:
            await self.handler(reader, writer, number)
        except (ConnectionError, asyncio.IncompleteReadError):
            self.client_left.set()
        finally:
            writer.close()

    async def read_request(self, reader: asyncio.StreamReader) -> bytes:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        body = await reader.readexactly(length)
        self.requests.append(head + body)
        return body


@asynccontextmanager
async def serving(
    make: Callable[[Server], Handler], tls: ssl.SSLContext | None = None
) -> AsyncIterator[tuple[Server, str]]:
    server = Server(lambda r, w, n: asyncio.sleep(0))
    server.handler = make(server)
    listener = await asyncio.start_server(server.serve, "127.0.0.1", 0, ssl=tls)
    port = listener.sockets[0].getsockname()[1]
    scheme = "https" if tls else "http"
    try:
        yield server, f"{scheme}://127.0.0.1:{port}/v1/chat?x=1"
    finally:
        listener.close()


def answer(body: bytes, *extra: bytes) -> bytes:
    head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
    head += b"".join(line + b"\r\n" for line in extra)
    return head + b"content-length: %d\r\n\r\n" % len(body) + body


def echo(server: Server) -> Handler:
    """A keep-alive server that answers every request with its own body."""

    async def handle(reader, writer, n):  # type: ignore[no-untyped-def]
        while True:
            body = await server.read_request(reader)
            writer.write(answer(body))

    return handle


def client(**options: float) -> HttpClient:
    return HttpClient(
        connect_timeout=options.get("connect", 2.0), read_timeout=options.get("read", 2.0)
    )


async def test_request_line_headers_and_body_reach_the_server() -> None:
    def make(server: Server) -> Handler:
        async def handle(reader, writer, n):  # type: ignore[no-untyped-def]
            body = await server.read_request(reader)
            writer.write(answer(body))

        return handle

    async with serving(make) as (server, url):
        http = client()
        response = await http.post(url, b'{"a":1}', {"authorization": "Bearer k"})
        assert response.status == 200
        assert response.content_type == "application/json"
        assert await response.read() == b'{"a":1}'
        await http.close()
    request = server.requests[0]
    assert request.startswith(b"POST /v1/chat?x=1 HTTP/1.1\r\n")
    assert b"\r\nhost: 127.0.0.1:" in request
    assert b"\r\nauthorization: Bearer k\r\n" in request
    assert b"\r\ncontent-length: 7\r\n" in request


async def test_a_body_in_segments_is_sent_back_to_back_with_its_whole_length() -> None:
    segments = [b'{"image":"', b"A" * 300_000, b'","n":1}']  # a large one: writelines
    async with serving(echo) as (server, url):
        http = client()
        for body in (segments, [b"{}"]):
            response = await http.post(url, body, {})
            assert await response.read() == b"".join(body)
        await http.close()
    assert b"\r\ncontent-length: %d\r\n" % sum(map(len, segments)) in server.requests[0]


async def test_connections_are_kept_alive_and_reused() -> None:
    async with serving(echo) as (server, url):
        http = client()
        for i in range(5):
            response = await http.post(url, b"%d" % i, {})
            assert await response.read() == b"%d" % i
        # Three at once need three connections; afterwards they are all pooled.
        responses = await asyncio.gather(*(http.post(url, b"x", {}) for _ in range(3)))
        assert [await r.read() for r in responses] == [b"x"] * 3
        assert server.connections == 3
        await http.close()


async def test_idle_connections_past_keepalive_are_closed_not_kept() -> None:
    """After a burst, connections at the bottom of the pool that outlived ``keepalive``
    are closed when the next one is parked, not held open for ever."""

    async with serving(echo) as (server, url):
        http = HttpClient(connect_timeout=2, read_timeout=2, keepalive=0.3)
        burst = await asyncio.gather(*(http.post(url, b"x", {}) for _ in range(4)))
        for response in burst:
            await response.read()
        await asyncio.sleep(0.15)
        await (await http.post(url, b"y", {})).read()  # the top one, reused and fresh again
        await asyncio.sleep(0.2)  # the three below it are now past keepalive
        await (await http.post(url, b"z", {})).read()
        assert server.connections == 4  # nothing new was opened
        await asyncio.wait_for(server.client_left.wait(), 2)
        assert sum(len(conns) for conns in http._idle.values()) == 1
        await http.close()


async def test_chunked_and_gzip_bodies_on_one_connection() -> None:
    payload = b'{"text": "' + b"abc" * 5000 + b'"}'
    packed = gzip.compress(payload)

    def make(server: Server) -> Handler:
        async def handle(reader, writer, n):  # type: ignore[no-untyped-def]
            await server.read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
            for i in range(0, len(payload), 1000):
                piece = payload[i : i + 1000]
                writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                await writer.drain()
            writer.write(b"0\r\n\r\n")
            await server.read_request(reader)  # the same connection comes back
            writer.write(answer(packed, b"content-encoding: gzip"))
            await reader.read()

        return handle

    async with serving(make) as (server, url):
        http = client()
        assert await (await http.post(url, b"", {})).read() == payload
        assert await (await http.post(url, b"", {})).read() == payload  # gzip, reused
        assert server.connections == 1
        await http.close()


async def test_body_until_close_is_read_whole() -> None:
    payload = b"x" * 300_000

    def make(server: Server) -> Handler:
        async def handle(reader, writer, n):  # type: ignore[no-untyped-def]
            await server.read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\n\r\n" + payload)
            await writer.drain()

        return handle

    async with serving(make) as (server, url):
        http = client()
        assert await (await http.post(url, b"", {})).read() == payload
        assert await (await http.post(url, b"", {})).read() == payload
        assert server.connections == 2  # a close-delimited answer cannot leave it reusable
        await http.close()


async def test_a_pooled_connection_the_server_closed_is_replaced_silently() -> None:
    def make(server: Server) -> Handler:
        async def handle(reader, writer, n):  # type: ignore[no-untyped-def]
            body = await server.read_request(reader)
            writer.write(answer(body))
            await writer.drain()
            # Keep-alive was not refused, yet the server goes away: an idle timeout.

        return handle

    async with serving(make) as (server, url):
        http = client()
        assert await (await http.post(url, b"1", {})).read() == b"1"
        await asyncio.sleep(0.05)
        assert await (await http.post(url, b"2", {})).read() == b"2"
        assert server.connections == 2
        await http.close()


async def test_a_reused_connection_that_dies_without_a_byte_is_retried_once() -> None:
    """The keep-alive race: the server drops the connection just as the next request is
    written. Nothing of an answer came, so the request goes once more on a new connection."""

    def make(server: Server) -> Handler:
        async def handle(reader, writer, n):  # type: ignore[no-untyped-def]
            body = await server.read_request(reader)
            writer.write(answer(body))
            await writer.drain()
            if n == 1:
                await server.read_request(reader)  # read, then gone without a word

        return handle

    async with serving(make) as (server, url):
        http = client()
        assert await (await http.post(url, b"1", {})).read() == b"1"
        assert await (await http.post(url, b"2", {})).read() == b"2"
        assert server.connections == 2
        assert server.requests[-2:] == [server.requests[-1]] * 2
        await http.close()


async def test_the_server_closing_after_reading_the_request_is_an_error() -> None:
    """Only a connection that said nothing may be retried: here the request was read, and
    a POST must not be sent twice."""

    def make(server: Server) -> Handler:
        async def handle(reader, writer, n):  # type: ignore[no-untyped-def]
            await server.read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial")

        return handle

    async with serving(make) as (server, url):
        http = client()
        response = await http.post(url, b"", {})
        with pytest.raises(TransportError, match="closed before the answer was complete"):
            await response.read()
        assert len(server.requests) == 1
        await http.close()


async def test_a_silent_upstream_times_out_for_headers_and_between_chunks() -> None:
    def make(server: Server) -> Handler:
        async def handle(reader, writer, n):  # type: ignore[no-untyped-def]
            await server.read_request(reader)
            if n == 2:
                writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
                writer.write(b"5\r\nhello\r\n")
            await asyncio.sleep(5)

        return handle

    async with serving(make) as (_, url):
        http = client(read=0.2)
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(TimeoutError):
            await http.post(url, b"", {})
        assert loop.time() - started < 2
        response = await http.post(url, b"", {})
        chunks = response.iter_chunks()
        assert await anext(chunks) == b"hello"
        with pytest.raises(TimeoutError):
            await anext(chunks)
        response.close()
        await http.close()


async def test_the_read_timeout_counts_from_the_last_chunk_not_the_first_wait() -> None:
    """Chunks 0.15 s apart for 1.2 s never stall for the 0.4 s read timeout; the silence
    after them does. (One timer serves every wait, moved rather than set again.)"""

    def make(server: Server) -> Handler:
        async def handle(reader, writer, n):  # type: ignore[no-untyped-def]
            await server.read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
            for _ in range(8):
                writer.write(b"1\r\nx\r\n")
                await writer.drain()
                await asyncio.sleep(0.15)
            await asyncio.sleep(5)

        return handle

    async with serving(make) as (_, url):
        http = client(read=0.4)
        loop = asyncio.get_running_loop()
        response = await http.post(url, b"", {})
        got = b""
        with pytest.raises(TimeoutError):
            while True:
                got += await response.next_chunk()
                last = loop.time()
        assert got == b"x" * 8
        assert 0.3 < loop.time() - last < 2.0
        response.close()
        await http.close()


async def test_stream_chunks_arrive_as_sent_and_close_drops_the_connection() -> None:
    def make(server: Server) -> Handler:
        async def handle(reader, writer, n):  # type: ignore[no-untyped-def]
            await server.read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n")
            writer.write(b"transfer-encoding: chunked\r\n\r\n")
            for i in range(500):  # 5 s of events unless the client leaves
                event = b"data: %d\n\n" % i
                writer.write(b"%x\r\n%s\r\n" % (len(event), event))
                await writer.drain()  # raises once the client has closed the connection
                await asyncio.sleep(0.01)

        return handle

    async with serving(make) as (server, url):
        http = client()
        response = await http.post(url, b"", {})
        assert response.content_type == "text/event-stream"
        chunks = response.iter_chunks()
        assert await anext(chunks) == b"data: 0\n\n"
        assert await anext(chunks) == b"data: 1\n\n"
        assert not server.client_left.is_set()
        response.close()
        await asyncio.wait_for(server.client_left.wait(), 2)
        await http.close()


async def test_discard_keeps_a_connection_whose_body_ends_soon_drops_one_that_hangs() -> None:
    def make(server: Server) -> Handler:
        async def handle(reader, writer, n):  # type: ignore[no-untyped-def]
            while True:
                await server.read_request(reader)
                writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
                writer.write(b"e\r\ndata: [DONE]\n\n\r\n")
                await writer.drain()
                if len(server.requests) < 3:
                    await asyncio.sleep(0.05)  # the end comes a moment later
                    writer.write(b"0\r\n\r\n")
                else:  # the end never comes; the server notices when the client leaves
                    if not await reader.read(1):
                        server.client_left.set()
                    return

        return handle

    async with serving(make) as (server, url):
        http = client()
        for _ in range(2):
            response = await http.post(url, b"", {})
            assert await anext(response.iter_chunks()) == b"data: [DONE]\n\n"
            await response.discard(1.0)
        assert server.connections == 1  # the first connection served both
        response = await http.post(url, b"", {})
        await anext(response.iter_chunks())
        loop = asyncio.get_running_loop()
        started = loop.time()
        await response.discard(0.2)
        assert loop.time() - started < 1
        await asyncio.wait_for(server.client_left.wait(), 2)  # dropped, not pooled
        await http.close()


async def test_interim_answers_are_skipped_and_error_statuses_returned() -> None:
    def make(server: Server) -> Handler:
        async def handle(reader, writer, n):  # type: ignore[no-untyped-def]
            await server.read_request(reader)
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            body = b'{"error": "slow down"}'
            writer.write(
                b"HTTP/1.1 429 Too Many Requests\r\nretry-after: 3\r\nx-a: 1\r\nx-a: 2\r\n"
                b"content-length: %d\r\n\r\n%s" % (len(body), body)
            )
            await reader.read()

        return handle

    async with serving(make) as (_, url):
        http = client()
        response = await http.post(url, b"", {})
        assert response.status == 429
        assert response.headers["retry-after"] == "3"
        assert response.headers["x-a"] == "1, 2"
        assert await response.read() == b'{"error": "slow down"}'
        await http.close()


async def test_unreachable_and_malformed_upstreams_are_transport_errors() -> None:
    listener = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    listener.close()
    await listener.wait_closed()
    http = client()
    with pytest.raises(TransportError, match="could not connect"):
        await http.post(f"http://127.0.0.1:{port}/", b"", {})

    def make(server: Server) -> Handler:
        async def handle(reader, writer, n):  # type: ignore[no-untyped-def]
            await server.read_request(reader)
            writer.write(b"SMTP ready\r\n\r\n")
            await reader.read()

        return handle

    async with serving(make) as (_, url):
        with pytest.raises(TransportError, match="malformed HTTP answer"):
            await http.post(url, b"", {})
    with pytest.raises(ValueError, match="line break"):
        await http.post(url, b"", {"x-evil": "a\r\nhost: elsewhere"})
    await http.close()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


async def test_tls_is_verified(
    certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = certificate
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(cert, key)

    async with serving(echo, tls=served) as (server, url):
        assert url.startswith("https://")
        trusting = HttpClient(
            connect_timeout=2,
            read_timeout=2,
            ssl_context=ssl.create_default_context(cafile=str(cert)),
        )
        for _ in range(2):
            assert await (await trusting.post(url, b"secret", {})).read() == b"secret"
        segments = [b"{", b"B" * 200_000, b"}"]  # an image spliced into a body, over TLS
        assert await (await trusting.post(url, segments, {})).read() == b"".join(segments)
        assert server.connections == 1
        await trusting.close()
        # The system's trust store does not know this self-signed certificate.
        with pytest.raises(TransportError, match="certificate"):
            await client().post(url, b"", {})
        # An operator with a private CA points SSL_CERT_FILE at it, as for most tools.
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        private = client()
        assert await (await private.post(url, b"ok", {})).read() == b"ok"
        await private.close()


async def test_a_resolve_hook_picks_the_address_and_tls_still_checks_the_name(
    tmp_path: Path,
) -> None:
    # How the image fetcher connects: to an address its guard checked, with the URL's host
    # name kept for SNI, certificate verification and the Host header.
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=img.test", "-addext", "subjectAltName=DNS:img.test"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(cert, key)
    asked: list[tuple[str, int]] = []

    async def resolve(host: str, port: int) -> list[str]:
        asked.append((host, port))
        return ["127.0.0.9", "127.0.0.1"]  # the first refuses: the next is tried

    async with serving(echo, tls=served) as (server, url):
        port = int(url.split(":")[2].split("/")[0])
        http = HttpClient(
            connect_timeout=2,
            read_timeout=2,
            ssl_context=ssl.create_default_context(cafile=str(cert)),
            resolve=resolve,
        )
        response = await http.get(f"https://img.test:{port}/a.png", {"accept": "image/*"})
        assert response.status == 200 and await response.read() == b""
        with pytest.raises(TransportError, match="certificate"):
            await http.get(f"https://other.test:{port}/a.png", {})
        await http.close()
    assert asked == [("img.test", port), ("other.test", port)]
    request = server.requests[0]
    assert request.startswith(b"GET /a.png HTTP/1.1\r\n")
    assert f"\r\nhost: img.test:{port}\r\n".encode() in request
    assert b"content-length" not in request.lower()  # a GET without a body says nothing


async def test_max_body_stops_decoding_a_gzip_bomb_just_past_the_limit() -> None:
    bomb = gzip.compress(bytes(32 * 2**20), compresslevel=9)  # 32 MB of zeros in ~32 KB

    def make(server: Server) -> Handler:
        async def handle(reader, writer, n):  # type: ignore[no-untyped-def]
            await server.read_request(reader)
            writer.write(answer(bomb, b"content-encoding: gzip"))

        return handle

    async with serving(make) as (server, url):
        http = client()
        response = await http.get(url, {"accept-encoding": "identity"}, max_body=1_000_000)
        received = 0
        with pytest.raises(BodyTooLarge):
            async for chunk in response.iter_chunks():
                received += len(chunk)
        assert received <= 1_000_001  # never more than one byte past the limit decoded
        await http.close()
    request = server.requests[0]
    assert b"\r\naccept-encoding: identity\r\n" in request  # the caller's, not the default
    assert request.count(b"accept-encoding") == 1


async def test_a_body_past_the_pause_threshold_is_read_whole() -> None:
    # The connection stops reading while 4 MB sit unread; read() drains as it waits.
    big = bytes(range(256)) * (6 * 2**12)  # 6 MB

    def make(server: Server) -> Handler:
        async def handle(reader, writer, n):  # type: ignore[no-untyped-def]
            await server.read_request(reader)
            writer.write(answer(big))

        return handle

    async with serving(make) as (_, url):
        http = client(read=2.0)
        response = await http.post(url, b"{}", {})
        assert await response.read() == big
        await http.close()
