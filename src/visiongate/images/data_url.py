"""Parse ``data:`` image URLs strictly and cheaply.

A data URL is the common way clients send images inline, so this runs for nearly every
image the gateway sees. The happy path is one ``str.partition`` and one strict pybase64
decode; whitespace is removed (with a second pass) only when the first decode fails.
The declared media type is only checked to be an image type: what the bytes really are
is decided by :mod:`visiongate.images.sniff`.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass

import pybase64

from visiongate.errors import ImageError

__all__ = ["DataUrl", "parse_data_url"]

_PREFIX = "data:"
_WHITESPACE = " \t\r\n\f\v"


@dataclass(frozen=True, slots=True)
class DataUrl:
    """A decoded data URL: the type the client declared, the bytes, their base64.

    ``b64`` is the client's payload without whitespace (padding added if the client
    left it off): exactly the base64 of ``data``, ready to forward without re-encoding.
    """

    declared_type: str
    data: bytes
    b64: str


def parse_data_url(url: str, param: str, max_bytes: int) -> DataUrl:
    """Decode ``data:image/<fmt>[;<param>=<value>...];base64,<payload>``.

    Raises ImageError ``invalid_image_url`` when the URL is not of that form, declares a
    type that is not ``image/*``, or carries anything outside the base64 alphabet, and
    ``image_too_large`` when the decoded bytes exceed ``max_bytes``.
    """
    header, comma, payload = url.partition(",")
    if not comma or header[:5].lower() != _PREFIX:
        raise ImageError(
            "The image data URL is malformed: expected data:image/<format>;base64,<data>.",
            code="invalid_image_url",
            param=param,
        )
    declared, *options = header[5:].split(";")
    declared = declared.strip().lower()
    if not options or options[-1].strip().lower() != "base64":
        raise ImageError(
            "The image data URL must be base64-encoded: data:image/<format>;base64,<data>.",
            code="invalid_image_url",
            param=param,
        )
    if not declared.startswith("image/"):
        shown = declared or "no media type"
        raise ImageError(
            f"The data URL declares {shown!r}, which is not an image type; "
            "send an image as data:image/<format>;base64,<data>.",
            code="invalid_image_url",
            param=param,
        )
    if len(payload) // 4 * 3 > max_bytes * 2:
        # Far over the cap even allowing for whitespace: do not spend time decoding it.
        raise _too_large(param, max_bytes)
    data, b64 = _decode(payload, param)
    if not data:
        raise ImageError(
            "The image data URL has no data after 'base64,'.",
            code="invalid_image_url",
            param=param,
        )
    if len(data) > max_bytes:
        raise _too_large(param, max_bytes)
    return DataUrl(declared_type=declared, data=data, b64=b64)


def _decode(payload: str, param: str) -> tuple[bytes, str]:
    """Strict base64 decode; returns the bytes and the canonical payload."""
    try:
        return pybase64.b64decode(payload, validate=True), payload
    except (binascii.Error, ValueError, TypeError):
        pass
    # Slow path: tolerate whitespace (line-wrapped base64) and missing padding.
    compact = "".join(payload.split()) if any(c in payload for c in _WHITESPACE) else payload
    missing = -len(compact) % 4
    if missing in (1, 2) and not compact.endswith("="):
        compact += "=" * missing
    try:
        return pybase64.b64decode(compact, validate=True), compact
    except (binascii.Error, ValueError, TypeError):
        raise ImageError(
            "The image data URL is not valid base64: use the standard alphabet "
            "(A-Z, a-z, 0-9, +, /) with '=' padding, not URL-safe or percent-encoded data.",
            code="invalid_image_url",
            param=param,
        ) from None


def _too_large(param: str, max_bytes: int) -> ImageError:
    return ImageError(
        f"The image is larger than the gateway's limit of {max_bytes} bytes; send a smaller image.",
        code="image_too_large",
        param=param,
    )
