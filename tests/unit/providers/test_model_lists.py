"""The model-list page parsers: each provider's shape in, ids and the next cursor out."""

from __future__ import annotations

import pytest

from visiongate.providers.model_lists import (
    ListedModel,
    ListError,
    from_anthropic_page,
    from_gemini_page,
    from_openai_page,
)


def test_openai_object_list() -> None:
    body = {"object": "list", "data": [{"id": "gpt-5.5", "object": "model", "created": 1}]}
    page = from_openai_page(body)
    assert page.models == [ListedModel("gpt-5.5", None)] and page.cursor is None


def test_openai_paged_list_and_together_array() -> None:
    paged = from_openai_page({"data": [{"id": "a"}], "has_more": True, "last_id": "a"})
    assert paged.cursor == "a"
    array = from_openai_page([{"id": "meta-llama/Llama-4-Scout-17B-16E-Instruct", "type": "chat"}])
    assert array.models[0].id.endswith("Scout-17B-16E-Instruct") and array.cursor is None


def test_openrouter_modalities() -> None:
    body = {
        "data": [
            {
                "id": "qwen/qwen2.5-vl-72b-instruct",
                "architecture": {"input_modalities": ["text", "image"]},
            },
            {"id": "acme/text", "architecture": {"input_modalities": ["text"]}},
        ]
    }
    assert [m.vision for m in from_openai_page(body).models] == [True, False]


def test_anthropic_pages() -> None:
    body = {"data": [{"type": "model", "id": "claude-opus-5-5"}], "has_more": True,
            "first_id": "claude-opus-5-5", "last_id": "claude-opus-5-5"}  # fmt: skip
    page = from_anthropic_page(body)
    assert page.cursor == "claude-opus-5-5"
    assert from_anthropic_page({**body, "has_more": False}).cursor is None


def test_gemini_pages_drop_models_that_cannot_chat() -> None:
    body = {
        "models": [
            {"name": "models/gemini-3.8-flash", "supportedGenerationMethods": ["generateContent"]},
            {"name": "models/text-embedding-004", "supportedGenerationMethods": ["embedContent"]},
        ],
        "nextPageToken": "t2",
    }
    page = from_gemini_page(body)
    assert [m.id for m in page.models] == ["gemini-3.8-flash"] and page.cursor == "t2"
    assert from_gemini_page({"models": []}).cursor is None


@pytest.mark.parametrize(
    ("parse", "body"),
    [
        (from_openai_page, {"error": {"message": "no"}}),
        (from_openai_page, {"data": [{"name": "x"}]}),
        (from_anthropic_page, []),
        (from_gemini_page, "models"),
        (from_gemini_page, {"models": [{"displayName": "x"}]}),
    ],
)
def test_bodies_that_are_not_lists_are_refused(parse, body) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ListError):
        parse(body)
