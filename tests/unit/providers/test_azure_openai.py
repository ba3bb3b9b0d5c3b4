"""The Azure OpenAI adapter's URLs and auth headers (the wire itself is proven end to end
against ``tests/fakes/azure_upstream.py``)."""

from __future__ import annotations

import pytest

from visiongate.core.catalog import ProviderEntry
from visiongate.providers.azure_openai import AzureOpenAIProvider, azure_url
from visiongate.settings import Settings

ENDPOINT = "https://res.openai.azure.com"


def test_dated_style_names_the_deployment_in_the_path() -> None:
    assert azure_url(ENDPOINT, "gpt 4o/prod", "2024-10-21") == (
        f"{ENDPOINT}/openai/deployments/gpt%204o%2Fprod/chat/completions?api-version=2024-10-21"
    )


def test_v1_style_without_an_api_version() -> None:
    assert azure_url(ENDPOINT, "gpt-4o-prod", None) == f"{ENDPOINT}/openai/v1/chat/completions"


@pytest.mark.parametrize(
    ("options", "headers"),
    [
        ({}, {"api-key": "k-123"}),
        ({"auth": "bearer"}, {"Authorization": "Bearer k-123"}),
    ],
)
def test_api_key_or_bearer_never_both(options: dict[str, str], headers: dict[str, str]) -> None:
    entry = ProviderEntry("az", "azure_openai", ENDPOINT, api_key="k-123", options=options)
    assert AzureOpenAIProvider(entry, Settings())._headers == headers


def test_unknown_auth_fails_at_start_up() -> None:
    entry = ProviderEntry("az", "azure_openai", ENDPOINT, api_key="k", options={"auth": "none"})
    with pytest.raises(ValueError, match="'api-key' or 'bearer'"):
        AzureOpenAIProvider(entry, Settings())
