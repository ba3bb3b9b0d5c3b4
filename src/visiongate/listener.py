"""The event loop the server runs on: uvloop, with a listener that lets in every waiting
connection each time it wakes, not one.

Since libuv 1.45 (libuv/libuv#3696), uvloop's listener accepts one connection per turn of the
event loop. A turn of a loaded gateway takes milliseconds (every request that has data
to read gets its step), so a burst of new clients is let in one per turn while the
kernel holds the others' requests. In the team harness, 64 clients that connected at once
to a busy gateway were accepted over ~300 ms, the last one's request waited that long
before the gateway read a byte of it, and p99 at c=64 came out at 3-8x p50 while no
request took over 37 ms inside the gateway (docs/performance.md, "Accepting
connections"). asyncio's own loop accepts up to the listen backlog per wake-up; this does
the same on uvloop: the listening socket is watched with ``add_reader``, each wake-up
accepts until the kernel's queue is empty (or ``backlog`` were taken), and each accepted
socket goes to uvloop's ``connect_accepted_socket``, the same transport uvloop's own
server would have made.

Only plain TCP sockets handed in (``serve`` binds its own, workers.py); TLS, Unix sockets
and host/port binding go to uvloop's ``create_server`` unchanged.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from collections.abc import Callable
from typing import Any

import uvloop

__all__ = ["AcceptingServer", "GatewayLoop"]

log = logging.getLogger("visiongate.listener")

# Out of descriptors or kernel memory: accepting again at once would spin, so pause (as
# asyncio does) and let the connections in flight finish.
_PAUSE_ON = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
PAUSE_S = 1.0
_TCP = (socket.AF_INET, socket.AF_INET6)


class GatewayLoop(uvloop.Loop):  # type: ignore[misc]  # uvloop.Loop is untyped
    """uvicorn builds it from ``Config(loop="visiongate.listener:GatewayLoop")``."""

    async def create_server(  # type: ignore[override]
        self,
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        host: Any = None,
        port: Any = None,
        *,
        sock: socket.socket | None = None,
        ssl: Any = None,
        backlog: int = 100,
        **kwargs: Any,
    ) -> asyncio.AbstractServer:
        if sock is None or ssl is not None or kwargs or sock.family not in _TCP:
            return await super().create_server(
                protocol_factory, host, port, sock=sock, ssl=ssl, backlog=backlog, **kwargs
            )
        sock.listen(backlog)
        return AcceptingServer(self, protocol_factory, sock, batch=backlog)


class AcceptingServer(asyncio.AbstractServer):
    """Serves one listening TCP socket, accepting up to ``batch`` connections per wake-up."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        sock: socket.socket,
        *,
        batch: int,
        pause_s: float = PAUSE_S,
    ) -> None:
        self._loop = loop
        self._factory = protocol_factory
        self._sock = sock
        self._batch = max(1, batch)
        self._pause_s = pause_s
        self._watching = False
        self._closed = False
        self._forever: asyncio.Future[None] | None = None
        self._connecting: set[asyncio.Task[None]] = set()  # the loop keeps weak references
        sock.setblocking(False)
        self._watch()

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return () if self._closed else (self._sock,)

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def is_serving(self) -> bool:
        return self._watching

    async def start_serving(self) -> None:
        self._watch()

    async def serve_forever(self) -> None:
        self._watch()
        self._forever = self._loop.create_future()
        try:
            await self._forever
        finally:
            self.close()

    def close(self) -> None:
        """Stop accepting and close the listening socket; connections already made stay."""
        if self._closed:
            return
        self._unwatch()
        self._closed = True
        self._sock.close()
        if self._forever is not None and not self._forever.done():
            self._forever.cancel()

    async def wait_closed(self) -> None:
        # The server (uvicorn) tracks and drains its connections itself.
        return None

    def _watch(self) -> None:
        if not self._closed and not self._watching:
            self._loop.add_reader(self._sock.fileno(), self._accept)
            self._watching = True

    def _unwatch(self) -> None:
        if self._watching:
            self._loop.remove_reader(self._sock.fileno())
            self._watching = False

    def _accept(self) -> None:
        for _ in range(self._batch):
            try:
                conn, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return  # the queue is empty
            except ConnectionAbortedError:
                continue  # the client gave up while it waited in the queue
            except OSError as exc:
                if exc.errno not in _PAUSE_ON:
                    raise
                log.error(
                    "cannot accept connections (%s); pausing %.1f s", exc.strerror, self._pause_s
                )
                self._unwatch()
                self._loop.call_later(self._pause_s, self._watch)
                return
            task = self._loop.create_task(self._connect(conn))
            self._connecting.add(task)
            task.add_done_callback(self._connecting.discard)

    async def _connect(self, conn: socket.socket) -> None:
        try:
            await self._loop.connect_accepted_socket(self._factory, conn)
        except Exception:
            log.exception("could not set up an accepted connection")
            conn.close()  # a no-op when the transport took the socket and closed it
