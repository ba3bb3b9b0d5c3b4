"""Identifying images from their bytes: formats, sizes, frames, bombs, truncation."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image, PngImagePlugin

from tests.support.images import make_image
from tests.unit.images.helpers import photo
from visiongate.errors import ImageError
from visiongate.images.sniff import (
    ImageInfo,
    check_complete,
    check_tail,
    inspect_head,
    inspect_image,
    register_plugins,
)

PARAM = "messages[0].content[0].image_url.url"
LIMIT = 100_000_000


def inspect(data: bytes, max_pixels: int = LIMIT):  # type: ignore[no-untyped-def]
    return inspect_image(data, PARAM, max_pixels)


def invalid(data: bytes, max_pixels: int = LIMIT) -> ImageError:
    with pytest.raises(ImageError) as info:
        info_ = inspect(data, max_pixels)
        check_complete(data, info_, PARAM)
    assert info.value.code == "invalid_image"
    assert info.value.param == PARAM
    return info.value


@pytest.mark.parametrize(
    ("pil_format", "name", "media_type"),
    [
        ("JPEG", "jpeg", "image/jpeg"),
        ("PNG", "png", "image/png"),
        ("GIF", "gif", "image/gif"),
        ("WEBP", "webp", "image/webp"),
        ("BMP", "bmp", "image/bmp"),
        ("TIFF", "tiff", "image/tiff"),
        ("AVIF", "avif", "image/avif"),
        ("HEIF", "heic", "image/heic"),
    ],
)
def test_every_supported_format_is_identified_with_its_size(
    pil_format: str, name: str, media_type: str
) -> None:
    register_plugins()  # HEIF encoding needs pillow-heif's plugin too
    data = make_image(pil_format, (72, 40))
    info = inspect(data)
    assert (info.format, info.media_type) == (name, media_type)
    assert (info.width, info.height, info.frames) == (72, 40, 1)
    check_complete(data, info, PARAM)


@pytest.mark.parametrize("lossless", [False, True])
def test_webp_header_is_read_for_lossy_and_lossless(lossless: bool) -> None:
    data = make_image("WEBP", (301, 157), lossless=lossless)
    info = inspect(data)
    assert (info.format, info.width, info.height, info.frames) == ("webp", 301, 157, 1)


def test_webp_with_alpha_uses_the_extended_header() -> None:
    data = photo((120, 90), "WEBP", alpha=True)
    info = inspect(data)
    assert (info.width, info.height) == (120, 90)


def _frames(count: int) -> list[Image.Image]:
    return [Image.new("RGB", (50, 30), (40 * i, 255 - 40 * i, 90)) for i in range(count)]


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_animated_images_report_their_frame_count(fmt: str) -> None:
    first, *rest = _frames(4)
    buf = io.BytesIO()
    first.save(buf, fmt, save_all=True, append_images=rest, duration=100, loop=0)
    info = inspect(buf.getvalue())
    assert info.frames == 4
    assert (info.width, info.height) == (50, 30)


def test_the_declared_type_is_irrelevant_bytes_decide() -> None:
    # A PNG is a PNG whatever the data URL claimed; only the bytes are looked at.
    assert inspect(make_image("PNG")).format == "png"


@pytest.mark.parametrize(
    "data",
    [
        b"hello, this is plain text and not an image at all",
        b"<svg xmlns='http://www.w3.org/2000/svg'></svg>",
        b"%PDF-1.4\n" + b"0" * 200,
        b"",
    ],
)
def test_bytes_that_are_not_an_image_are_refused(data: bytes) -> None:
    assert "not a" in invalid(data).message


def test_a_format_pillow_knows_but_the_gateway_does_not_take_is_refused() -> None:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16)).save(buf, "ICO")
    invalid(buf.getvalue())


@pytest.mark.parametrize(
    ("fmt", "cut"),
    [("JPEG", 0.6), ("JPEG", 0.98), ("PNG", 0.5), ("PNG", 0.995), ("GIF", 0.7), ("WEBP", 0.8)],
)
def test_truncated_files_are_refused_without_decoding(fmt: str, cut: float) -> None:
    data = photo((200, 150), fmt)
    error = invalid(data[: int(len(data) * cut)])
    assert "truncated" in error.message


@pytest.mark.parametrize("fmt", ["TIFF", "BMP", "HEIF", "AVIF"])
def test_truncated_files_of_the_other_formats_are_refused(fmt: str) -> None:
    register_plugins()
    data = photo((200, 150), fmt)
    with pytest.raises(ImageError) as info:
        check_complete(data[: len(data) * 3 // 4], inspect(data), PARAM)
    assert info.value.code == "invalid_image"


def test_a_jpeg_cut_before_its_scan_is_refused_even_with_an_exif_thumbnail() -> None:
    # The EXIF thumbnail carries its own EOI marker, which must not count as the end.
    thumb = io.BytesIO()
    Image.new("RGB", (16, 16), "red").save(thumb, "JPEG")
    exif = Image.Exif()
    exif[0x0112] = 1
    data = photo((160, 120), "JPEG", exif=exif.tobytes() + thumb.getvalue())
    cut = data[: len(data) - 200]
    assert b"\xff\xd9" in cut
    assert "truncated" in invalid(cut).message


def test_trailing_bytes_after_the_jpeg_end_are_accepted() -> None:
    # Some cameras append data after EOI; the image itself is complete.
    data = photo((80, 60), "JPEG") + b"\x00" * 64 + b"SEFT trailer"
    check_complete(data, inspect(data), PARAM)


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_a_decompression_bomb_is_refused_from_its_header() -> None:
    bomb = _png_claiming(50_000, 50_000)  # 2.5 gigapixels in a file of ~100 bytes
    assert len(bomb) < 200
    error = invalid(bomb)
    assert "pixels" in error.message


def test_the_pixel_limit_comes_from_the_settings() -> None:
    data = make_image("PNG", (200, 100))
    assert inspect(data, max_pixels=20_000).width == 200
    error = invalid(data, max_pixels=19_999)
    assert "200x100" in error.message


def test_a_corrupt_header_is_refused() -> None:
    data = bytearray(make_image("PNG", (40, 40)))
    data[16:24] = b"\0" * 8  # zero width and height in IHDR
    invalid(bytes(data))


def _variants() -> list[tuple[str, bytes]]:
    rgb = Image.new("RGB", (123, 77), (10, 200, 30))
    out = []
    for label, image, fmt, options in [
        ("jpeg baseline", rgb, "JPEG", {}),
        ("jpeg progressive", rgb, "JPEG", {"progressive": True, "optimize": True}),
        ("jpeg grayscale", rgb.convert("L"), "JPEG", {}),
        ("jpeg cmyk", rgb.convert("CMYK"), "JPEG", {}),
        ("jpeg 4:4:4 with icc", rgb, "JPEG", {"subsampling": 0, "icc_profile": b"\0" * 300}),
        ("mpo", rgb, "MPO", {}),
        ("png palette", rgb.convert("P"), "PNG", {}),
        ("png 16-bit gray", rgb.convert("I;16"), "PNG", {}),
        ("png interlaced", rgb, "PNG", {"interlace": 1}),
        ("png rgba", rgb.convert("RGBA"), "PNG", {}),
        ("gif87", rgb.convert("P"), "GIF", {}),
        ("webp lossy", rgb, "WEBP", {}),
        ("webp lossless", rgb, "WEBP", {"lossless": True}),
        ("webp alpha", rgb.convert("RGBA"), "WEBP", {}),
    ]:
        buf = io.BytesIO()
        image.save(buf, fmt, **options)
        out.append((label, buf.getvalue()))
    return out


@pytest.mark.parametrize(("label", "data"), _variants(), ids=[v[0] for v in _variants()])
def test_the_fast_header_parsers_agree_with_pillow(label: str, data: bytes) -> None:
    info = inspect(data)
    with Image.open(io.BytesIO(data)) as image:
        assert (info.width, info.height) == image.size
        assert info.format == {"MPO": "jpeg"}.get(image.format or "", (image.format or "").lower())
    check_complete(data, info, PARAM)


def test_animated_png_reports_its_frames() -> None:
    first, *rest = _frames(3)
    buf = io.BytesIO()
    first.save(buf, "PNG", save_all=True, append_images=rest)
    assert inspect(buf.getvalue()).frames == 3


def test_a_jpeg_cut_inside_its_header_is_truncated() -> None:
    data = photo((100, 80), "JPEG")
    assert "truncated" in invalid(data[:120]).message


def test_a_jpeg_with_a_broken_marker_is_corrupt() -> None:
    data = bytearray(photo((100, 80), "JPEG"))
    second = 4 + int.from_bytes(data[4:6], "big")  # the segment after APP0
    data[second] = 0x00  # no longer starts with 0xFF
    assert "corrupt" in invalid(bytes(data)).message


# ---------------------------------------------------------------- from the ends only


def test_a_jpeg_or_png_is_identified_from_its_first_bytes() -> None:
    for data in (photo((300, 200), "JPEG"), photo((300, 200), "PNG")):
        head = data[:2000]
        assert inspect_head(head, len(data), PARAM, LIMIT) == inspect(data)


def test_first_bytes_that_end_before_the_image_data_cannot_tell() -> None:
    jpeg = photo((300, 200), "JPEG", icc_profile=bytes(5000))
    text = PngImagePlugin.PngInfo()
    text.add_text("comment", "x" * 5000)  # a chunk before the image data
    png = photo((300, 200), "PNG", pnginfo=text)
    assert inspect_head(jpeg[:3000], len(jpeg), PARAM, LIMIT) is None
    assert inspect_head(png[:3000], len(png), PARAM, LIMIT) is None


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "BMP"])
def test_other_formats_need_the_whole_file(fmt: str) -> None:
    data = photo((300, 200), fmt)
    assert inspect_head(data[:1000], len(data), PARAM, LIMIT) is None
    assert inspect_head(data, len(data), PARAM, LIMIT) == inspect(data)  # all of it: fine


def test_the_first_bytes_still_refuse_bombs_and_broken_markers() -> None:
    data = photo((300, 200), "JPEG")
    with pytest.raises(ImageError, match="pixels"):
        inspect_head(data[:2000], len(data), PARAM, 300 * 200 - 1)
    broken = bytearray(data)
    broken[4 + int.from_bytes(broken[4:6], "big")] = 0x00
    with pytest.raises(ImageError, match="corrupt"):
        inspect_head(bytes(broken[:2000]), len(data), PARAM, LIMIT)


def test_an_animated_png_counts_its_frames_from_the_first_bytes() -> None:
    first, *rest = _frames(3)
    buf = io.BytesIO()
    first.save(buf, "PNG", save_all=True, append_images=rest)
    data = buf.getvalue()
    info = inspect_head(data[:200], len(data), PARAM, LIMIT)
    assert info is not None and info.frames == 3


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_the_last_bytes_prove_a_complete_file(fmt: str) -> None:
    data = photo((300, 200), fmt)
    info = inspect(data)
    assert check_tail(data[-4096:], len(data), info)
    assert not check_tail(data[: len(data) // 2][-4096:], len(data) // 2, info)  # cut


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_last_bytes_without_the_end_marker_cannot_tell(fmt: str) -> None:
    data = photo((300, 200), fmt) + bytes(10_000)  # trailing data: complete, but not provably
    info = inspect(data)
    assert not check_tail(data[-4096:], len(data), info)
    check_complete(data, info, PARAM)


def test_a_jpeg_end_marker_before_the_scan_does_not_count() -> None:
    # An EXIF thumbnail ends with its own end-of-image marker, before the main scan.
    info = ImageInfo("jpeg", 10, 10, scan=50)
    tail = b"\xff\xd9" + bytes(8)
    assert not check_tail(tail, 40 + len(tail), info)  # the marker is at offset 40
    assert check_tail(tail, 90 + len(tail), info)  # at offset 90, after the scan starts


def test_other_formats_are_never_proven_from_their_last_bytes() -> None:
    data = photo((300, 200), "GIF")
    assert not check_tail(data, len(data), inspect(data))
