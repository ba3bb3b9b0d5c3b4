"""The client's limits against a hostile upstream: header size and count, repeated headers,
an endless body, a drip that the read timeout never catches, and connections per host."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.unit.transport.test_client import Handler, Server, answer, serving
from visiongate.transport import BodyTooLarge, HttpClient, TransportError

pytestmark = pytest.mark.timeout(30)


def sending(data: bytes, keep_open: bool = True) -> object:
    def make(server: Server) -> Handler:
        async def handle(reader, writer, n):  # type: ignore[no-untyped-def]
            await server.read_request(reader)
            writer.write(data)
            await writer.drain()
            if keep_open:
                await reader.read()  # until the client hangs up

        return handle

    return make


@pytest.mark.parametrize(
    ("head", "message"),
    [
        (b"x-big: " + b"a" * (1024 * 1024) + b"\r\n", "exceed"),  # one 1 MiB header
        (b"".join(b"x-h%d: v\r\n" % i for i in range(10_000)), "more than 100 headers"),
    ],
)
async def test_oversized_heads_are_refused(head: bytes, message: str) -> None:
    data = b"HTTP/1.1 200 OK\r\n" + head + b"content-length: 2\r\n\r\n{}"
    async with serving(sending(data)) as (_, url):  # type: ignore[arg-type]
        http = HttpClient(connect_timeout=2, read_timeout=5)
        with pytest.raises(TransportError, match=message):
            await http.post(url, b"{}", {})
        await http.close()


async def test_an_endless_header_line_is_cut_off_without_its_end() -> None:
    def make(server: Server) -> Handler:
        async def handle(reader, writer, n):  # type: ignore[no-untyped-def]
            await server.read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nx-endless: ")
            for _ in range(10_000):  # at most 160 MB, far past the 64 KiB limit
                writer.write(b"a" * 16384)
                await writer.drain()

        return handle

    async with serving(make) as (_, url):
        http = HttpClient(connect_timeout=2, read_timeout=5)
        with pytest.raises(TransportError, match="exceed"):
            await http.post(url, b"{}", {})
        await http.close()


async def test_repeated_headers_are_joined_in_order() -> None:
    lines = [b"set-x: %d" % i for i in range(90)]
    async with serving(sending(answer(b"{}", *lines))) as (_, url):  # type: ignore[arg-type]
        http = HttpClient(connect_timeout=2, read_timeout=5)
        response = await http.post(url, b"{}", {})
        assert response.headers["set-x"] == ", ".join(str(i) for i in range(90))
        await response.read()
        await http.close()


async def test_the_default_body_cap_stops_an_endless_body() -> None:
    def make(server: Server) -> Handler:
        async def handle(reader, writer, n):  # type: ignore[no-untyped-def]
            await server.read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n")
            for _ in range(100_000):  # close-delimited and never closed: bounded by the cap
                writer.write(b"[" * 65536)
                await writer.drain()

        return handle

    async with serving(make) as (_, url):
        http = HttpClient(connect_timeout=2, read_timeout=5, max_body=1_000_000)
        response = await http.post(url, b"{}", {})
        with pytest.raises(BodyTooLarge):
            await response.read()
        await http.close()


@pytest.mark.parametrize("where", ["head", "body"])
async def test_a_drip_is_stopped_by_the_deadline_not_the_read_timeout(where: str) -> None:
    def make(server: Server) -> Handler:
        async def handle(reader, writer, n):  # type: ignore[no-untyped-def]
            await server.read_request(reader)
            if where == "body":
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n")
            else:
                writer.write(b"HTTP/1.1 200 OK\r\n")
            for _ in range(600):  # a byte every 0.05 s: the read timeout (1 s) never fires
                writer.write(b"x")
                await writer.drain()
                await asyncio.sleep(0.05)

        return handle

    async with serving(make) as (_, url):
        http = HttpClient(connect_timeout=2, read_timeout=1, deadline=1.5)
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            response = await http.post(url, b"{}", {})
            await response.read()
        assert time.monotonic() - started < 20  # bounded by the deadline, not by the drip
        await http.close()


async def test_connections_per_host_are_limited_and_waiters_served_in_turn() -> None:
    open_now = 0
    most = 0

    def make(server: Server) -> Handler:
        async def handle(reader, writer, n):  # type: ignore[no-untyped-def]
            nonlocal open_now, most
            open_now += 1
            most = max(most, open_now)
            try:
                while True:
                    body = await server.read_request(reader)
                    await asyncio.sleep(0.05)
                    writer.write(answer(body))
            finally:
                open_now -= 1

        return handle

    async with serving(make) as (server, url):
        http = HttpClient(connect_timeout=10, read_timeout=10, max_per_host=3)

        async def one(i: int) -> bytes:
            response = await http.post(url, b"%d" % i, {})
            return await response.read()

        answers = await asyncio.gather(*(one(i) for i in range(12)))
        assert answers == [b"%d" % i for i in range(12)]
        assert server.connections == 3 and most == 3
        await http.close()


async def test_a_request_waiting_for_a_busy_host_times_out() -> None:
    def make(server: Server) -> Handler:
        async def handle(reader, writer, n):  # type: ignore[no-untyped-def]
            await server.read_request(reader)
            await reader.read()  # never answers

        return handle

    async with serving(make) as (_, url):
        http = HttpClient(connect_timeout=0.3, read_timeout=10, max_per_host=1)
        first = asyncio.create_task(http.post(url, b"{}", {}))
        await asyncio.sleep(0.1)
        with pytest.raises(TimeoutError, match="busy"):
            await http.post(url, b"{}", {})
        first.cancel()
        await http.close()
