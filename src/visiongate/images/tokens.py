"""Image token estimates, one published formula per provider family.

Used for pre-flight rate limits and for models that report no usage (local ones). The
formula is data on the model (``ImageLimits.token_formula``), not a provider check here.
The size used is the image as sent upstream (after fitting). An http(s) image the
provider fetches itself has no known size: it is estimated as a square of
:data:`UNKNOWN_EDGE` pixels (1024, a typical web image; 765 tokens on gpt-4o).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from visiongate.core.catalog import ImageLimits
from visiongate.core.messages import ImagePart

__all__ = ["UNKNOWN_EDGE", "estimate_image_tokens", "image_tokens"]

UNKNOWN_EDGE = 1024
_ANTHROPIC_NO_RESIZE_PIXELS = 1568 * 784
_ANTHROPIC_TARGET_PIXELS = 1_150_000


def estimate_image_tokens(part: ImagePart, limits: ImageLimits) -> int:
    """Estimated prompt tokens of one image for a model with these limits."""
    width, height = part.width, part.height
    if width <= 0 or height <= 0:
        width = height = UNKNOWN_EDGE
        if part.detail == "low" and limits.low_detail_edge:
            width = height = min(UNKNOWN_EDGE, limits.low_detail_edge)
    return image_tokens(limits, width, height, low_detail=part.detail == "low")


def image_tokens(limits: ImageLimits, width: int, height: int, *, low_detail: bool = False) -> int:
    """Tokens of a ``width`` x ``height`` image under ``limits.token_formula``.

    Raises ValueError for a formula name this module does not know (a catalog typo).
    """
    formula = _FORMULAS.get(limits.token_formula)
    if formula is None:
        raise ValueError(f"unknown image token formula {limits.token_formula!r}")
    return formula(limits, width, height, low_detail)


def _openai_tiles(limits: ImageLimits, width: int, height: int, low: bool) -> int:
    """Fit inside 2048x2048, shrink the short side to 768, count 512 px tiles.

    ``low`` detail is the flat base cost. Neither step enlarges a small image.
    """
    if low:
        return limits.tile_base
    w, h = _shrink_to(width, height, 2048 / max(width, height))
    w, h = _shrink_to(w, h, 768 / min(w, h))
    tiles = math.ceil(w / 512) * math.ceil(h / 512)
    return limits.tile_base + tiles * limits.tile_tokens


def _anthropic(limits: ImageLimits, width: int, height: int, low: bool) -> int:
    """``w * h / 750`` after Anthropic's own downscale.

    Anthropic shrinks an image whose long edge passes 1568 px, then one still over
    about 1.2 MP (its largest no-resize sizes, 1092x1092 to 784x1568, stay under
    1568 * 784 pixels) to about 1.15 MP.
    """
    w, h = _shrink_to(width, height, 1568 / max(width, height))
    if w * h > _ANTHROPIC_NO_RESIZE_PIXELS:
        w, h = _shrink_to(w, h, math.sqrt(_ANTHROPIC_TARGET_PIXELS / (w * h)))
    return math.ceil(w * h / 750)


def _gemini_tiles(limits: ImageLimits, width: int, height: int, low: bool) -> int:
    """258 tokens when both sides are at most 384 px, else per tile of side
    ``min(w, h) / 1.5`` (clamped to 256-768 px)."""
    per_tile = limits.tile_tokens or 258
    if width <= 384 and height <= 384:
        return per_tile
    unit = min(768, max(256, math.floor(min(width, height) / 1.5)))
    return math.ceil(width / unit) * math.ceil(height / unit) * per_tile


def _llama_tiles(limits: ImageLimits, width: int, height: int, low: bool) -> int:
    """560 px tiles, at most 2 x 2 (Llama 3.2 Vision's four-chunk tiling)."""
    tiles = min(2, math.ceil(width / 560)) * min(2, math.ceil(height / 560))
    return tiles * limits.tile_tokens


def _none(limits: ImageLimits, width: int, height: int, low: bool) -> int:
    return 0


def _shrink_to(width: int, height: int, scale: float) -> tuple[int, int]:
    """Scale by ``scale`` if it shrinks the image; never enlarge."""
    if scale >= 1:
        return width, height
    return max(1, math.floor(width * scale)), max(1, math.floor(height * scale))


_FORMULAS: dict[str, Callable[[ImageLimits, int, int, bool], int]] = {
    "openai_tiles": _openai_tiles,
    "anthropic": _anthropic,
    "gemini_tiles": _gemini_tiles,
    "llama_tiles": _llama_tiles,
    "none": _none,
}
