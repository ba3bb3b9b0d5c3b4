"""Identify an image from its bytes, never from what the client declared.

:func:`inspect_image` reads only headers: the format, the size, the frame count, and a
pixel bound against decompression bombs. :func:`check_complete` is a structural test for
truncation (JPEG EOI after the scan, PNG IEND, GIF trailer, RIFF and ISO-BMFF box
lengths, TIFF strip extents) so that an image forwarded untouched is never decoded.

The four formats nearly every request carries (JPEG, PNG, GIF, WebP) are parsed here
directly: their sizes sit at fixed places or in the first marker segments, and doing it in
a few lines is 5-30 times cheaper than Pillow's plugins (Pillow's JPEG header parser is
Python that unpacks every quantisation table; its WebP plugin hands the whole file to
libwebp's demuxer; it can only count GIF frames by decoding them). BMP, TIFF, HEIC/HEIF
and AVIF, and anything unrecognised, go through ``Image.open`` (header only).
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from visiongate.errors import ImageError

__all__ = [
    "MEDIA_TYPES",
    "ImageInfo",
    "check_complete",
    "check_tail",
    "inspect_head",
    "inspect_image",
    "register_plugins",
]

MEDIA_TYPES = {
    "jpeg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "webp": "image/webp",
    "bmp": "image/bmp",
    "tiff": "image/tiff",
    "heic": "image/heic",
    "heif": "image/heif",
    "avif": "image/avif",
}
SUPPORTED = "JPEG, PNG, GIF, WebP, BMP, TIFF, HEIC/HEIF or AVIF"

# Pillow plugins tried on open, most common first; anything else is refused.
_PILLOW_FORMATS = ("BMP", "TIFF", "HEIF", "AVIF")
_PILLOW_NAMES = {"BMP": "bmp", "TIFF": "tiff", "AVIF": "avif"}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Start-of-frame markers carry the size: C0-CF except DHT (C4), JPG (C8) and DAC (CC).
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_HEIC_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"})


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """What the header says: ``format`` is a lower-case name, a key of :data:`MEDIA_TYPES`.

    ``scan`` is where a JPEG's entropy-coded data starts (its first SOS marker), kept
    for :func:`check_complete`; 0 for other formats.
    """

    format: str
    width: int
    height: int
    frames: int = 1
    scan: int = 0

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.format]


@functools.cache
def register_plugins() -> None:
    """Teach Pillow HEIC/HEIF (pillow-heif); AVIF is built in. Idempotent, run once."""
    from pillow_heif import register_heif_opener

    register_heif_opener()


def inspect_image(data: bytes, param: str, max_pixels: int) -> ImageInfo:
    """Identify ``data`` from its header without decoding pixels.

    Raises ImageError ``invalid_image`` when the bytes are not a supported image, the
    header is corrupt, or the image has more than ``max_pixels`` pixels.
    """
    head = data[:12]
    if head.startswith(b"\xff\xd8\xff"):
        info = _jpeg_info(data, param)
    elif head.startswith(_PNG_SIGNATURE):
        info = _png_info(data, param)
    elif head[:6] in (b"GIF87a", b"GIF89a"):
        width, height = int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")
        info = ImageInfo("gif", width, height, _gif_frames(data, param))
    elif head[8:12] == b"WEBP" and head[:4] == b"RIFF":
        info = _webp_info(data, param)
    else:
        info = _pillow_info(data, param)
    return _within_limits(info, param, max_pixels)


def inspect_head(head: bytes, total: int, param: str, max_pixels: int) -> ImageInfo | None:
    """:func:`inspect_image` from the first bytes of an image of ``total`` bytes.

    Returns None when those bytes cannot tell, and then the whole image must be
    inspected: GIF and WebP (walked to their end), the formats Pillow reads, a JPEG whose
    first scan starts past ``head``, a PNG whose image data does. Raises what
    :func:`inspect_image` raises.
    """
    if len(head) >= total:
        return inspect_image(head, param, max_pixels)
    if head.startswith(b"\xff\xd8\xff"):
        width, height, scan = _jpeg_walk(head)
        if scan == 0:
            return None
        info = _jpeg_info(head, param, (width, height, scan))
    elif head.startswith(_PNG_SIGNATURE):
        info, whole = _png_header(head, param)
        if not whole:
            return None
    else:
        return None
    return _within_limits(info, param, max_pixels)


def _within_limits(info: ImageInfo, param: str, max_pixels: int) -> ImageInfo:
    if info.width <= 0 or info.height <= 0:
        raise _invalid(param, "its header gives no width or height")
    if info.width * info.height > max_pixels:
        raise _bomb(param, info.width, info.height, max_pixels)
    return info


def _pillow_info(data: bytes, param: str) -> ImageInfo:
    register_plugins()
    try:
        with Image.open(io.BytesIO(data), formats=_PILLOW_FORMATS) as im:
            pil_format = im.format or ""
            width, height = im.size
    except Image.DecompressionBombError as exc:
        raise ImageError(
            "The image claims more pixels than the gateway decodes (decompression bomb "
            "guard); send an image of at most a few tens of megapixels.",
            code="invalid_image",
            param=param,
        ) from exc
    except UnidentifiedImageError:
        raise _invalid(param, f"it is not a {SUPPORTED} image") from None
    except (OSError, ValueError, SyntaxError, EOFError, IndexError, KeyError, RuntimeError) as exc:
        # Pillow's plugins report broken headers with any of these.
        raise _invalid(param, "its header is corrupt") from exc
    if pil_format == "HEIF":
        name = "heic" if data[8:12] in _HEIC_BRANDS else "heif"
    else:
        name = _PILLOW_NAMES.get(pil_format, "")
    if not name:
        raise _invalid(param, f"it is not a {SUPPORTED} image")
    return ImageInfo(format=name, width=width, height=height)


def _jpeg_info(data: bytes, param: str, walked: tuple[int, int, int] | None = None) -> ImageInfo:
    width, height, scan = walked or _jpeg_walk(data)
    if scan == 0:
        raise _truncated(param)
    if scan < 0:
        raise _invalid(param, "its JPEG marker structure is corrupt")
    return ImageInfo("jpeg", width, height, scan=scan)


def _jpeg_walk(data: bytes) -> tuple[int, int, int]:
    """(width, height, offset of the first SOS) from the marker segments.

    The offset is 0 when the data ends before a scan starts, -1 when a marker is broken.
    A JPEG written by a camera (MPO, with EXIF thumbnails) parses the same way: the
    thumbnails live inside APP segments, which are skipped whole.
    """
    pos = 2
    size = len(data)
    width = height = 0
    while pos + 4 <= size:
        if data[pos] != 0xFF:
            return width, height, -1
        marker = data[pos + 1]
        if marker == 0xDA:
            return width, height, pos
        if marker == 0xFF:
            pos += 1
        elif marker == 0x01 or 0xD0 <= marker <= 0xD7:
            pos += 2
        else:
            if marker in _SOF_MARKERS and not width and pos + 9 <= size:
                height = int.from_bytes(data[pos + 5 : pos + 7], "big")
                width = int.from_bytes(data[pos + 7 : pos + 9], "big")
            pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
    return width, height, 0


def _png_info(data: bytes, param: str) -> ImageInfo:
    return _png_header(data, param)[0]


def _png_header(data: bytes, param: str) -> tuple[ImageInfo, bool]:
    """Size from IHDR; frames from an APNG ``acTL`` chunk if one precedes the data.

    The flag says whether the chunks before the image data all lie inside ``data``
    (when ``data`` is only the start of the file, the frame count may be unknown).
    """
    if data[12:16] != b"IHDR" or len(data) < 33:
        raise _invalid(param, "its PNG header is corrupt")
    width = int.from_bytes(data[16:20], "big")
    height = int.from_bytes(data[20:24], "big")
    frames = 1
    pos = 33
    while pos + 12 <= len(data):
        kind = data[pos + 4 : pos + 8]
        if kind == b"acTL":
            frames = max(1, int.from_bytes(data[pos + 8 : pos + 12], "big"))
        if kind in (b"IDAT", b"IEND"):
            return ImageInfo("png", width, height, frames), True
        pos += 12 + int.from_bytes(data[pos : pos + 4], "big")
    return ImageInfo("png", width, height, frames), False


def _webp_info(data: bytes, param: str) -> ImageInfo:
    """Size and frame count from the RIFF chunks (VP8, VP8L or VP8X + ANMF)."""
    width = height = 0
    frames = 0
    for fourcc, start, end in _riff_chunks(data, param):
        body = data[start : min(end, start + 10)]  # the headers are in the first 10 bytes
        if fourcc == b"VP8X" and len(body) >= 10:
            width = 1 + int.from_bytes(body[4:7], "little")
            height = 1 + int.from_bytes(body[7:10], "little")
        elif fourcc == b"VP8 " and not width and len(body) >= 10:
            if body[3:6] != b"\x9d\x01\x2a":
                raise _invalid(param, "its VP8 header is corrupt")
            width = int.from_bytes(body[6:8], "little") & 0x3FFF
            height = int.from_bytes(body[8:10], "little") & 0x3FFF
        elif fourcc == b"VP8L" and not width and len(body) >= 5:
            if body[0] != 0x2F:
                raise _invalid(param, "its VP8L header is corrupt")
            bits = int.from_bytes(body[1:5], "little")
            width = 1 + (bits & 0x3FFF)
            height = 1 + ((bits >> 14) & 0x3FFF)
        elif fourcc == b"ANMF":
            frames += 1
    if not width:
        raise _invalid(param, "it is a RIFF file without a WebP image header")
    return ImageInfo(format="webp", width=width, height=height, frames=max(frames, 1))


def _riff_chunks(data: bytes, param: str) -> list[tuple[bytes, int, int]]:
    """Top-level chunks of a RIFF/WEBP file as (fourcc, payload start, payload end)."""
    total = int.from_bytes(data[4:8], "little") + 8
    if total > len(data):
        raise _truncated(param)
    chunks = []
    pos = 12
    while pos + 8 <= total:
        size = int.from_bytes(data[pos + 4 : pos + 8], "little")
        end = pos + 8 + size
        if end > total:
            raise _truncated(param)
        chunks.append((data[pos : pos + 4], pos + 8, end))
        pos = end + (size & 1)
    return chunks


def _gif_frames(data: bytes, param: str) -> int:
    """Count image descriptors by walking the GIF blocks; refuses a truncated file.

    Pillow can only count GIF frames by seeking, which decodes each frame.
    """
    size = len(data)
    pos = 13
    flags = data[10] if size > 10 else 0
    if flags & 0x80:
        pos += 3 << ((flags & 7) + 1)
    frames = 0
    while pos < size:
        block = data[pos]
        if block == 0x3B:
            return max(frames, 1)
        if block == 0x2C:
            frames += 1
            if pos + 10 > size:
                break
            local = data[pos + 9]
            pos += 10 + (3 << ((local & 7) + 1) if local & 0x80 else 0) + 1
        elif block == 0x21:
            pos += 2
        else:
            raise _invalid(param, "its GIF block structure is corrupt")
        while pos < size and data[pos]:
            pos += data[pos] + 1
        pos += 1
    raise _truncated(param)


def check_complete(data: bytes, info: ImageInfo, param: str) -> None:
    """Refuse a truncated file by its structure alone (no pixel decode).

    GIF and WebP were already walked completely by :func:`inspect_image`. Raises
    ImageError ``invalid_image``.
    """
    fmt = info.format
    if fmt == "jpeg":
        scan = info.scan or _jpeg_walk(data)[2]
        complete = scan > 0 and data.rfind(b"\xff\xd9", scan) != -1
    elif fmt == "png":
        end = data.rfind(b"IEND")
        complete = end >= 12 and data[end - 4 : end] == b"\0\0\0\0" and end + 8 <= len(data)
    elif fmt in ("heic", "heif", "avif"):
        complete = _boxes_complete(data)
    elif fmt == "tiff":
        complete = _tiff_complete(data)
    elif fmt == "bmp":
        declared = int.from_bytes(data[2:6], "little")
        complete = declared == 0 or declared <= len(data)
    else:
        complete = True
    if not complete:
        raise _truncated(param)


def check_tail(tail: bytes, total: int, info: ImageInfo) -> bool:
    """Whether the last bytes of an image of ``total`` bytes prove it complete.

    True for a JPEG whose end-of-image marker, or a PNG whose ``IEND`` chunk, lies in
    ``tail`` after the header; False when ``tail`` cannot tell (other formats, trailing
    data, or a truncated file), and then :func:`check_complete` must see the whole file.
    """
    start = total - len(tail)
    if info.format == "jpeg":
        found = tail.rfind(b"\xff\xd9")
        return found != -1 and info.scan > 0 and start + found >= info.scan
    if info.format == "png":
        found = tail.rfind(b"IEND")
        end = start + found
        return (
            found >= 4 and end >= 12 and tail[found - 4 : found] == b"\0\0\0\0" and end + 8 <= total
        )
    return False


def _boxes_complete(data: bytes) -> bool:
    """Every top-level ISO-BMFF box (ftyp, meta, mdat, ...) lies inside the file."""
    pos = 0
    size = len(data)
    while pos + 8 <= size:
        box = int.from_bytes(data[pos : pos + 4], "big")
        if box == 1:
            if pos + 16 > size:
                return False
            box = int.from_bytes(data[pos + 8 : pos + 16], "big")
        elif box == 0:
            return True
        if box < 8 or pos + box > size:
            return False
        pos += box
    return pos == size


def _tiff_complete(data: bytes) -> bool:
    """The first page's strips (or tiles) end inside the file."""
    try:
        with Image.open(io.BytesIO(data), formats=("TIFF",)) as im:
            tags = im.tag_v2  # type: ignore[attr-defined]
            offsets = tags.get(273) or tags.get(324) or ()
            counts = tags.get(279) or tags.get(325) or ()
    except (OSError, ValueError, SyntaxError, EOFError, RuntimeError):
        return False
    ends = [o + c for o, c in zip(offsets, counts, strict=False)]
    return bool(ends) and max(ends) <= len(data)


def _invalid(param: str, why: str) -> ImageError:
    return ImageError(
        f"The image could not be read: {why}. Send a {SUPPORTED} file.",
        code="invalid_image",
        param=param,
    )


def _truncated(param: str) -> ImageError:
    return ImageError(
        "The image is truncated (the file ends before the image data does); "
        "send the complete file.",
        code="invalid_image",
        param=param,
    )


def _bomb(param: str, width: int, height: int, limit: int) -> ImageError:
    return ImageError(
        f"The image is {width}x{height} pixels, more than the gateway's limit of {limit} "
        "pixels (decompression bomb guard); send a smaller image.",
        code="invalid_image",
        param=param,
    )
