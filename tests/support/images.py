"""Images the tests make themselves: nothing is downloaded."""

from __future__ import annotations

import base64
import io
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

__all__ = ["data_url", "font", "make_image", "text_image"]

_FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
)


def make_image(
    fmt: str = "JPEG",
    size: tuple[int, int] = (64, 48),
    color: tuple[int, int, int] = (200, 30, 30),
    **save_kw: object,
) -> bytes:
    image = Image.new("RGB", size, color)
    draw = ImageDraw.Draw(image)
    draw.rectangle((size[0] // 4, size[1] // 4, size[0] // 2, size[1] // 2), fill=(20, 20, 220))
    buf = io.BytesIO()
    image.save(buf, format=fmt, **save_kw)
    return buf.getvalue()


def data_url(data: bytes, mime: str = "image/jpeg") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def font(size: int = 48) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """A real TrueType font: the system's DejaVu if present, else Pillow's bundled one."""
    for candidate in _FONT_CANDIDATES:
        if Path(candidate).exists():
            return ImageFont.truetype(candidate, size)
    return ImageFont.load_default(size=size)


def text_image(lines: list[str], size: int = 48, fmt: str = "PNG") -> bytes:
    """Black words on white, one line each, large enough for OCR."""
    face = font(size)
    width = max(int(face.getlength(line)) for line in lines) + 2 * size
    height = (len(lines) * int(size * 1.6)) + 2 * size
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    y = size
    for line in lines:
        draw.text((size, y), line, fill="black", font=face)
        y += int(size * 1.6)
    buf = io.BytesIO()
    image.save(buf, format=fmt)
    return buf.getvalue()


def noise_png(size: tuple[int, int] = (200, 150), seed: int = 0) -> bytes:
    """A PNG of random pixels: it does not compress, so its bytes are about 3 per pixel
    (for bodies large enough to take the gateway's large-image paths)."""
    import random

    rnd = random.Random(seed)
    pixels = bytes(rnd.getrandbits(8) for _ in range(size[0] * size[1] * 3))
    out = io.BytesIO()
    Image.frombytes("RGB", size, pixels).save(out, "PNG")
    return out.getvalue()
