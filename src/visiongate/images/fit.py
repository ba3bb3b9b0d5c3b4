"""Fit an image to what the target model accepts, re-encoding only when needed.

:func:`plan_fit` is pure and cheap: from the header facts (:class:`ImageInfo`), the byte
size and the model's :class:`ImageLimits` it decides whether the image can go upstream
untouched (None) or must be converted, first-framed, downscaled or shrunk in bytes.
:func:`apply_fit` does the CPU work and is meant to run in a worker thread.

Speed matters on this path (a 12 MP phone photo for Anthropic): JPEG is decoded at a
reduced DCT scale (``draft``) close to the target before any resampling, resampling uses
``reducing_gap`` (integer box reduction first, for large factors) and a Hamming filter,
and the EXIF orientation is applied after the resize, on the small image.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

from PIL import Image

from visiongate.core.catalog import ImageLimits
from visiongate.errors import ImageError
from visiongate.images.sniff import ImageInfo, register_plugins

__all__ = ["FitPlan", "Fitted", "apply_fit", "plan_fit", "target_size"]

_ENCODABLE = ("jpeg", "png", "webp")
_LOSSLESS_SOURCES = frozenset({"png", "gif", "bmp", "tiff"})
_PIL_SAVE = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}
_QUALITIES = (85, 75, 65)
_MAX_SHRINKS = 8
_DRAFT_SLACK = 0.95
# Hamming: an antialiased 1-support filter, as fast as bilinear (about 40% cheaper than
# bicubic for the typical 1.3-2x downscale after a JPEG draft) and sharper than it.
_RESAMPLE = Image.Resampling.HAMMING
_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
_HIGH_DEPTH = frozenset({"I", "F", "I;16", "I;16B", "I;16L", "I;16N"})
_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_EXIF_ORIENTATION = 0x0112


@dataclass(frozen=True, slots=True)
class FitPlan:
    """What to do to one image.

    ``size`` is the target in the file's stored orientation; ``formats`` the output
    formats the model accepts, in the gateway's order of preference; ``lossless``
    prefers PNG (the source was lossless); ``reasons`` says why (for logs and tests).
    """

    size: tuple[int, int]
    formats: tuple[str, ...]
    max_bytes: int
    lossless: bool
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Fitted:
    data: bytes
    format: str
    width: int
    height: int


def target_size(
    width: int, height: int, limits: ImageLimits, *, detail: str = "auto", many: bool = False
) -> tuple[int, int]:
    """The largest size within every edge and pixel limit that applies (never larger)."""
    edges = [limits.max_edge, limits.resize_edge]
    if many:
        edges.append(limits.many_images_max_edge)
    if detail == "low":
        edges.append(limits.low_detail_edge)
    edge = min((e for e in edges if e > 0), default=0)
    scale = min(1.0, edge / max(width, height)) if edge else 1.0
    if limits.max_pixels and width * height * scale * scale > limits.max_pixels:
        scale = math.sqrt(limits.max_pixels / (width * height))
    if scale >= 1.0:
        return width, height
    new_w = max(1, math.floor(width * scale + 1e-6))
    new_h = max(1, math.floor(height * scale + 1e-6))
    while limits.max_pixels and new_w * new_h > limits.max_pixels:
        if new_w >= new_h:
            new_w -= 1
        else:
            new_h -= 1
    return new_w, new_h


def plan_fit(
    info: ImageInfo, nbytes: int, limits: ImageLimits, *, detail: str = "auto", many: bool = False
) -> FitPlan | None:
    """None when the image already suits the model, else what to change."""
    reasons: list[str] = []
    if info.format not in limits.formats:
        reasons.append("format")
    if info.frames > 1 and not limits.animated:
        reasons.append("frames")
    size = target_size(info.width, info.height, limits, detail=detail, many=many)
    if size != (info.width, info.height):
        reasons.append("size")
    if limits.max_image_bytes and nbytes > limits.max_image_bytes:
        reasons.append("bytes")
    if not reasons:
        return None
    return make_plan(info, limits, size=size, reasons=tuple(reasons))


def make_plan(
    info: ImageInfo,
    limits: ImageLimits,
    *,
    size: tuple[int, int],
    reasons: tuple[str, ...],
    max_bytes: int = 0,
) -> FitPlan:
    """A plan to re-encode ``info`` at ``size`` within ``max_bytes`` (or the model's cap)."""
    formats = tuple(f for f in _ENCODABLE if f in limits.formats) or ("jpeg", "png")
    cap = max_bytes or limits.max_image_bytes
    lossless = info.format in _LOSSLESS_SOURCES
    return FitPlan(size=size, formats=formats, max_bytes=cap, lossless=lossless, reasons=reasons)


def apply_fit(data: bytes, plan: FitPlan, param: str) -> Fitted:
    """Decode the first frame, resize, orient and encode per ``plan``. CPU-bound.

    Raises ImageError ``invalid_image`` when the pixel data is corrupt or truncated and
    ``image_too_large`` when no encoding fits ``plan.max_bytes``.
    """
    register_plugins()
    try:
        with Image.open(io.BytesIO(data)) as src:
            orientation = _orientation(src)
            image = _decode_at(src, plan.size)
    except Image.DecompressionBombError as exc:
        raise ImageError(
            "The image has too many pixels to decode; send a smaller image.",
            code="invalid_image",
            param=param,
        ) from exc
    except (OSError, ValueError, SyntaxError, EOFError, IndexError, RuntimeError) as exc:
        raise ImageError(
            "The image data is corrupt or truncated and cannot be decoded; "
            "send the complete, undamaged file.",
            code="invalid_image",
            param=param,
        ) from exc
    try:
        if orientation in _ORIENTATION:
            image = image.transpose(_ORIENTATION[orientation])
        return _encode_within(image, plan, param)
    except (OSError, ValueError, RuntimeError) as exc:
        # A pixel layout Pillow decodes but cannot convert or encode (exotic TIFF modes).
        raise ImageError(
            f"The image's pixel format ({image.mode}) cannot be converted for this model; "
            "send it as an 8-bit RGB JPEG or PNG.",
            code="invalid_image",
            param=param,
        ) from exc


def _orientation(image: Image.Image) -> int:
    try:
        return int(image.getexif().get(_EXIF_ORIENTATION, 1))
    except (OSError, ValueError, SyntaxError, TypeError):
        return 1  # unreadable EXIF: keep the stored orientation


def _decode_at(src: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Decode frame 0 and downscale to ``size``, cheaply."""
    if src.size != size and src.format in ("JPEG", "MPO"):
        # libjpeg decodes at 1/2, 1/4 or 1/8 scale almost for free. Pillow picks the
        # smallest scale not below the target; allowing a result a few percent under the
        # target (still within every limit) often saves the resample altogether, e.g.
        # 4000x3000 for a 2048 px edge decodes straight to 2000x1500.
        src.draft(None, (math.ceil(size[0] * _DRAFT_SLACK), math.ceil(size[1] * _DRAFT_SLACK)))
    src.load()
    image = src
    if image.width <= size[0] and image.height <= size[1]:
        size = image.size
    if image.mode not in ("1", "L", "LA", "P", "PA", "RGB", "RGBA", "I;16"):
        image = _to_8bit(image) if image.mode in _HIGH_DEPTH else _to_rgb(image)
    if image.size != size:
        if image.mode in ("P", "PA", "1"):
            image = _to_rgb(image)
        image = image.resize(size, _RESAMPLE, reducing_gap=3.0)
    elif image is src:
        image = src.copy()  # detach from the file before it closes
    return image


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in _ALPHA_MODES or "transparency" in image.info


def _to_rgb(image: Image.Image) -> Image.Image:
    return image.convert("RGBA" if _has_alpha(image) else "RGB")


def _to_8bit(image: Image.Image) -> Image.Image:
    """16-bit, 32-bit integer or float greyscale as 8-bit ``L``, keeping the contrast.

    Pillow's plain conversion clips at 255, which turns a 16-bit scan white.
    """
    wide = image.convert("F")
    extrema = wide.getextrema()  # one band ("F"): (low, high) as floats
    low, high = float(extrema[0]), float(extrema[1])  # type: ignore[arg-type]
    if low >= 0 and high <= 255:
        return wide.convert("L")
    if image.mode.startswith("I;16") and low >= 0:
        low, high = 0.0, 65535.0
    scale = 255.0 / (high - low) if high > low else 1.0
    return wide.point(lambda value: (value - low) * scale).convert("L")


def _encode_within(image: Image.Image, plan: FitPlan, param: str) -> Fitted:
    """Encode, then lower quality, then shrink, until the bytes fit the plan."""
    order = ("png", "jpeg", "webp") if plan.lossless or _has_alpha(image) else _ENCODABLE
    fmt = next(f for f in (*order, *plan.formats) if f in plan.formats)
    icc = image.info.get("icc_profile")
    quality_steps = iter(_QUALITIES)
    quality = next(quality_steps)
    for _ in range(_MAX_SHRINKS + len(_QUALITIES) + 2):
        data = _encode(image, fmt, quality, icc)
        if not plan.max_bytes or len(data) <= plan.max_bytes:
            return Fitted(data=data, format=fmt, width=image.width, height=image.height)
        if fmt == "png" and "jpeg" in plan.formats:
            fmt = "jpeg"  # a lossless photo will not fit: trade exactness for size
            continue
        next_quality = next(quality_steps, None) if fmt != "png" else None
        if next_quality is not None:
            quality = next_quality
            continue
        width, height = max(1, image.width * 3 // 4), max(1, image.height * 3 // 4)
        image = image.resize((width, height), _RESAMPLE, reducing_gap=3.0)
    raise ImageError(
        f"The image cannot be compressed under the model's limit of {plan.max_bytes} bytes; "
        "send a smaller image.",
        code="image_too_large",
        param=param,
    )


def _encode(image: Image.Image, fmt: str, quality: int, icc: bytes | None) -> bytes:
    image = _mode_for(image, fmt)
    out = io.BytesIO()
    options: dict[str, object] = {}
    if icc:
        options["icc_profile"] = icc
    if fmt == "jpeg":
        options["quality"] = quality
    elif fmt == "webp":
        options.update(quality=quality, method=4)
    else:
        options["compress_level"] = 3
    image.save(out, _PIL_SAVE[fmt], **options)
    return out.getvalue()


def _mode_for(image: Image.Image, fmt: str) -> Image.Image:
    """Convert to a mode the encoder takes; alpha is flattened onto white for JPEG."""
    mode = image.mode
    if mode in _HIGH_DEPTH and not (fmt == "png" and mode == "I;16"):
        image, mode = _to_8bit(image), "L"
    if fmt == "png":
        return image if mode in ("1", "L", "LA", "P", "RGB", "RGBA", "I;16") else _to_rgb(image)
    if fmt == "jpeg":
        if mode in ("L", "RGB"):
            return image
        if _has_alpha(image):
            rgba = image.convert("RGBA")
            flat = Image.new("RGB", rgba.size, (255, 255, 255))
            flat.paste(rgba, mask=rgba.getchannel("A"))
            return flat
        return image.convert("RGB")
    return image if mode in ("RGB", "RGBA") else _to_rgb(image)
