"""The FastAPI app: models, admin, the OpenAPI schema and ``/docs``, and the error envelope.

Imported only when the first request that needs it arrives (``api/lazy.py``): the chat
route and the operations routes never reach it. It has no lifespan of its own; the
:class:`~visiongate.app.Gateway` opens and closes the runtime.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from visiongate import __version__
from visiongate.api.admin import build_admin_router
from visiongate.api.chat_schema import ChatCompletionRequest
from visiongate.api.guard import internal_error
from visiongate.api.request_id import REQUEST_ID_KEY
from visiongate.api.routes import build_router
from visiongate.errors import GatewayError, InvalidRequest
from visiongate.runtime import Runtime

__all__ = ["build_api"]


def build_api(runtime: Runtime) -> FastAPI:
    """Every framework-served route, bound to ``runtime``, with OpenAI-shaped errors."""
    api = FastAPI(title="visiongate", version=__version__)
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

    @api.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # A bug: the envelope and a logged traceback, as the chat route does (guard.py).
        rid = str(request.scope.get(REQUEST_ID_KEY, "-"))
        return _error_response(internal_error(exc, rid))

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


def _error_response(exc: GatewayError) -> JSONResponse:
    return JSONResponse(exc.to_dict(), status_code=exc.status, headers=exc.headers)


def _chat_docs(app: FastAPI) -> None:
    """Declare the raw-ASGI surface routes in the OpenAPI schema (they never reach FastAPI)."""

    @app.post("/v1/chat/completions", tags=["chat"], summary="Create a chat completion")
    async def chat_completions_doc(  # pragma: no cover
        body: ChatCompletionRequest,
    ) -> dict[str, Any]:
        """OpenAI Chat Completions with vision: text and image_url parts, stream or not."""
        raise RuntimeError("served by the chat surface's endpoint")

    @app.post("/v1/responses", tags=["responses"], summary="Create a response")
    async def responses_doc(body: dict[str, Any]) -> dict[str, Any]:  # pragma: no cover
        """The OpenAI Responses API, stateless: input items with input_image parts, function
        calls and their outputs, stream or not (README: Three APIs in)."""
        raise RuntimeError("served by the responses surface's endpoint")

    @app.post("/v1/messages", tags=["messages"], summary="Create a message")
    async def messages_doc(body: dict[str, Any]) -> dict[str, Any]:  # pragma: no cover
        """The Anthropic Messages API: text, image, tool_use and tool_result blocks, stream
        or not; errors in Anthropic's envelope."""
        raise RuntimeError("served by the messages surface's endpoint")

    @app.post("/v1/messages/count_tokens", tags=["messages"], summary="Count a message's tokens")
    async def count_tokens_doc(body: dict[str, Any]) -> dict[str, Any]:  # pragma: no cover
        """The gateway's estimate of the prompt tokens of a Messages request, images included."""
        raise RuntimeError("served by the count_tokens endpoint")
