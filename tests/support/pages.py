"""Printed pages the OCR tests render themselves: columns, a table, long lines, code.

They are drawn with a real TrueType font from the system (DejaVu, which Debian installs
with fontconfig), at about the size of 11 pt text scanned at 150 dpi. Without such a font
the layout tests cannot mean anything, so they stop with a message that says what to
install instead of falling back to Pillow's bitmap font.
"""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

__all__ = ["page_png", "table_png", "truetype", "two_columns_png"]

_FONTS = {
    "sans": ("DejaVuSans.ttf", "LiberationSans-Regular.ttf"),
    "mono": ("DejaVuSansMono.ttf", "LiberationMono-Regular.ttf"),
}
_FONT_DIRS = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/truetype/liberation"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/share/fonts/TTF"),
)
SIZE = 24  # px: 11 pt at 150 dpi is 23 px


def truetype(kind: str = "sans", size: int = SIZE) -> ImageFont.FreeTypeFont:
    """The system's DejaVu (or Liberation) font; a clear error when there is none."""
    for name in _FONTS[kind]:
        for folder in _FONT_DIRS:
            if (folder / name).exists():
                return ImageFont.truetype(str(folder / name), size)
    raise RuntimeError(
        f"no TrueType {kind} font ({', '.join(_FONTS[kind])}) under "
        f"{', '.join(map(str, _FONT_DIRS))}: install fonts-dejavu-core"
    )


def _png(image: Image.Image, rotate: int = 0) -> bytes:
    if rotate:
        image = image.rotate(rotate, expand=True, fillcolor="white")
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def page_png(lines: list[str], kind: str = "sans", rotate: int = 0) -> bytes:
    """One column of lines, left-aligned; ``rotate`` turns the page counter-clockwise."""
    face = truetype(kind)
    width = int(max(face.getlength(line) for line in lines)) + 4 * SIZE
    image = Image.new("RGB", (width, (len(lines) + 4) * 2 * SIZE), "white")
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((2 * SIZE, (i + 2) * 2 * SIZE), line, fill="black", font=face)
    return _png(image, rotate)


def two_columns_png(left: list[str], right: list[str]) -> bytes:
    """Two columns side by side, their lines on the same baselines (as a newspaper sets
    them): reading straight across would interleave them."""
    face = truetype()
    column = int(max(face.getlength(line) for line in left + right))
    gutter = 3 * SIZE
    rows = max(len(left), len(right))
    image = Image.new("RGB", (2 * column + gutter + 4 * SIZE, (rows + 4) * 2 * SIZE), "white")
    draw = ImageDraw.Draw(image)
    for x, lines in ((2 * SIZE, left), (2 * SIZE + column + gutter, right)):
        for i, line in enumerate(lines):
            draw.text((x, (i + 2) * 2 * SIZE), line, fill="black", font=face)
    return _png(image)


def table_png(rows: list[list[str]], ruled: bool = True) -> bytes:
    """A table: each column as wide as its widest cell plus a gap, with rules between rows."""
    face = truetype()
    gap = 3 * SIZE
    widths = [int(max(face.getlength(row[c]) for row in rows)) for c in range(len(rows[0]))]
    total = sum(widths) + gap * (len(widths) - 1)
    image = Image.new("RGB", (total + 4 * SIZE, (len(rows) + 4) * 2 * SIZE), "white")
    draw = ImageDraw.Draw(image)
    for r, row in enumerate(rows):
        y = (r + 2) * 2 * SIZE
        x = 2 * SIZE
        for c, cell in enumerate(row):
            draw.text((x, y), cell, fill="black", font=face)
            x += widths[c] + gap
        if ruled:
            line_y = y + int(1.6 * SIZE)
            draw.line((2 * SIZE, line_y, 2 * SIZE + total, line_y), fill="black", width=1)
    return _png(image)
