"""The model catalog: which model ids exist, who serves them, their limits and prices.

The shipped catalog is ``data/models.toml``; an operator's config file may add
``[providers.*]``, ``[image_profiles.*]`` and ``[models."id"]`` tables with the same keys,
which are merged over the shipped ones key by key, and ``[routes."name"]`` tables
(``core/routes.py``). A model table may say ``like = "other-id"`` to take every key it does
not set from that entry (a second deployment of a known model needs only its provider).
The result is immutable and built once at start-up.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import date
from importlib import resources
from typing import Any

from visiongate.core.cache_config import CacheConfig, cache_config
from visiongate.core.proxies import proxy_for
from visiongate.core.routes import Route, parse_routes

__all__ = [
    "CacheConfig",
    "Catalog",
    "ImageLimits",
    "ModelEntry",
    "ProviderEntry",
    "cache_config",
    "load_catalog",
    "merge_tables",
]


@dataclass(frozen=True, slots=True)
class ImageLimits:
    """What a model accepts as images, and where the provider would shrink them anyway."""

    formats: frozenset[str] = frozenset({"jpeg", "png", "webp", "gif"})
    animated: bool = False
    max_image_bytes: int = 20_000_000
    max_request_image_bytes: int = 50_000_000
    max_images: int = 20
    max_edge: int = 0
    many_images: int = 0
    many_images_max_edge: int = 0
    resize_edge: int = 0
    max_pixels: int = 0
    low_detail_edge: int = 512
    url_passthrough: bool = False
    token_formula: str = "none"  # noqa: S105 - a formula name, not a secret
    tile_base: int = 0
    tile_tokens: int = 0
    # The provider's published tokens per PDF page it reads itself (0: none published).
    pdf_page_tokens: int = 0


@dataclass(frozen=True, slots=True)
class ProviderEntry:
    """A provider account: the wire API family, where it lives and how to authenticate.

    ``api_key`` is resolved at load time from the config file or ``api_key_env``; a
    provider without a key (other than ``local``) is listed but not available.
    """

    name: str
    kind: str
    base_url: str
    api_key_env: str | None = None
    base_url_env: str | None = None
    api_key: str | None = field(default=None, repr=False)
    chat_path: str | None = None
    api_version: str | None = None  # azure_openai: the dated API version (else the v1 API)
    headers: Mapping[str, str] = field(default_factory=dict)
    quirks: frozenset[str] = frozenset()
    capabilities: frozenset[str] = frozenset({"vision", "streaming"})
    options: Mapping[str, Any] = field(default_factory=dict)
    # The HTTP proxy for this provider's calls: the table's own ``proxy`` (``""``: none),
    # else from HTTPS_PROXY / HTTP_PROXY / NO_PROXY (core/proxies.py). May hold credentials.
    proxy: str | None = field(default=None, repr=False)

    @property
    def configured(self) -> bool:
        # options.auth = "none": a server that needs no key (a private vLLM, say).
        return self.kind == "local" or bool(self.api_key) or self.options.get("auth") == "none"


@dataclass(frozen=True, slots=True)
class ModelEntry:
    """One model id the gateway serves.

    ``retired`` is the provider's shutdown date (ISO): past, the model is gone upstream;
    future, the shutdown is announced. ``successor`` names the catalog entry to go to
    instead (an upstream name outside the catalog is accepted for operators' own tables).
    Prices are None where the provider's page did not publish one; ``source`` and
    ``as_of`` say where the entry's facts were read, and when.
    """

    id: str
    provider: str
    upstream: str
    image: ImageLimits
    context_window: int = 0
    max_output_tokens: int = 4096
    price_input: float | None = None
    price_output: float | None = None
    capabilities: frozenset[str] = frozenset()
    retired: str | None = None
    successor: str | None = None
    aliases: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)
    pdf_native: bool = False
    source: str | None = None
    as_of: str | None = None
    cache: CacheConfig | None = None

    def cost_usd(self, prompt_tokens: int, completion_tokens: int) -> float:
        """USD for a request; an unpublished price counts as 0 (and the card says null)."""
        price_in = self.price_input or 0.0
        price_out = self.price_output or 0.0
        return (prompt_tokens * price_in + completion_tokens * price_out) / 1e6

    def supports(self, capability: str) -> bool:
        return capability in self.capabilities

    def retired_on(self, day: date) -> bool:
        """Whether the provider's shutdown date has come by ``day``."""
        return self.retired is not None and date.fromisoformat(self.retired) <= day

    @property
    def input_modalities(self) -> list[str]:
        """What a request may carry, as OpenAI's model list names it: ``file`` where the
        provider reads PDFs itself."""
        return ["text", "image", "file"] if self.pdf_native else ["text", "image"]


@dataclass(frozen=True, slots=True)
class Catalog:
    providers: Mapping[str, ProviderEntry]
    models: Mapping[str, ModelEntry]
    aliases: Mapping[str, str]
    routes: Mapping[str, Route] = field(default_factory=dict)

    def resolve(self, model_id: str) -> ModelEntry | None:
        """The entry for an id or alias, or None."""
        entry = self.models.get(model_id)
        if entry is None:
            target = self.aliases.get(model_id)
            entry = self.models.get(target) if target else None
        return entry

    def provider_of(self, entry: ModelEntry) -> ProviderEntry:
        return self.providers[entry.provider]

    def successor_chain(self, entry: ModelEntry) -> list[ModelEntry]:
        """The catalog entries ``entry``'s successors lead to, in order (empty without one).

        A successor is followed while it is itself a catalog entry with a successor, so a
        model retired twice over still lands on the last one named. A successor that is
        not a catalog id (an upstream name in an operator's table) ends the chain.
        """
        chain: list[ModelEntry] = []
        seen = {entry.id}
        current = entry
        while current.successor and current.successor in self.models:
            if current.successor in seen:
                raise ValueError(f"model {entry.id!r}: successors loop at {current.successor!r}")
            current = self.models[current.successor]
            seen.add(current.id)
            chain.append(current)
        return chain


_LIMIT_FIELDS = {f.name for f in fields(ImageLimits)}
_MODEL_KEYS = {f.name for f in fields(ModelEntry)} | {"image_profile", "like"}
# Keys ``like`` does not copy: another entry's aliases would move to the new one.
_NOT_ALIKE = frozenset({"aliases", "like"})
_PROVIDER_KEYS = {f.name for f in fields(ProviderEntry)}


def merge_tables(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` laid on ``base`` key by key, recursing into tables (config over the catalog)."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = merge_tables(out[key], value)
        else:
            out[key] = value
    return out


def _limits(raw: Mapping[str, Any], where: str) -> ImageLimits:
    unknown = set(raw) - _LIMIT_FIELDS
    if unknown:
        raise ValueError(f"{where}: unknown image limit keys {sorted(unknown)}")
    values = dict(raw)
    if "formats" in values:
        values["formats"] = frozenset(str(f).lower() for f in values["formats"])
    return ImageLimits(**values)


def _provider(name: str, raw: Mapping[str, Any], environ: Mapping[str, str]) -> ProviderEntry:
    unknown = set(raw) - _PROVIDER_KEYS
    if unknown:
        raise ValueError(f"provider {name!r}: unknown keys {sorted(unknown)}")
    values = dict(raw)
    values["name"] = name
    values.setdefault("kind", "openai")
    if values.get("base_url_env") and environ.get(values["base_url_env"]):
        values["base_url"] = environ[values["base_url_env"]]
    values["base_url"] = str(values.get("base_url", "")).rstrip("/")
    if values.get("api_key_env") and environ.get(values["api_key_env"]):
        values["api_key"] = environ[values["api_key_env"]]
    values["quirks"] = frozenset(values.get("quirks", ()))
    values["capabilities"] = frozenset(values.get("capabilities", ("vision", "streaming")))
    values["headers"] = dict(values.get("headers", {}))
    if "proxy" not in values:
        values["proxy"] = proxy_for(values["base_url"], environ)
    values["proxy"] = values["proxy"] or None
    return ProviderEntry(**values)


def _model(
    model_id: str,
    raw: Mapping[str, Any],
    profiles: Mapping[str, Any],
    providers: Mapping[str, ProviderEntry],
) -> ModelEntry:
    unknown = set(raw) - _MODEL_KEYS
    if unknown:
        raise ValueError(f"model {model_id!r}: unknown keys {sorted(unknown)}")
    values = dict(raw)
    provider = values.get("provider")
    if not isinstance(provider, str) or provider not in providers:
        raise ValueError(f"model {model_id!r}: unknown provider {provider!r}")
    profile_name = values.pop("image_profile", None)
    profile = profiles.get(profile_name, {}) if profile_name else {}
    if profile_name and profile_name not in profiles:
        raise ValueError(f"model {model_id!r}: unknown image_profile {profile_name!r}")
    values["image"] = _limits(merge_tables(profile, values.get("image", {})), f"model {model_id!r}")
    values["id"] = model_id
    values.setdefault("upstream", model_id)
    caps = values.get("capabilities")
    values["capabilities"] = frozenset(
        caps if caps is not None else providers[provider].capabilities
    )
    values["aliases"] = tuple(values.get("aliases", ()))
    if "cache" in values:
        values["cache"] = cache_config(values["cache"], f"model {model_id!r}")
    for key in ("retired", "successor", "as_of"):
        if values.get(key) == "":
            values[key] = None  # a config's way to clear a shipped value
    for key in ("retired", "as_of"):
        if values.get(key) is not None:
            values[key] = _iso_date(values[key], f"model {model_id!r}: {key}")
    return ModelEntry(**values)


def _iso_date(value: Any, where: str) -> str:
    """``value`` as an ISO date string (TOML may give a quoted string or a date)."""
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise ValueError(f"{where}: {value!r} is not an ISO date (YYYY-MM-DD)") from None


def load_catalog(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> Catalog:
    """Build the catalog from the shipped TOML, the operator's overrides and the environment.

    Raises ValueError naming the entry when a table has unknown keys or references a
    provider or image profile that does not exist: a typo in config must fail loudly.
    """
    text = resources.files("visiongate").joinpath("data/models.toml").read_text("utf-8")
    data = merge_tables(tomllib.loads(text), overrides or {})
    env = environ if environ is not None else {}
    providers = {n: _provider(n, raw, env) for n, raw in data.get("providers", {}).items()}
    profiles = data.get("image_profiles", {})
    tables = data.get("models", {})
    models = {
        mid: _model(mid, _alike(mid, tables, providers), profiles, providers) for mid in tables
    }
    aliases: dict[str, str] = {}
    for entry in models.values():
        for alias in entry.aliases:
            aliases[alias] = entry.id
    routes = parse_routes(data.get("routes", {}), models.keys() | aliases.keys())
    return Catalog(providers=providers, models=models, aliases=aliases, routes=routes)


def _alike(
    model_id: str, tables: Mapping[str, Any], providers: Mapping[str, ProviderEntry]
) -> Mapping[str, Any]:
    """The model's table with what ``like`` names laid under it (recursively: the named
    entry may itself be ``like`` another). Nested tables (``image``) merge key by key.
    The named entry's upstream name and capabilities come too, also where they are its
    defaults (its id, its provider's capabilities): a second deployment of gpt-4o is
    asked for gpt-4o and takes tools as gpt-4o does.

    Raises ValueError for an unknown name or a cycle.
    """
    seen = [model_id]
    raw = tables[model_id]
    while "like" in raw:
        other = raw["like"]
        if other not in tables:
            raise ValueError(f"model {seen[0]!r}: like = {other!r} is not a catalog model")
        if other in seen:
            raise ValueError(f"model {seen[0]!r}: like forms a cycle through {other!r}")
        seen.append(other)
        base = {k: v for k, v in tables[other].items() if k not in _NOT_ALIKE}
        if "like" in tables[other]:
            base["like"] = tables[other]["like"]
        own = {k: v for k, v in raw.items() if k != "like"}
        raw = merge_tables(base, own)
    if len(seen) > 1:
        root = tables[seen[-1]]
        defaults: dict[str, Any] = {"upstream": seen[-1]}
        if root.get("provider") in providers:
            defaults["capabilities"] = sorted(providers[root["provider"]].capabilities)
        raw = {**defaults, **raw}
    return raw
