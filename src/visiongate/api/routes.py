"""The framework-served routes: models, and the schema's entries for health and metrics.

``GET /healthz``, ``/readyz`` and ``/metrics`` are answered by ``api/operations.py`` before
a request reaches FastAPI; they are declared here so that ``/openapi.json`` and ``/docs``
list them, and their handlers call the same functions.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from visiongate.api.operations import HEALTHY, METRICS_TYPE, readiness
from visiongate.core.catalog import ModelEntry
from visiongate.errors import ModelNotFound
from visiongate.runtime import Runtime

__all__ = ["build_router", "model_card"]

_CREATED = 1_700_000_000  # catalog entries have no creation date; a fixed one keeps ids stable


def model_card(runtime: Runtime, entry: ModelEntry) -> dict[str, Any]:
    provider = runtime.catalog.provider_of(entry)
    adapter = runtime.providers.get(entry.provider)
    available = provider.configured and adapter is not None
    card: dict[str, Any] = {
        "id": entry.id,
        "object": "model",
        "created": _CREATED,
        "owned_by": provider.name,
        "provider": provider.name,
        "upstream_model": entry.upstream,
        "available": available,
        "capabilities": sorted(entry.capabilities),
        "limits": {
            "context_window": entry.context_window,
            "max_output_tokens": entry.max_output_tokens,
            "max_images": entry.image.max_images,
            "max_image_bytes": entry.image.max_image_bytes,
            "max_edge": entry.image.max_edge or None,
            "resize_edge": entry.image.resize_edge or None,
            "image_formats": sorted(entry.image.formats),
        },
        "pricing": {"input_per_mtok": entry.price_input, "output_per_mtok": entry.price_output},
        "input_modalities": entry.input_modalities,
        "shutdown_date": entry.retired,
        "source": entry.source,
        "as_of": entry.as_of,
    }
    if not provider.configured and provider.api_key_env:
        card["requires"] = provider.api_key_env
    if entry.retired:
        if entry.retired_on(date.today()):
            card["retired"] = entry.retired
        card["successor"] = entry.successor
    if adapter is not None:
        card.update(adapter.describe(entry))
    return card


def build_router(runtime: Runtime) -> APIRouter:
    router = APIRouter()

    async def _auth(request: Request) -> None:
        await runtime.accounts.authenticate(request.headers.get("authorization"))

    @router.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return HEALTHY

    @router.get("/readyz", tags=["operations"])
    async def readyz() -> JSONResponse:
        """Readiness: the usage database answers."""
        status, body = await readiness(runtime.accounts)
        return JSONResponse(body, status_code=status)

    @router.get("/metrics", tags=["operations"])
    async def metrics() -> Response:
        """Prometheus text format, this process's series."""
        return Response(runtime.metrics.render(), media_type=METRICS_TYPE)

    @router.get("/v1/models", tags=["models"])
    @router.get("/models", tags=["models"], include_in_schema=False)
    async def list_models(request: Request) -> dict[str, Any]:
        """Every catalog model, OpenAI's list shape plus provider, availability and limits."""
        await _auth(request)
        data = [model_card(runtime, entry) for entry in runtime.catalog.models.values()]
        return {"object": "list", "data": data}

    @router.get("/v1/models/{model_id:path}", tags=["models"])
    @router.get("/models/{model_id:path}", tags=["models"], include_in_schema=False)
    async def get_model(model_id: str, request: Request) -> dict[str, Any]:
        await _auth(request)
        entry = runtime.catalog.resolve(model_id)
        if entry is None:
            raise ModelNotFound(f"The model {model_id!r} does not exist.", param="model")
        return model_card(runtime, entry)

    return router
