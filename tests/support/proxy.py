"""A small HTTP proxy for tests: CONNECT tunnels and absolute-form forwarding, on loopback.

It records what it was asked (``seen``: method, target, the Proxy-Authorization header)
and, with ``credentials``, answers 407 to a request without them, as a corporate proxy
does. It runs on its own event loop in a thread (``RawServer``), so a gateway subprocess or
the test's own loop can use it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from dataclasses import dataclass
from urllib.parse import urlsplit

from tests.support.raw_server import RawServer

__all__ = ["Seen", "TestProxy"]


@dataclass
class Seen:
    method: str
    target: str
    authorization: str | None


class TestProxy(RawServer):
    """``with TestProxy() as proxy: proxy.url`` — http://127.0.0.1:<port>."""

    __test__ = False  # not a test class, for pytest

    def __init__(self, credentials: tuple[str, str] | None = None) -> None:
        super().__init__()
        self.credentials = credentials
        self.seen: list[Seen] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url_with_credentials(self) -> str:
        assert self.credentials is not None
        user, password = self.credentials
        return f"http://{user}:{password}@127.0.0.1:{self.port}"

    def _authorised(self, header: str | None) -> bool:
        if self.credentials is None:
            return True
        user, password = self.credentials
        expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        return header == expected

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
            auth = headers.get("proxy-authorization")
            self.seen.append(Seen(method, target, auth))
            if not self._authorised(auth):
                writer.write(
                    b"HTTP/1.1 407 Proxy Authentication Required\r\ncontent-length: 0\r\n\r\n"
                )
                await writer.drain()
                return
            if method == "CONNECT":
                host, _, port = target.rpartition(":")
                up_reader, up_writer = await asyncio.open_connection(host.strip("[]"), int(port))
                self.track(up_writer)
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                await writer.drain()
                await _pipe_both(reader, writer, up_reader, up_writer)
                return
            await self._forward(reader, writer, method, target, lines, head)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            with contextlib.suppress(OSError):
                writer.close()

    async def _forward(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        method: str,
        target: str,
        lines: list[str],
        head: bytes,
    ) -> None:
        """An absolute-form request: sent on as origin-form; the answer piped back. The
        connection is closed after one exchange (``connection: close`` to both sides)."""
        parts = urlsplit(target)
        if parts.scheme != "http" or not parts.hostname:
            writer.write(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
            return
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        kept = [
            line
            for line in lines[1:]
            if line and not line.lower().startswith(("proxy-authorization:", "connection:"))
        ]
        out = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{line}\r\n" for line in kept)
        out += "connection: close\r\n\r\n"
        up_reader, up_writer = await asyncio.open_connection(parts.hostname, parts.port or 80)
        self.track(up_writer)
        up_writer.write(out.encode("latin-1"))
        length = 0
        for line in kept:
            if line.lower().startswith("content-length:"):
                length = int(line.split(":", 1)[1])
        if length:
            up_writer.write(await reader.readexactly(length))
        await up_writer.drain()
        while chunk := await up_reader.read(65536):
            writer.write(chunk)
            await writer.drain()
        up_writer.close()


async def _pipe_both(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    up_reader: asyncio.StreamReader,
    up_writer: asyncio.StreamWriter,
) -> None:
    async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while chunk := await src.read(65536):
                dst.write(chunk)
                await dst.drain()
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.close()

    await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
