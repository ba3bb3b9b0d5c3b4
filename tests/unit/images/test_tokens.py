"""Image token estimates, checked against the providers' published worked examples."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from visiongate.core.catalog import ImageLimits
from visiongate.core.messages import ImagePart
from visiongate.images.tokens import UNKNOWN_EDGE, estimate_image_tokens, image_tokens

Limits = Callable[[str], ImageLimits]


def part(width: int, height: int, detail: str = "auto") -> ImagePart:
    return ImagePart(param="p", detail=detail, width=width, height=height)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("size", "tokens"),
    [
        ((1024, 1024), 765),  # 4 tiles: the OpenAI guide's example
        ((2048, 4096), 1105),  # -> 768x1536, 6 tiles
        ((128, 64), 255),  # small images are not enlarged: 1 tile
        ((4096, 8192), 1105),  # fit in 2048 first
        ((512, 512), 255),
    ],
)
def test_openai_tiles(limits: Limits, size: tuple[int, int], tokens: int) -> None:
    assert estimate_image_tokens(part(*size), limits("gpt-4o")) == tokens


def test_openai_low_detail_is_the_base_cost(limits: Limits) -> None:
    assert estimate_image_tokens(part(4000, 3000, "low"), limits("gpt-4o")) == 85


def test_gpt_4o_mini_uses_its_own_tile_prices(limits: Limits) -> None:
    assert estimate_image_tokens(part(1024, 1024), limits("gpt-4o-mini")) == 2833 + 4 * 5667
    assert estimate_image_tokens(part(10, 10, "low"), limits("gpt-4o-mini")) == 2833


@pytest.mark.parametrize(
    ("size", "tokens"),
    [((1000, 1000), 1334), ((200, 200), 54), ((1092, 1092), 1590), ((784, 1568), 1640)],
)
def test_anthropic_pixels_over_750(limits: Limits, size: tuple[int, int], tokens: int) -> None:
    assert estimate_image_tokens(part(*size), limits("claude-3-5-sonnet-20241022")) == tokens


def test_anthropic_counts_the_image_after_its_own_downscale(limits: Limits) -> None:
    tokens = estimate_image_tokens(part(4000, 3000), limits("claude-3-5-sonnet-20241022"))
    assert 1500 <= tokens <= 1534  # at most 1.15 MP / 750


@pytest.mark.parametrize(
    ("size", "tokens"),
    [
        ((960, 540), 6 * 258),  # unit 360 -> 3 x 2 tiles: the Gemini docs' example
        ((384, 384), 258),
        ((300, 200), 258),
        ((385, 100), 2 * 258),  # unit clamped to 256 px
    ],
)
def test_gemini_tiles(limits: Limits, size: tuple[int, int], tokens: int) -> None:
    assert estimate_image_tokens(part(*size), limits("gemini-1.5-flash")) == tokens


@pytest.mark.parametrize(
    ("size", "tokens"), [((500, 400), 1601), ((1000, 400), 3202), ((3000, 3000), 6404)]
)
def test_llama_tiles(limits: Limits, size: tuple[int, int], tokens: int) -> None:
    model_id = "meta-llama/Llama-3.2-11B-Vision-Instruct-Turbo"
    assert estimate_image_tokens(part(*size), limits(model_id)) == tokens


def test_local_models_count_no_image_tokens(limits: Limits) -> None:
    assert estimate_image_tokens(part(1000, 1000), limits("local/ocr")) == 0


def test_an_image_of_unknown_size_uses_the_documented_default(limits: Limits) -> None:
    unknown = ImagePart(param="p", url="https://example.com/a.jpg")
    gpt = limits("gpt-4o")
    assert estimate_image_tokens(unknown, gpt) == image_tokens(gpt, UNKNOWN_EDGE, UNKNOWN_EDGE)
    assert estimate_image_tokens(unknown, gpt) == 765
    unknown.detail = "low"
    assert estimate_image_tokens(unknown, gpt) == 85


def test_an_unknown_formula_is_a_loud_error() -> None:
    with pytest.raises(ValueError, match="formula"):
        image_tokens(ImageLimits(token_formula="magic"), 10, 10)
