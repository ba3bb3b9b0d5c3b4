"""The admin API under ``/v1/admin``: create, list and revoke keys, and report usage.

Every route requires the admin key (``VISIONGATE_ADMIN_KEY``) as a bearer token; with no
admin key configured the whole API answers 403 ``admin_disabled``. Errors are raised as the
gateway's error classes and rendered by the app into OpenAI's envelope.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from visiongate.accounting import Accounts
from visiongate.accounting.keys import parse_duration
from visiongate.accounting.keystore import KeyNotFound, KeySpec
from visiongate.accounting.reports import GROUPINGS, usage_report
from visiongate.errors import GatewayError, InvalidRequest

__all__ = ["build_admin_router"]


class CreateKey(BaseModel):
    """``POST /v1/admin/keys``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    models: list[str] | str | None = Field(
        default=None, description="fnmatch patterns (a list or a comma-separated string)"
    )
    rpm: int | None = Field(default=None, ge=1, description="requests per minute")
    tpm: int | None = Field(default=None, ge=1, description="tokens per minute")
    budget_usd: float | None = Field(default=None, ge=0)
    expires_in: str | float | None = Field(
        default=None, description="lifetime: seconds, or a duration like 30d, 12h"
    )


class KeyNotFoundError(GatewayError):
    status = 404
    type = "invalid_request_error"
    default_code = "key_not_found"


def _spec(body: CreateKey) -> KeySpec:
    models = body.models
    if isinstance(models, str):
        models = [m.strip() for m in models.split(",") if m.strip()]
    expires: float | None = None
    if body.expires_in is not None:
        try:
            expires = (
                parse_duration(body.expires_in)
                if isinstance(body.expires_in, str)
                else float(body.expires_in)
            )
        except ValueError as exc:
            raise InvalidRequest(str(exc), param="expires_in") from exc
    spec = KeySpec(
        name=body.name,
        models=tuple(models) if models is not None else None,
        rpm=body.rpm,
        tpm=body.tpm,
        budget_usd=body.budget_usd,
        expires_in=expires,
    )
    try:
        spec.validate()
    except ValueError as exc:
        message, param = exc.args
        raise InvalidRequest(message, param=param) from exc
    return spec


def _since(text: str) -> float:
    try:
        return time.time() - parse_duration(text)
    except ValueError as exc:
        raise InvalidRequest(str(exc), param="since") from exc


def build_admin_router(accounts: Accounts) -> APIRouter:
    """The admin routes, bound to one ``Accounts``."""

    async def admin(request: Request) -> None:
        accounts.check_admin(request.headers.get("authorization"))

    router = APIRouter(prefix="/v1/admin", tags=["admin"], dependencies=[Depends(admin)])

    @router.post("/keys", status_code=201)
    async def create_key(body: CreateKey) -> JSONResponse:
        """Create a key. The response is the only time the key itself is shown."""
        key, record = await accounts.keys.create(_spec(body))
        return JSONResponse({"object": "api_key", "key": key, **record.to_dict()}, 201)

    @router.get("/keys")
    async def list_keys(include_revoked: bool = True) -> dict[str, Any]:
        """Every key with its limits, spend and last use (never the key itself)."""
        records = await accounts.keys.list(include_revoked=include_revoked)
        return {"object": "list", "data": [{"object": "api_key", **r.to_dict()} for r in records]}

    @router.get("/keys/{key_id}")
    async def get_key(key_id: str) -> dict[str, Any]:
        record = await accounts.keys.get(key_id)
        if record is None:
            raise KeyNotFoundError(f"No key with id {key_id[:60]!r}.", param="key_id")
        return {"object": "api_key", **record.to_dict()}

    async def _revoke(key_id: str) -> dict[str, Any]:
        try:
            record = await accounts.keys.revoke(key_id)
        except KeyNotFound as exc:
            raise KeyNotFoundError(str(exc), param="key_id") from exc
        return {"object": "api_key", **record.to_dict()}

    @router.delete("/keys/{key_id}")
    async def revoke_key(key_id: str) -> dict[str, Any]:
        """Revoke a key (by id or display prefix); every process refuses it within ~1 s."""
        return await _revoke(key_id)

    @router.post("/keys/{key_id}/revoke")
    async def revoke_key_post(key_id: str) -> dict[str, Any]:
        """The same as ``DELETE /v1/admin/keys/{key_id}``, for clients without DELETE."""
        return await _revoke(key_id)

    @router.get("/usage")
    async def usage(
        since: Annotated[str, Query(description="a duration back from now: 7d, 24h")] = "30d",
        by: Annotated[str, Query(description="model, key, day or endpoint")] = "model",
        key_id: str | None = None,
    ) -> dict[str, Any]:
        """Requests, tokens and spend per model, key or UTC day."""
        if by not in GROUPINGS:
            raise InvalidRequest(f"by must be one of {', '.join(GROUPINGS)}.", param="by")
        start = _since(since)
        rows = await usage_report(accounts.engine, start, by, key_id)
        data = [r.to_dict() for r in rows]
        total = {
            name: sum(d[name] for d in data)
            for name in ("requests", "errors", "prompt_tokens", "completion_tokens")
        }
        total["cost_usd"] = round(sum(d["cost_usd"] for d in data), 6)
        return {"object": "usage_report", "since": start, "by": by, "data": data, "total": total}

    return router
