"""read_pdf, run in this process: what it returns and what it refuses."""

from __future__ import annotations

import io

import pypdfium2 as pdfium
import pytest
from PIL import Image

from tests.support.pdfs import (
    encrypted_pdf,
    many_pages_pdf,
    pdf,
    scanned_pdf,
    text_pdf,
)
from visiongate.documents.pdfium import Job, Refusal, RenderTarget, read_pdf, render_scale

THREE = text_pdf(["one alpha"], ["two beta"], ["three gamma"])
ANTHROPIC = RenderTarget(max_edge=1568, max_pixels=1_150_000)


def job(data: bytes, mode: str = "render", selection=None, **kw: object) -> Job:
    values = {"target": ANTHROPIC, "max_pages": 100, "bomb_pixels": 100_000_000, **kw}
    return Job(data=data, mode=mode, selection=selection, **values)  # type: ignore[arg-type]


def test_rendered_pages_come_with_their_text_in_order_and_fit_the_target() -> None:
    result = read_pdf(job(THREE))
    assert result.total_pages == 3
    assert [p.text for p in result.pages] == ["one alpha", "two beta", "three gamma"]
    for page in result.pages:
        assert page.format == "jpeg" and page.image is not None
        with Image.open(io.BytesIO(page.image)) as image:
            assert image.size == (page.width, page.height)
        assert max(page.width, page.height) <= 1568
        assert page.width * page.height <= 1_150_000
        assert page.height > page.width  # portrait stays portrait


def test_the_scale_is_the_tightest_of_dpi_edge_and_pixels() -> None:
    letter = (612.0, 792.0)
    assert render_scale(*letter, RenderTarget(max_dpi=72)) == 1.0
    assert render_scale(*letter, RenderTarget(max_edge=396)) == 0.5
    scale = render_scale(*letter, RenderTarget(max_pixels=612 * 792 // 4))
    assert abs(scale - 0.5) < 1e-9


def test_a_selection_picks_pages_and_native_writes_a_smaller_pdf() -> None:
    result = read_pdf(job(THREE, "native", ((2, 3),)))
    assert [p.number for p in result.pages] == [2, 3]
    assert all(p.image is None for p in result.pages)  # native: nothing drawn
    assert result.subset is not None
    doc = pdfium.PdfDocument(result.subset)
    assert [doc[i].get_textpage().get_text_range() for i in range(len(doc))] == [
        "two beta",
        "three gamma",
    ]
    whole = read_pdf(job(THREE, "native"))
    assert whole.subset is None  # every page: the client's file goes as it is


def test_text_mode_draws_only_pages_without_a_text_layer() -> None:
    from tests.support.pdfs import scan_jpeg

    mixed = pdf([["typed"], scan_jpeg(["scanned"])])
    result = read_pdf(job(mixed, "text", target=RenderTarget(max_edge=2048)))
    typed, scanned = result.pages
    assert typed.text == "typed" and typed.image is None
    assert scanned.text == "" and scanned.image is not None


def test_past_the_render_budget_pages_are_counted_not_drawn() -> None:
    result = read_pdf(job(THREE, max_render=1))
    assert len(result.pages) == 3 and all(p.image is None for p in result.pages)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (encrypted_pdf(), "password"),
        (THREE[: len(THREE) // 2], "damaged"),
        (b"%PDF-1.7 nothing else", "damaged"),
    ],
)
def test_unreadable_files_are_invalid_documents(data: bytes, words: str) -> None:
    with pytest.raises(Refusal) as info:
        read_pdf(job(data))
    assert info.value.code == "invalid_document" and words in info.value.message


def test_too_many_pages_and_a_page_past_the_end() -> None:
    with pytest.raises(Refusal) as info:
        read_pdf(job(many_pages_pdf(2500), "native"))
    assert info.value.code == "document_too_large" and "2500 page(s)" in info.value.message
    assert len(read_pdf(job(many_pages_pdf(2500), "native", ((7, 9),))).pages) == 3
    with pytest.raises(Refusal) as info:
        read_pdf(job(THREE, "native", ((2, 4),)))
    assert info.value.code == "invalid_request_error" and info.value.at == ".pages"


def test_a_page_too_large_to_draw_is_refused_before_drawing() -> None:
    huge = pdf([["x"]], size=(14400, 14400))
    with pytest.raises(Refusal) as info:
        read_pdf(job(huge))
    assert info.value.code == "document_too_large" and "Page 1" in info.value.message
    assert read_pdf(job(huge, "native")).pages[0].width_pt == 14400  # native: not drawn


def test_pages_are_png_for_a_model_that_takes_no_jpeg() -> None:
    only_png = RenderTarget(max_edge=800, formats=("png",))
    page = read_pdf(job(scanned_pdf(["x"]), target=only_png)).pages[0]
    assert page.format == "png" and page.image is not None
    assert page.image.startswith(b"\x89PNG")


def test_refusals_cross_a_process_boundary() -> None:
    import pickle

    refusal = pickle.loads(pickle.dumps(Refusal("document_too_large", "big", ".pages")))
    assert (refusal.code, refusal.message, refusal.at) == ("document_too_large", "big", ".pages")


def test_pages_keep_to_their_share_of_the_request_byte_cap() -> None:
    many = text_pdf(*[[f"line {i} " * 8 for i in range(40)]] * 4)
    free = read_pdf(job(many, target=RenderTarget(max_edge=1568)))
    biggest = max(len(p.image or b"") for p in free.pages)
    cap = biggest * 4 // 2  # half of what four pages take at quality 85
    tight = read_pdf(job(many, target=RenderTarget(max_edge=1568, max_request_bytes=cap)))
    assert sum(len(p.image or b"") for p in tight.pages) <= cap
    assert all(p.image and p.image.startswith(b"\xff\xd8") for p in tight.pages)
    tiny = read_pdf(job(many, target=RenderTarget(max_edge=1568, max_image_bytes=20_000)))
    for page in tiny.pages:  # past what quality alone can do: fewer pixels
        assert page.image is not None and len(page.image) <= 20_000
        assert page.width < free.pages[0].width
        with Image.open(io.BytesIO(page.image)) as image:
            assert image.size == (page.width, page.height)
