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
from visiongate.core.routes import Route
from visiongate.errors import ModelNotFound
from visiongate.runtime import Runtime

__all__ = ["build_router", "model_card", "route_card"]

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


def route_card(runtime: Runtime, route: Route) -> dict[str, Any]:
    """A route as ``/v1/models`` lists it: a model clients may send, owned by the gateway,
    with its targets and fallbacks; available when any target is."""

    def available(model_id: str) -> bool:
        entry = runtime.catalog.resolve(model_id)
        if entry is None:
            return False
        adapter = runtime.providers.get(entry.provider)
        return adapter is not None and runtime.catalog.provider_of(entry).configured

    return {
        "id": route.name,
        "object": "model",
        "created": _CREATED,
        "owned_by": "visiongate",
        "available": any(available(t.model) for t in route.targets),
        "route": {
            "targets": [{"model": t.model, "weight": t.weight} for t in route.targets],
            "strategy": route.strategy,
            "fallbacks": list(route.fallbacks),
            "retries": route.retries,
        },
    }


def _cards(runtime: Runtime) -> list[dict[str, Any]]:
    """Every model, then every route; a route named after a model (which gives that model
    deployments and fallbacks) is the model's card, with its ``route``."""
    routes = runtime.catalog.routes
    data = []
    for entry in runtime.catalog.models.values():
        card = model_card(runtime, entry)
        if entry.id in routes:
            card["route"] = route_card(runtime, routes[entry.id])["route"]
        data.append(card)
    models = runtime.catalog.models
    data += [route_card(runtime, r) for name, r in routes.items() if name not in models]
    return data


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
        """Every catalog model and route, OpenAI's list shape plus provider, availability
        and limits (a route: its targets and fallbacks)."""
        await _auth(request)
        return {"object": "list", "data": _cards(runtime)}

    @router.get("/v1/models/{model_id:path}", tags=["models"])
    @router.get("/models/{model_id:path}", tags=["models"], include_in_schema=False)
    async def get_model(model_id: str, request: Request) -> dict[str, Any]:
        await _auth(request)
        route = runtime.catalog.routes.get(model_id)
        entry = runtime.catalog.resolve(model_id)
        if entry is None:
            if route is None:
                raise ModelNotFound(f"The model {model_id!r} does not exist.", param="model")
            return route_card(runtime, route)
        card = model_card(runtime, entry)
        if route is not None:
            card["route"] = route_card(runtime, route)["route"]
        return card

    return router
