"""What a provider says it serves: its own model-list endpoint, followed page by page.

Used by ``visiongate models check`` to compare the catalog with each provider. Each wire
family lists models its own way, so each gets a small pure page parser
(``from_*_page``: body in, ids and the next cursor out) and the request is built from the
provider's table: ``options.models_path`` under ``base_url``, the same credentials the
adapter sends. Three shapes:

- OpenAI-compatible (OpenAI, Together, OpenRouter): ``GET {base}/models``; an object with
  ``data`` (OpenAI, OpenRouter) or a bare array (Together). OpenRouter's entries say their
  ``architecture.input_modalities``; the others do not say which models take images.
- Anthropic: ``GET /v1/models?limit=…&after_id=…``, pages joined by ``has_more`` and
  ``last_id``.
- Gemini: ``GET /v1beta/models?pageSize=…&pageToken=…``, pages joined by
  ``nextPageToken``; only models that answer ``generateContent`` count.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import orjson

from visiongate.core.catalog import ProviderEntry
from visiongate.providers.anthropic import ANTHROPIC_VERSION
from visiongate.providers.openai_compat import HostProfile
from visiongate.transport import HttpClient, TransportError

__all__ = [
    "ListError",
    "ListedModel",
    "Page",
    "from_anthropic_page",
    "from_gemini_page",
    "from_openai_page",
    "list_models",
]

_MAX_PAGES = 100  # a list that never ends is an upstream bug; stop rather than loop
_MAX_BODY = 32 * 1024 * 1024


class ListError(Exception):
    """The provider's list could not be had: unreachable, refused, or not a list."""


@dataclass(frozen=True, slots=True)
class ListedModel:
    """One id a provider lists. ``vision``: what the list says of image input, or None
    where it says nothing (the catalog's ``vision_ids`` patterns decide then)."""

    id: str
    vision: bool | None = None


@dataclass(frozen=True, slots=True)
class Page:
    models: list[ListedModel]
    cursor: str | None  # where the next page starts; None on the last one


def from_openai_page(body: Any) -> Page:
    """An OpenAI-compatible list: ``{"data": [...]}`` or a bare array (Together).

    Follows OpenAI's list convention (``has_more`` + ``last_id``) where a host pages.
    """
    items = body if isinstance(body, list) else _field(body, "data", list)
    models = []
    for item in items:
        model_id = _field(item, "id", str)
        modalities = (item.get("architecture") or {}).get("input_modalities")
        vision = "image" in modalities if isinstance(modalities, list) else None
        models.append(ListedModel(model_id, vision))
    more = isinstance(body, dict) and body.get("has_more") is True
    return Page(models, str(body.get("last_id") or "") or None if more else None)


def from_anthropic_page(body: Any) -> Page:
    """Anthropic's ``{"data": [...], "has_more": …, "last_id": …}``."""
    models = [ListedModel(_field(item, "id", str)) for item in _field(body, "data", list)]
    more = body.get("has_more") is True
    return Page(models, str(body.get("last_id") or "") or None if more else None)


def from_gemini_page(body: Any) -> Page:
    """Gemini's ``{"models": [...], "nextPageToken": …}``; ``name`` is ``models/{id}``.

    A model whose ``supportedGenerationMethods`` lack ``generateContent`` (embeddings,
    for one) cannot take a chat request and is left out.
    """
    if not isinstance(body, dict):
        raise ListError("the list is not a JSON object")
    models = []
    for item in body.get("models") or []:
        name = _field(item, "name", str).removeprefix("models/")
        methods = item.get("supportedGenerationMethods")
        if isinstance(methods, list) and "generateContent" not in methods:
            continue
        models.append(ListedModel(name))
    return Page(models, str(body.get("nextPageToken") or "") or None)


@dataclass(frozen=True, slots=True)
class _Shape:
    headers: Callable[[ProviderEntry], dict[str, str]]
    query: Callable[[str | None], dict[str, str]]
    parse: Callable[[Any], Page]


def _openai_headers(entry: ProviderEntry) -> dict[str, str]:
    return HostProfile.from_entry(entry).headers(entry.api_key)


_SHAPES: dict[str, _Shape] = {
    "openai": _Shape(
        _openai_headers, lambda cursor: {"after": cursor} if cursor else {}, from_openai_page
    ),
    "anthropic": _Shape(
        lambda e: {"x-api-key": e.api_key or "", "anthropic-version": ANTHROPIC_VERSION},
        lambda cursor: {"limit": "1000", **({"after_id": cursor} if cursor else {})},
        from_anthropic_page,
    ),
    "google": _Shape(
        lambda e: {"x-goog-api-key": e.api_key or ""},
        lambda cursor: {"pageSize": "1000", **({"pageToken": cursor} if cursor else {})},
        from_gemini_page,
    ),
}


def models_url(entry: ProviderEntry) -> str | None:
    """The list endpoint of a provider, or None where none is known (MiniMax, local)."""
    path = entry.options.get("models_path")
    if not path or entry.kind not in _SHAPES:
        return None
    return entry.base_url + str(path)


async def list_models(entry: ProviderEntry, client: HttpClient) -> list[ListedModel]:
    """Every model the provider lists, all pages followed.

    Raises ListError when the provider cannot be reached, refuses (a non-2xx answer, whose
    message is kept), or answers with something that is not its list.
    """
    url = models_url(entry)
    if url is None:
        raise ListError(f"no model-list endpoint is known for {entry.name}")
    shape = _SHAPES[entry.kind]
    headers = {**entry.headers, **shape.headers(entry), "accept": "application/json"}
    listed: list[ListedModel] = []
    cursor: str | None = None
    for _ in range(_MAX_PAGES):
        query = shape.query(cursor)
        body = await _get_json(client, f"{url}?{urlencode(query)}" if query else url, headers)
        page = shape.parse(body)
        listed.extend(page.models)
        if page.cursor is None or page.cursor == cursor:
            return listed
        cursor = page.cursor
    raise ListError(f"{entry.name}'s list went on past {_MAX_PAGES} pages")


async def _get_json(client: HttpClient, url: str, headers: Mapping[str, str]) -> Any:
    try:
        response = await client.get(url, headers, max_body=_MAX_BODY)
        raw = await response.read()
    except TimeoutError as exc:
        raise ListError("no answer in time") from exc
    except TransportError as exc:
        raise ListError(f"could not connect: {exc}") from exc
    except ValueError as exc:  # a base_url the client cannot parse
        raise ListError(str(exc)) from exc
    if response.status >= 300:
        text = raw[:300].decode("utf-8", "replace").strip()
        raise ListError(f"HTTP {response.status}: {text}")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ListError("the answer is not JSON") from exc


def _field(value: Any, name: str, kind: type) -> Any:
    found = value.get(name) if isinstance(value, dict) else None
    if not isinstance(found, kind):
        raise ListError(f"a list entry has no {kind.__name__} {name!r}")
    return found
