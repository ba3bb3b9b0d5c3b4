"""Run an aiohttp web app on a loopback port in a background thread, for fakes and image hosts."""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType

from aiohttp import web

__all__ = ["BackgroundApp"]


class BackgroundApp:
    """``with BackgroundApp(app) as srv: srv.url`` — the server lives as long as the block."""

    def __init__(self, app: web.Application, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> BackgroundApp:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self

    async def _start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        assert server is not None and server.sockets
        self.port = server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        if self._runner is not None:
            fut = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)
            fut.result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self._loop.close()  # its self-pipe sockets, or they leak a ResourceWarning

    def call(self, coro_fn, *args):  # type: ignore[no-untyped-def]
        """Run ``coro_fn(*args)`` on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro_fn(*args), self._loop).result(timeout=10)

    def __enter__(self) -> BackgroundApp:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
