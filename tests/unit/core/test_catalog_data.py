"""The shipped catalog as data: every entry sourced and dated, limits that agree with each
other, successors that lead somewhere alive, and the original ids all still there."""

from __future__ import annotations

from datetime import date
from urllib.parse import urlsplit

import pytest

from visiongate.core.catalog import Catalog, ModelEntry, load_catalog

CATALOG = load_catalog(environ={})
ENTRIES = list(CATALOG.models.values())
IDS = [m.id for m in ENTRIES]

# The ids of the original service's list: clients still send them, so none may go.
ORIGINAL = {
    "gpt-4o", "gpt-4o-2024-08-06", "gpt-4o-2024-05-13", "gpt-4o-mini",
    "gpt-4o-mini-2024-07-18", "gpt-4-turbo", "gpt-4-turbo-2024-04-09", "chatgpt-4o-latest",
    "claude-3-5-sonnet-latest", "claude-3-5-sonnet-20241022", "claude-3-5-sonnet-20240620",
    "claude-3-5-haiku-latest", "claude-3-5-haiku-20241022", "claude-3-haiku-latest",
    "claude-3-haiku-20240307", "claude-3-opus-latest", "claude-3-opus-20240229",
    "claude-3-sonnet-latest", "claude-3-sonnet-20240229", "gemini-1.5-flash",
    "gemini-1.5-pro", "gemini-2.0-flash-exp",
    "meta-llama/Llama-3.2-90B-Vision-Instruct-Turbo",
    "meta-llama/Llama-3.2-11B-Vision-Instruct-Turbo", "meta-llama/Llama-Vision-Free",
    "meta-llama/Llama-Guard-3-11B-Vision-Turbo", "MiniMax-Text-01", "abab6.5s-chat",
    "qwen/qvq-72b-preview",
}  # fmt: skip

# The day the catalog was last checked against the providers' pages; the successor test
# judges retirements as of this day, not the clock, so it keeps meaning the same thing.
CHECKED = date(2026, 12, 7)


def test_every_original_id_is_kept() -> None:
    assert len(ORIGINAL) == 29
    assert set(IDS) >= ORIGINAL


def test_each_hosted_provider_has_a_model_served_now() -> None:
    alive = {m.provider for m in ENTRIES if not m.retired_on(CHECKED)}
    assert {"openai", "anthropic", "google", "together", "openrouter", "minimax"} <= alive


@pytest.mark.parametrize("model_id", IDS)
def test_entry_has_a_source_and_a_date(model_id: str) -> None:
    entry = CATALOG.models[model_id]
    assert entry.source is not None and entry.as_of is not None
    url = urlsplit(entry.source)
    assert url.scheme == "https" and url.netloc
    read = date.fromisoformat(entry.as_of)
    assert date(2024, 1, 1) <= read <= CHECKED


@pytest.mark.parametrize("model_id", IDS)
def test_limits_are_consistent(model_id: str) -> None:
    entry = CATALOG.models[model_id]
    image = entry.image
    assert image.max_images >= 1
    assert image.max_image_bytes > 0
    assert image.max_request_image_bytes >= image.max_image_bytes
    if image.max_edge and image.resize_edge:
        assert image.resize_edge <= image.max_edge
    if image.many_images_max_edge and image.max_edge:
        assert image.many_images_max_edge <= image.max_edge
    assert image.formats and {"jpeg", "png"} <= image.formats
    assert entry.max_output_tokens >= 1 and entry.context_window >= 0
    if entry.context_window:
        assert entry.max_output_tokens <= entry.context_window
    for price in (entry.price_input, entry.price_output):
        assert price is None or price >= 0
    if entry.retired:
        date.fromisoformat(entry.retired)


def _chain_end(catalog: Catalog, entry: ModelEntry) -> ModelEntry:
    chain = catalog.successor_chain(entry)
    return chain[-1] if chain else entry


@pytest.mark.parametrize("model_id", [m.id for m in ENTRIES if m.successor])
def test_successors_are_catalog_models_that_end_alive(model_id: str) -> None:
    entry = CATALOG.models[model_id]
    assert entry.retired is not None, "a successor only makes sense for a retirement"
    assert entry.successor in CATALOG.models
    end = _chain_end(CATALOG, entry)
    assert end.provider == entry.provider
    assert not end.retired_on(CHECKED), f"{model_id} ends at {end.id}, shut down {end.retired}"
    assert end.successor is None


@pytest.mark.parametrize("model_id", [m.id for m in ENTRIES if m.retired_on(CHECKED)])
def test_every_retired_model_has_a_successor(model_id: str) -> None:
    assert CATALOG.models[model_id].successor


def test_chain_is_judged_by_the_date_given() -> None:
    entry = CATALOG.models["gemini-1.5-pro"]
    end = _chain_end(CATALOG, entry)
    assert [m.id for m in CATALOG.successor_chain(entry)] == ["gemini-2.5-pro", end.id]
    middle = CATALOG.models["gemini-2.5-pro"]
    assert middle.retired is not None
    shutdown = date.fromisoformat(middle.retired)
    assert not middle.retired_on(date.fromordinal(shutdown.toordinal() - 1))
    assert middle.retired_on(shutdown)


def test_input_modalities_follow_pdf_support() -> None:
    assert CATALOG.models["claude-opus-5-5"].input_modalities == ["text", "image", "file"]
    assert CATALOG.models["qwen/qvq-72b-preview"].input_modalities == ["text", "image"]


def test_a_successor_loop_is_refused() -> None:
    overrides = {
        "models": {
            "gpt-4o": {"retired": "2026-01-01", "successor": "gpt-4o-mini"},
            "gpt-4o-mini": {"retired": "2026-01-01", "successor": "gpt-4o"},
        }
    }
    catalog = load_catalog(overrides, environ={})
    with pytest.raises(ValueError, match="loop"):
        catalog.successor_chain(catalog.models["gpt-4o"])


def test_an_upstream_name_as_successor_ends_the_chain() -> None:
    overrides = {"models": {"gpt-4o": {"retired": "2026-01-01", "successor": "gpt-9-private"}}}
    catalog = load_catalog(overrides, environ={})
    assert catalog.successor_chain(catalog.models["gpt-4o"]) == []


@pytest.mark.parametrize("key", ["retired", "as_of"])
def test_a_date_that_is_not_iso_is_refused(key: str) -> None:
    with pytest.raises(ValueError, match="not an ISO date"):
        load_catalog({"models": {"gpt-4o": {key: "next spring"}}}, environ={})


def test_an_empty_retired_clears_a_shipped_one() -> None:
    catalog = load_catalog({"models": {"chatgpt-4o-latest": {"retired": ""}}}, environ={})
    assert catalog.models["chatgpt-4o-latest"].retired is None
