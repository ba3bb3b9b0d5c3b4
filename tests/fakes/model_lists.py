"""Fake model-list endpoints: OpenAI-compatible, Anthropic and Gemini shapes, paginated.

Each fake serves a fixed list of ids in small pages (so a client that reads only the
first page is caught), checks the credentials the way its provider does, and records
every request. The shapes follow the providers' documented answers:

- ``openai``: ``GET /v1/models`` → ``{"object": "list", "data": [...]}``; with a page size,
  OpenAI's list convention ``has_more``/``last_id`` and an ``after`` query parameter.
- ``together``: ``GET /v1/models`` → a bare JSON array.
- ``openrouter``: ``GET /api/v1/models`` → ``{"data": [...]}`` with
  ``architecture.input_modalities`` on every entry.
- ``anthropic``: ``GET /v1/models?limit&after_id`` → ``data``, ``has_more``, ``first_id``,
  ``last_id``; ``x-api-key`` and ``anthropic-version`` required.
- ``gemini``: ``GET /v1beta/models?pageSize&pageToken`` → ``models`` (``name`` =
  ``models/{id}``, ``supportedGenerationMethods``) and ``nextPageToken``; ``x-goog-api-key``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

__all__ = ["ModelListFake"]

_PATHS = {
    "openai": "/v1/models",
    "together": "/v1/models",
    "openrouter": "/api/v1/models",
    "anthropic": "/v1/models",
    "gemini": "/v1beta/models",
}


@dataclass
class ModelListFake:
    style: str
    api_key: str
    ids: Sequence[str]
    page_size: int = 2
    vision: Sequence[str] = ()  # openrouter: ids whose modalities include "image"
    requests: list[dict[str, Any]] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get(_PATHS[self.style], self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests.append({"path": request.path, "query": dict(request.query)})
        refusal = self._check_auth(request)
        if refusal is not None:
            return refusal
        if self.style == "anthropic":
            return web.json_response(self._anthropic(request))
        if self.style == "gemini":
            return web.json_response(self._gemini(request))
        if self.style == "together":
            return web.json_response([{"id": i, "type": "chat"} for i in self.ids])
        if self.style == "openrouter":
            return web.json_response({"data": [self._openrouter_item(i) for i in self.ids]})
        return web.json_response(self._openai(request))

    def _check_auth(self, request: web.Request) -> web.Response | None:
        headers = request.headers
        if self.style == "anthropic":
            ok = headers.get("x-api-key") == self.api_key and bool(headers.get("anthropic-version"))
        elif self.style == "gemini":
            ok = headers.get("x-goog-api-key") == self.api_key
        else:
            ok = headers.get("authorization") == f"Bearer {self.api_key}"
        if ok:
            return None
        return web.json_response({"error": {"message": "bad credentials"}}, status=401)

    def _slice(self, start: int, size: int) -> tuple[list[str], bool]:
        page = list(self.ids[start : start + size])
        return page, start + size < len(self.ids)

    def _after(self, cursor: str | None) -> int:
        return list(self.ids).index(cursor) + 1 if cursor else 0

    def _openai(self, request: web.Request) -> dict[str, Any]:
        page, more = self._slice(self._after(request.query.get("after")), self.page_size)
        data = [{"id": i, "object": "model", "created": 0, "owned_by": "fake"} for i in page]
        return {"object": "list", "data": data, "has_more": more, "last_id": page[-1]}

    def _anthropic(self, request: web.Request) -> dict[str, Any]:
        size = min(int(request.query.get("limit", "20")), self.page_size)
        page, more = self._slice(self._after(request.query.get("after_id")), size)
        data = [{"type": "model", "id": i, "display_name": i} for i in page]
        return {"data": data, "has_more": more, "first_id": page[0], "last_id": page[-1]}

    def _gemini(self, request: web.Request) -> dict[str, Any]:
        start = int(request.query.get("pageToken") or 0)
        size = min(int(request.query.get("pageSize", "50")), self.page_size)
        page, more = self._slice(start, size)
        models = [
            {"name": f"models/{i}", "supportedGenerationMethods": ["generateContent"]} for i in page
        ]
        models.append(
            {"name": "models/embedding-001", "supportedGenerationMethods": ["embedContent"]}
        )
        body: dict[str, Any] = {"models": models}
        if more:
            body["nextPageToken"] = str(start + size)
        return body

    def _openrouter_item(self, model_id: str) -> dict[str, Any]:
        modalities = ["text", "image"] if model_id in self.vision else ["text"]
        return {"id": model_id, "architecture": {"input_modalities": modalities}}
