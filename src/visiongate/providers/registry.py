"""Provider kind → adapter class. Imported lazily so an unused adapter costs nothing."""

from __future__ import annotations

from importlib import import_module

from visiongate.core.catalog import Catalog
from visiongate.providers.base import Provider
from visiongate.settings import Settings

__all__ = ["build_providers"]

_KINDS = {
    "openai": "visiongate.providers.openai:OpenAIProvider",
    "azure_openai": "visiongate.providers.azure_openai:AzureOpenAIProvider",
    "anthropic": "visiongate.providers.anthropic:AnthropicProvider",
    "google": "visiongate.providers.gemini:GeminiProvider",
    "local": "visiongate.providers.local:LocalProvider",
}


def provider_class(kind: str) -> type[Provider]:
    try:
        module, _, name = _KINDS[kind].partition(":")
    except KeyError:
        raise ValueError(
            f"unknown provider kind {kind!r}; expected one of {sorted(_KINDS)}"
        ) from None
    return getattr(import_module(module), name)


def build_providers(catalog: Catalog, settings: Settings) -> dict[str, Provider]:
    """One adapter instance per configured provider account (others stay listed, unavailable)."""
    return {
        name: provider_class(entry.kind)(entry, settings)
        for name, entry in catalog.providers.items()
        if entry.configured
    }
