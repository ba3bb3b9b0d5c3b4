"""Talking to a target through an HTTP proxy: what the request looks like and the tunnel.

Two forms, as every HTTP client does it (RFC 9110 9.3.6, RFC 9112 3.2.2): a request for
an ``http://`` URL goes to the proxy in absolute form (``POST http://host/path``), with
``Proxy-Authorization`` when the proxy URL carries credentials; for an ``https://`` URL
the client asks the proxy to ``CONNECT host:443`` and then speaks TLS to the target inside
that tunnel, so the proxy sees neither the request nor the provider key. Only ``http://``
proxies are supported (what corporate proxies and ``HTTPS_PROXY`` almost always name).
Credentials never appear in messages or logs: :class:`Proxy` shows the host alone.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import socket
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from visiongate.transport.connection import TransportError

__all__ = ["Proxy", "open_tunnel"]

_MAX_CONNECT_ANSWER = 16 * 1024


@dataclass(frozen=True, slots=True)
class Proxy:
    """An ``http://[user:password@]host:port`` proxy, parsed once."""

    host: str
    port: int
    authorization: str | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, url: str) -> Proxy:
        """Raises ValueError (without the URL, which may hold a password) when unusable."""
        if "://" not in url:
            url = "http://" + url  # "proxy:3128", as curl and httpx accept it
        parts = urlsplit(url)
        if parts.scheme.lower() != "http" or not parts.hostname:
            raise ValueError(
                f"proxy URLs must be http://host:port (got a {parts.scheme or 'bare'} URL)"
            )
        try:
            port = parts.port or 80
        except ValueError:
            raise ValueError("the proxy URL's port is not a number") from None
        auth = None
        if parts.username is not None:
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            auth = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
        return cls(parts.hostname, port, auth)

    def __str__(self) -> str:
        return f"http://{self.host}:{self.port}"


async def open_tunnel(proxy: Proxy, host: str, port: int, timeout: float | None) -> socket.socket:
    """A connected socket to ``host:port`` through ``proxy``'s CONNECT, ready for TLS.

    Raises TransportError (the proxy refused, answered nonsense or closed) or TimeoutError.
    """
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(timeout):
        sock = await _connect(loop, proxy)
        try:
            authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            lines = [f"CONNECT {authority} HTTP/1.1", f"host: {authority}"]
            if proxy.authorization:
                lines.append(f"proxy-authorization: {proxy.authorization}")
            await loop.sock_sendall(sock, ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            status = await _read_status(loop, sock)
        except BaseException:
            sock.close()
            raise
    if not 200 <= status < 300:
        sock.close()
        why = "asks for credentials" if status == 407 else f"answered HTTP {status}"
        raise TransportError(f"the proxy {proxy} refused the tunnel: it {why}")
    return sock


async def _connect(loop: asyncio.AbstractEventLoop, proxy: Proxy) -> socket.socket:
    try:
        infos = await loop.getaddrinfo(proxy.host, proxy.port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise TransportError(f"the proxy {proxy} does not resolve") from exc
    failure: OSError | None = None
    for family, kind, proto, _, address in infos:
        sock = socket.socket(family, kind, proto)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, address)
        except OSError as exc:
            sock.close()
            failure = exc
            continue
        except BaseException:
            sock.close()
            raise
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    raise TransportError(f"could not connect to the proxy {proxy}") from failure


async def _read_status(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> int:
    """The status of the proxy's answer to CONNECT, read up to its blank line (a proxy
    sends nothing after it until the client speaks, so nothing of the tunnel is read)."""
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = await loop.sock_recv(sock, 4096)
        if not chunk:
            raise TransportError("the proxy closed the connection during CONNECT")
        head += chunk
        if len(head) > _MAX_CONNECT_ANSWER:
            raise TransportError("the proxy's answer to CONNECT is too long")
    status_line = head.split(b"\r\n", 1)[0].split()
    if (
        len(status_line) < 2
        or not status_line[0].startswith(b"HTTP/")
        or not status_line[1].isdigit()
    ):
        raise TransportError("the proxy answered CONNECT with something that is not HTTP")
    return int(status_line[1])
