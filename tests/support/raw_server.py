"""A raw asyncio TCP server on 127.0.0.1, on its own loop in a thread, for fakes that must
control every byte (the test proxy, the hostile upstream). Stopping cancels what it is
still serving and closes the loop, so no connection outlives the ``with`` block."""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType
from typing import Self

__all__ = ["RawServer"]


class RawServer:
    """Subclasses implement :meth:`serve`; ``with Sub() as srv: srv.port``."""

    def __init__(self) -> None:
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.AbstractServer | None = None
        self._open: dict[asyncio.Task[None], asyncio.StreamWriter] = {}
        self._outgoing: set[asyncio.StreamWriter] = set()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def track(self, writer: asyncio.StreamWriter) -> None:
        """A connection a handler opened itself, dropped too when the server stops (the
        other end may run on a loop that is blocked while this one stops)."""
        self._outgoing.add(writer)

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._open[task] = writer
        try:
            await self.serve(reader, writer)
        finally:
            del self._open[task]

    async def _stop(self) -> None:
        """Drop the connections still open, so each handler ends on its own (a cancelled
        handler would be logged by asyncio's stream machinery), then wait for them."""
        if self._server is not None:
            self._server.close()
        tasks = list(self._open)
        for writer in [*self._open.values(), *self._outgoing]:
            writer.transport.abort()
        if tasks:
            await asyncio.wait(tasks, timeout=5)
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:  # what the handlers started (a tunnel's other half)
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
