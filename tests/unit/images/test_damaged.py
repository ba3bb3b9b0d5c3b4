"""Damaged bytes of every format give an ImageError or a valid result, never a crash."""

from __future__ import annotations

import random

import pytest

from tests.unit.images.helpers import photo
from visiongate.core.catalog import ImageLimits
from visiongate.errors import ImageError
from visiongate.images.fit import apply_fit, plan_fit
from visiongate.images.sniff import check_complete, inspect_image, register_plugins

FORMATS = ["JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF", "HEIF", "AVIF"]
# One model that forwards everything it can, one that must convert and shrink everything.
KEEP = ImageLimits(formats=frozenset({"jpeg", "png", "gif", "webp", "bmp", "tiff", "heic", "avif"}))
CONVERT = ImageLimits(formats=frozenset({"jpeg"}), resize_edge=40)


def _damaged(data: bytes, rng: random.Random) -> bytes:
    if rng.random() < 0.5:
        return data[: rng.randrange(0, len(data))]
    out = bytearray(data)
    for _ in range(rng.randrange(1, 6)):
        out[rng.randrange(len(out))] = rng.randrange(256)
    return bytes(out)


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow narrates damaged TIFF tags
@pytest.mark.parametrize("fmt", FORMATS)
def test_damaged_images_fail_cleanly(fmt: str) -> None:
    register_plugins()
    original = photo((96, 64), fmt)
    rng = random.Random(fmt)
    for _ in range(60):
        data = _damaged(original, rng)
        for limits in (KEEP, CONVERT):
            try:
                info = inspect_image(data, "p", 10_000_000)
                plan = plan_fit(info, len(data), limits)
                if plan is None:
                    check_complete(data, info, "p")
                else:
                    apply_fit(data, plan, "p")
            except ImageError as exc:
                assert exc.code in ("invalid_image", "image_too_large")
                assert exc.param == "p"
