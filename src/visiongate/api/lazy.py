"""An ASGI app built on its first request, off the event loop, exactly once.

The gateway's FastAPI app (models, admin, ``/docs``, ``/openapi.json``) costs ~8 MB and
~0.25 s to import and build on the development VM (docs/performance.md), yet a
gateway that only serves chat completions, health probes and metric scrapes never needs
it. :class:`LazyApp` defers that cost to the first request for one of its routes.

The build runs in a worker thread so that chat requests in flight keep being served
while FastAPI is imported; every request that arrives meanwhile waits for the same
build. A failed build is not remembered: the next request tries again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["ASGIApp", "LazyApp"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class LazyApp:
    """Calls ``build()`` (in a thread) on the first request, then ``on_built()`` on the loop.

    ``on_built`` runs once, on the event loop, after the app exists and before any
    request reaches it (the gateway uses it to keep the garbage collector off the new
    long-lived objects).
    """

    def __init__(self, build: Callable[[], ASGIApp], on_built: Callable[[], None]) -> None:
        self._build = build
        self._on_built = on_built
        self._app: ASGIApp | None = None
        self._building: asyncio.Future[ASGIApp] | None = None

    @property
    def built(self) -> bool:
        return self._app is not None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self._app if self._app is not None else await self._get()
        await app(scope, receive, send)

    async def _get(self) -> ASGIApp:
        building = self._building
        if building is None:
            building = asyncio.get_running_loop().run_in_executor(None, self._build)
            self._building = building
        try:
            # Shielded: a waiter that is cancelled must not cancel the build for the others.
            app = await asyncio.shield(building)
        except Exception:
            if self._building is building:
                self._building = None
            raise
        if self._app is None:
            self._on_built()
            self._app = app
        return self._app
