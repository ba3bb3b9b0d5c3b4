"""The ASGI application: the chat hot path as raw ASGI, everything else on FastAPI.

``create_app(settings)`` returns one ASGI callable. ``POST /v1/chat/completions`` and
``POST /chat/completions`` go straight to :class:`ChatEndpoint`; every other request
(models, health, metrics, admin, OpenAPI docs) goes to the FastAPI app, whose lifespan
opens and closes the :class:`Runtime`.
"""

from __future__ import annotations

import gc
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from visiongate import __version__
from visiongate.api.admin import build_admin_router
from visiongate.api.chat import CHAT_PATHS, ChatEndpoint
from visiongate.api.routes import build_router
from visiongate.errors import GatewayError, InvalidRequest
from visiongate.observability.logging import configure_logging
from visiongate.runtime import Runtime
from visiongate.settings import Settings, load_settings

__all__ = ["Gateway", "create_app", "factory"]


def _error_response(exc: GatewayError) -> JSONResponse:
    return JSONResponse(exc.to_dict(), status_code=exc.status, headers=exc.headers)


def _chat_docs(app: FastAPI) -> None:
    """Declare the raw-ASGI chat route in the OpenAPI schema (it never reaches FastAPI)."""

    @app.post("/v1/chat/completions", tags=["chat"], summary="Create a chat completion")
    async def chat_completions_doc(body: dict[str, Any]) -> dict[str, Any]:  # pragma: no cover
        """OpenAI Chat Completions with vision: text and image_url parts, stream or not."""
        raise RuntimeError("served by ChatEndpoint")


class Gateway:
    """The ASGI entry point."""

    def __init__(self, settings: Settings, environ: dict[str, str] | None = None) -> None:
        self.settings = settings
        self.runtime = Runtime(settings, dict(os.environ if environ is None else environ))
        self.chat = ChatEndpoint(
            self.runtime.service,
            self.runtime.accounts,
            self.runtime.metrics,
            settings.max_body_bytes,
        )
        self.api = self._build_api()

    def _build_api(self) -> FastAPI:
        runtime = self.runtime

        @asynccontextmanager
        async def lifespan(_: FastAPI) -> AsyncIterator[None]:
            await runtime.start()
            try:
                yield
            finally:
                await runtime.close()

        api = FastAPI(title="visiongate", version=__version__, lifespan=lifespan)
        api.include_router(build_router(runtime))
        api.include_router(build_admin_router(runtime.accounts))
        _chat_docs(api)

        @api.exception_handler(GatewayError)
        async def gateway_error(_: Request, exc: GatewayError) -> JSONResponse:
            return _error_response(exc)

        @api.exception_handler(RequestValidationError)
        async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
            first = exc.errors()[0] if exc.errors() else {}
            param = ".".join(str(p) for p in first.get("loc", ())[1:]) or None
            return _error_response(
                InvalidRequest(str(first.get("msg", "invalid request")), param=param)
            )

        @api.exception_handler(StarletteHTTPException)
        async def http_error(_: Request, exc: StarletteHTTPException) -> Response:
            code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
            body = {
                "error": {
                    "message": str(exc.detail),
                    "type": "invalid_request_error",
                    "param": None,
                    "code": code,
                }
            }
            return Response(
                orjson.dumps(body), status_code=exc.status_code, media_type="application/json"
            )

        return api

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] in CHAT_PATHS and scope["method"] == "POST":
            await self.chat(scope, receive, send)
            return
        await self.api(scope, receive, send)


def create_app(settings: Settings | None = None) -> Gateway:
    return Gateway(settings or load_settings())


def factory() -> Gateway:
    """For ``uvicorn --factory`` and worker processes: settings from file + environment."""
    settings = load_settings()
    configure_logging(settings.log_level)
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
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)
