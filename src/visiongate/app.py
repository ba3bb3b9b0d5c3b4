"""The ASGI application: the chat hot path and the operations routes as raw ASGI, the rest
on FastAPI, imported on first use.

``create_app(settings)`` returns one ASGI callable, :class:`Gateway`. It dispatches

* ``POST`` to a surface's path (Chat Completions ``/v1/chat/completions``, the Responses
  API ``/v1/responses``, the Messages API ``/v1/messages`` and its ``/count_tokens``, each
  also without ``/v1``) to that surface's :class:`~visiongate.api.endpoint.Endpoint`;
* ``GET /healthz``, ``/readyz`` and ``/metrics`` to :class:`Operations` (what probes and
  Prometheus poll, so an idle gateway never needs more);
* ``GET``/``HEAD`` on ``/`` and ``/playground…`` to :class:`Playground`, the browser page's
  static files (``playground/``);
* everything else (models, admin, ``/openapi.json``, ``/docs``, and the 404/405 answers)
  to the FastAPI app of ``api/framework.py``, which is imported and built on the first
  such request (``api/lazy.py``): ~8 MB and ~0.25 s that a gateway which never sees one
  does not pay (docs/performance.md).

The gateway answers the ASGI lifespan itself: startup opens the :class:`Runtime`,
shutdown closes it.
"""

from __future__ import annotations

import gc
import os
import traceback
from typing import Any

from visiongate.api.endpoint import Endpoint
from visiongate.api.heap import keep_large_blocks
from visiongate.api.lazy import ASGIApp, LazyApp
from visiongate.api.operations import OPERATIONS_PATHS, Operations
from visiongate.api.request_id import REQUEST_ID_KEY, RequestIds, stamped
from visiongate.api.surfaces import build_endpoints
from visiongate.observability.logging import configure_logging
from visiongate.playground import Playground, is_playground_path
from visiongate.runtime import Runtime
from visiongate.settings import Settings, load_settings

__all__ = ["Gateway", "create_app", "factory"]

_READ = frozenset({"GET", "HEAD"})


class Gateway:
    """The ASGI entry point."""

    def __init__(self, settings: Settings, environ: dict[str, str] | None = None) -> None:
        self.settings = settings
        self.runtime = Runtime(settings, dict(os.environ if environ is None else environ))
        self.endpoints: dict[str, Endpoint] = build_endpoints(self.runtime, settings)
        self.operations = Operations(self.runtime.accounts, self.runtime.metrics)
        self.playground = Playground()
        self.request_ids = RequestIds()
        self.api = LazyApp(self._build_api, _settle_gc)

    def _build_api(self) -> ASGIApp:
        from visiongate.api.framework import build_api

        return build_api(self.runtime)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "http":
            path = scope["path"]
            if scope["method"] == "POST":
                endpoint = self.endpoints.get(path)
                if endpoint is not None:
                    await endpoint(scope, receive, send)
                    return
            # Every other answer carries an x-request-id too (the endpoints set their own).
            rid = scope[REQUEST_ID_KEY] = self.request_ids.for_scope(scope)
            send = stamped(send, rid)
            if path in OPERATIONS_PATHS and scope["method"] == "GET":
                await self.operations(scope, receive, send)
                return
            if scope["method"] in _READ and is_playground_path(path):
                await self.playground(scope, receive, send)
                return
        elif kind == "lifespan":
            await self._lifespan(receive, send)
            return
        await self.api(scope, receive, send)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        """Open the runtime on startup and close it on shutdown, as Starlette reported it:
        a failure is sent with its traceback (uvicorn logs it and exits) and re-raised."""
        await receive()  # lifespan.startup
        started = False
        try:
            await self.runtime.start()
            await send({"type": "lifespan.startup.complete"})
            started = True
            await receive()  # lifespan.shutdown
            await self.runtime.close()
        except BaseException:
            failed = "lifespan.shutdown.failed" if started else "lifespan.startup.failed"
            await send({"type": failed, "message": traceback.format_exc()})
            raise
        await send({"type": "lifespan.shutdown.complete"})


def create_app(settings: Settings | None = None) -> Gateway:
    return Gateway(settings or load_settings())


def factory() -> Gateway:
    """For ``uvicorn --factory`` and worker processes: settings from file + environment."""
    settings = load_settings()
    configure_logging(settings.log_level)
    keep_large_blocks()  # large request buffers reused, not faulted in anew (heap.py)
    gateway = Gateway(settings)
    _settle_gc()
    return gateway


def _settle_gc() -> None:
    """Keep the cyclic garbage collector off the ~100k objects the server starts with.

    Everything imported and built so far lives as long as the process, yet each full
    collection walked all of it: ~80 ms pauses, and ~58 µs of collector time per request
    on the text path (docs/performance.md). Freezing moves them out of the collector's
    way; a larger first generation promotes fewer of the in-flight requests' objects, which
    is what made the full collections frequent. Measured: ~20 µs per request, ~20 ms pauses.
    Run again when the FastAPI app is built on its first request (its objects live as long).

    Only the young generations are collected first: at this point a full collection found
    nothing unreachable yet cost 40-60 ms of start-up (75k objects); a young one costs
    ~1.5 ms and still catches what building the gateway just left behind.
    """
    gc.collect(1)
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)
