"""Which delivery a model gets: the provider's form, the catalog, the operator's setting."""

from __future__ import annotations

import pytest

from visiongate.core.catalog import load_catalog
from visiongate.documents import delivery

NATIVE, RENDER = True, False


@pytest.mark.parametrize(
    ("form", "native", "setting", "expected"),
    [
        ("native", NATIVE, "auto", "native"),
        ("native", RENDER, "auto", "render"),
        ("native", RENDER, "native", "native"),  # forced where the API has a PDF form
        ("native", NATIVE, "render", "render"),
        (None, NATIVE, "native", "render"),  # no PDF form: pages it is
        (None, RENDER, "auto", "render"),
        ("text", RENDER, "render", "text"),  # local/ocr reads pages itself
    ],
)
def test_delivery(form: str | None, native: bool, setting: str, expected: str) -> None:
    assert delivery(form, native, setting) == expected  # type: ignore[arg-type]


def test_the_catalog_marks_the_pdf_readers() -> None:
    catalog = load_catalog(environ={})
    native = sorted(m.id for m in catalog.models.values() if m.pdf_native)
    assert "gpt-4o" in native and "claude-3-5-sonnet-20241022" in native
    assert "gemini-1.5-pro" in native
    for model in ("gpt-4-turbo", "claude-3-haiku-20240307", "local/ocr"):
        assert model not in native
    assert not [m for m in native if catalog.models[m].provider in ("together", "local")]
    assert catalog.models["gemini-1.5-flash"].image.pdf_page_tokens == 258
