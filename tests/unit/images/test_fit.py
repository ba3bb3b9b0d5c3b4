"""Fitting images to a model: only when needed, and then correctly."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
from PIL import Image, ImageOps

from tests.support.images import make_image
from tests.unit.images.helpers import decode, photo
from visiongate.core.catalog import ImageLimits
from visiongate.errors import ImageError
from visiongate.images.fit import apply_fit, plan_fit, target_size
from visiongate.images.sniff import inspect_image, register_plugins

Limits = Callable[[str], ImageLimits]
PARAM = "messages[0].content[0].image_url.url"
CLAUDE = "claude-3-5-sonnet-20241022"


def fit(data: bytes, limits: ImageLimits, detail: str = "auto", many: bool = False):  # type: ignore[no-untyped-def]
    """Plan and apply like the pipeline does; returns (plan, fitted or None)."""
    info = inspect_image(data, PARAM, 100_000_000)
    plan = plan_fit(info, len(data), limits, detail=detail, many=many)
    return plan, (apply_fit(data, plan, PARAM) if plan else None)


def test_an_image_the_model_accepts_needs_no_plan(limits: Limits) -> None:
    for model_id in ("gpt-4o", CLAUDE, "gemini-1.5-pro", "local/ocr"):
        plan, _ = fit(make_image("JPEG", (800, 600)), limits(model_id))
        assert plan is None, model_id


def test_bmp_becomes_png_for_openai(limits: Limits) -> None:
    plan, fitted = fit(make_image("BMP", (120, 80)), limits("gpt-4o"))
    assert plan is not None and plan.reasons == ("format",)
    assert fitted is not None
    assert (fitted.format, fitted.width, fitted.height) == ("png", 120, 80)
    assert decode(fitted.data).format == "PNG"
    assert decode(fitted.data).getpixel((100, 70)) == (200, 30, 30)


def test_heic_and_avif_become_jpeg_for_anthropic(limits: Limits) -> None:
    register_plugins()
    for fmt in ("HEIF", "AVIF"):
        _, fitted = fit(photo((300, 200), fmt), limits(CLAUDE))
        assert fitted is not None
        assert (fitted.format, fitted.width, fitted.height) == ("jpeg", 300, 200)


def test_heic_goes_untouched_to_gemini_which_takes_it(limits: Limits) -> None:
    register_plugins()
    plan, _ = fit(photo((300, 200), "HEIF"), limits("gemini-1.5-pro"))
    assert plan is None


def test_anthropic_images_are_downscaled_before_the_provider_would(limits: Limits) -> None:
    plan, fitted = fit(photo((3000, 2000)), limits(CLAUDE))
    assert plan is not None and "size" in plan.reasons
    assert fitted is not None and fitted.format == "jpeg"
    assert max(fitted.width, fitted.height) <= 1568
    assert fitted.width * fitted.height <= 1_150_000
    assert abs(fitted.width / fitted.height - 1.5) < 0.01
    assert decode(fitted.data).size == (fitted.width, fitted.height)


def test_jpeg_may_decode_straight_to_a_dct_scale_just_under_the_target() -> None:
    _, fitted = fit(photo((4000, 3000)), ImageLimits(resize_edge=2048))
    assert fitted is not None
    assert (fitted.width, fitted.height) == (2000, 1500)  # 1/2 scale, no resample needed
    _, fitted = fit(photo((4000, 3000), "PNG"), ImageLimits(resize_edge=2048))
    assert fitted is not None and (fitted.width, fitted.height) == (2048, 1536)


def test_a_long_thin_image_is_limited_by_its_edge(limits: Limits) -> None:
    assert target_size(4000, 500, limits(CLAUDE)) == (1568, 196)


def test_low_detail_shrinks_for_every_provider(limits: Limits) -> None:
    data = photo((2000, 1000))
    for model_id, edge in (("gpt-4o", 512), (CLAUDE, 512), ("gemini-1.5-pro", 384)):
        plan, fitted = fit(data, limits(model_id), detail="low")
        assert plan is not None and fitted is not None
        # JPEG may decode straight to a DCT scale a few percent under the target.
        assert edge * 0.95 <= fitted.width <= edge, model_id
        assert fitted.height == round(fitted.width / 2), model_id


def test_many_images_use_the_smaller_edge() -> None:
    limits = ImageLimits(max_edge=8000, many_images=20, many_images_max_edge=2000)
    assert target_size(5000, 2500, limits) == (5000, 2500)
    assert target_size(5000, 2500, limits, many=True) == (2000, 1000)


def test_pixel_budget_is_never_exceeded() -> None:
    limits = ImageLimits(max_pixels=1_000_003)
    width, height = target_size(3333, 2221, limits)
    assert width * height <= 1_000_003
    assert width * height > 990_000


def test_small_images_are_never_enlarged() -> None:
    assert target_size(10, 10, ImageLimits(resize_edge=2048, max_pixels=100)) == (10, 10)


def test_over_the_byte_cap_the_image_is_reencoded_until_it_fits() -> None:
    limits = ImageLimits(max_image_bytes=40_000)
    data = photo((900, 700), "PNG")
    assert len(data) > 40_000
    plan, fitted = fit(data, limits)
    assert plan is not None and plan.reasons == ("bytes",)
    assert fitted is not None and len(fitted.data) <= 40_000
    assert fitted.format == "jpeg"  # a lossless photo will not fit as PNG


def test_png_only_models_shrink_in_pixels_to_fit() -> None:
    limits = ImageLimits(formats=frozenset({"png"}), max_image_bytes=60_000)
    _, fitted = fit(photo((600, 600), "PNG"), limits)
    assert fitted is not None and fitted.format == "png"
    assert len(fitted.data) <= 60_000
    assert fitted.width < 600


def test_an_impossible_byte_cap_is_image_too_large() -> None:
    limits = ImageLimits(formats=frozenset({"png"}), max_image_bytes=20)
    with pytest.raises(ImageError) as info:
        fit(photo((400, 400), "PNG"), limits)
    assert (info.value.code, info.value.param) == ("image_too_large", PARAM)


def _animated_gif() -> bytes:
    frames = [Image.new("RGB", (60, 40), color) for color in ((255, 0, 0), (0, 255, 0))]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=80, loop=0)
    return buf.getvalue()


def test_an_animated_gif_becomes_its_first_frame_for_gemini(limits: Limits) -> None:
    plan, fitted = fit(_animated_gif(), limits("gemini-1.5-pro"))
    assert plan is not None and set(plan.reasons) == {"format", "frames"}
    assert fitted is not None and fitted.format == "png"
    image = decode(fitted.data)
    assert getattr(image, "n_frames", 1) == 1
    assert image.convert("RGB").getpixel((30, 20)) == (255, 0, 0)


def test_an_animated_gif_is_first_framed_for_openai_but_kept_for_anthropic(limits: Limits) -> None:
    plan, _ = fit(_animated_gif(), limits("gpt-4o"))
    assert plan is not None and plan.reasons == ("frames",)
    plan, _ = fit(_animated_gif(), limits(CLAUDE))
    assert plan is None


def _oriented_jpeg(orientation: int) -> bytes:
    """Left half red, right half blue, stored sideways with an EXIF orientation tag."""
    image = Image.new("RGB", (200, 100), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 100, 100))
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    image.save(buf, "JPEG", exif=exif, quality=95)
    return buf.getvalue()


def test_exif_orientation_is_applied_when_reencoding() -> None:
    data = _oriented_jpeg(6)  # displayed rotated 90 degrees clockwise
    limits = ImageLimits(formats=frozenset({"png", "jpeg"}), max_image_bytes=len(data) - 1)
    _, fitted = fit(data, limits)
    assert fitted is not None
    assert (fitted.width, fitted.height) == (100, 200)
    out = decode(fitted.data)
    assert 0x0112 not in out.getexif()  # not rotated twice by the provider
    top, bottom = out.getpixel((50, 20)), out.getpixel((50, 180))
    assert top[0] > 200 and top[2] < 60  # red on top
    assert bottom[2] > 200 and bottom[0] < 60
    expected = ImageOps.exif_transpose(decode(data))
    assert expected is not None and expected.size == out.size


def test_exif_orientation_is_left_alone_when_untouched(limits: Limits) -> None:
    plan, _ = fit(_oriented_jpeg(6), limits("gpt-4o"))
    assert plan is None


def test_alpha_is_kept_as_png_and_flattened_for_jpeg_only_models() -> None:
    data = photo((300, 300), "PNG", alpha=True)
    _, fitted = fit(data, ImageLimits(resize_edge=100))
    assert fitted is not None and fitted.format == "png"
    assert decode(fitted.data).mode == "RGBA"
    _, fitted = fit(data, ImageLimits(formats=frozenset({"jpeg"}), resize_edge=100))
    assert fitted is not None and fitted.format == "jpeg"
    assert decode(fitted.data).mode == "RGB"


def test_cmyk_jpeg_is_converted_to_rgb() -> None:
    buf = io.BytesIO()
    Image.new("CMYK", (400, 300), (0, 255, 255, 0)).save(buf, "JPEG")
    _, fitted = fit(buf.getvalue(), ImageLimits(resize_edge=200))
    assert fitted is not None
    assert decode(fitted.data).mode == "RGB"
    red, green, blue = decode(fitted.data).getpixel((100, 75))
    assert red > 200 and green < 60 and blue < 60


def test_16_bit_greyscale_keeps_its_contrast_in_8_bit_output() -> None:
    wide = Image.linear_gradient("L").resize((300, 200)).convert("I").point(lambda v: v * 257)
    buf = io.BytesIO()
    wide.convert("I;16").save(buf, "PNG")
    _, fitted = fit(buf.getvalue(), ImageLimits(formats=frozenset({"jpeg"})))
    assert fitted is not None
    low, high = decode(fitted.data).getextrema()
    assert low < 10 and high > 245  # not clipped to white


def test_lab_channels_are_not_mistaken_for_alpha() -> None:
    buf = io.BytesIO()
    Image.new("RGB", (120, 80), (200, 30, 30)).convert("LAB").save(buf, "TIFF")
    _, fitted = fit(buf.getvalue(), ImageLimits(formats=frozenset({"png"})))
    assert fitted is not None and decode(fitted.data).mode == "RGB"


def test_corrupt_pixel_data_is_refused_when_reencoding(limits: Limits) -> None:
    data = photo((3000, 2000))
    truncated = data[: len(data) // 2]
    with pytest.raises(ImageError) as info:
        fit(truncated, limits(CLAUDE))
    assert (info.value.code, info.value.param) == ("invalid_image", PARAM)
