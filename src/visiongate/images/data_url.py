"""Parse ``data:`` image URLs strictly and cheaply, without keeping the decoded bytes.

A data URL is the common way clients send images inline, so this runs for nearly every
image the gateway sees, and most of those images go upstream exactly as they came. The
payload is validated by a strict pybase64 decode, which is the cheapest full validation
there is (pybase64's SIMD decoder runs at memory speed; a regular expression over the
alphabet is 15-20 times slower), but the decoded bytes are not kept: only the first and
last of them, for the sniffer (format and size) and the truncation check. A payload of up
to 256 KB is validated in one piece, and its copy out of the URL is kept, since a provider
that takes bare base64 needs exactly that string; a larger one is validated piece by piece
straight out of the URL, so that neither a copy of it nor its decoded bytes are ever held
whole. Whitespace is removed (with a second pass) only when the first validation fails.
The declared media type is only checked to be an image type: what the bytes really are is
decided by :mod:`visiongate.images.sniff`. A URL may come as ASCII ``bytes`` (cut out of the
request body unparsed, ``api/cut.py``); everything above holds for it the same way.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass

import pybase64

from visiongate.errors import ImageError

__all__ = ["DataUrl", "parse_data_url"]

_PREFIX = "data:"
_WHITESPACE = " \t\r\n\f\v"
_CONTROL = bytes(range(32))
# Characters of base64 per validated piece (196,608 decoded bytes): a multiple of 4, so
# every piece but the last is complete on its own.
_PIECE = 262_144
# What is kept of the first and the last piece of a longer payload, in decoded bytes.
_HEAD = 65_536
_TAIL = 65_536


@dataclass(slots=True)
class DataUrl:
    """A validated data URL: the declared type, where its base64 is, and a glimpse of it.

    When the client's payload is canonical base64 (no whitespace, padded), it is
    ``url[at:]``; ``b64`` is then its copy when one was made (a payload of one piece) and
    None otherwise. When the payload needed cleaning, ``at`` is 0 and ``b64`` is the
    cleaned payload. ``nbytes`` is the decoded length; ``head`` and ``tail`` are the
    first and last decoded bytes (64 KB each of a longer image; all of it, the same
    object, when its base64 fits in one piece).
    """

    declared_type: str
    at: int
    b64: str | bytes | None
    nbytes: int
    head: bytes
    tail: bytes


def parse_data_url(url: str | bytes, param: str, max_bytes: int) -> DataUrl:
    """Validate ``data:image/<fmt>[;<param>=<value>...];base64,<payload>``.

    Raises ImageError ``invalid_image_url`` when the URL is not of that form, declares a
    type that is not ``image/*``, or carries anything outside the base64 alphabet, and
    ``image_too_large`` when the decoded bytes exceed ``max_bytes``.
    """
    comma = url.find(",") if isinstance(url, str) else url.find(b",")
    header = url[:comma] if isinstance(url, str) else url[:comma].decode("latin-1")
    if isinstance(url, bytes) and not (header.isascii() and header.isprintable()):
        # JSON would have refused these bytes (cut.py took them unparsed): refuse them too.
        raise ImageError(
            "The image data URL's header holds bytes that are not printable ASCII.",
            code="invalid_image_url",
            param=param,
        )
    if comma < 0 or header[:5].lower() != _PREFIX:
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
    at = comma + 1
    if (len(url) - at) // 4 * 3 > max_bytes * 2:
        # Far over the cap even allowing for whitespace: do not spend time decoding it.
        raise _too_large(param, max_bytes)
    checked = _validate(url, at)
    if checked is None:
        # Slow path: tolerate whitespace (line-wrapped base64) and missing padding.
        compact = _compact(_text(url[at:], param))
        checked = _validate(compact, 0)
        if checked is None:
            raise ImageError(
                "The image data URL is not valid base64: use the standard alphabet "
                "(A-Z, a-z, 0-9, +, /) with '=' padding, not URL-safe or percent-encoded "
                "data.",
                code="invalid_image_url",
                param=param,
            )
        at, checked = 0, (compact, *checked[1:])
    b64, nbytes, head, tail = checked
    if not nbytes:
        raise ImageError(
            "The image data URL has no data after 'base64,'.",
            code="invalid_image_url",
            param=param,
        )
    if nbytes > max_bytes:
        raise _too_large(param, max_bytes)
    return DataUrl(declared_type=declared, at=at, b64=b64, nbytes=nbytes, head=head, tail=tail)


def _validate(text: str | bytes, at: int) -> tuple[str | bytes | None, int, bytes, bytes] | None:
    """Strictly decode ``text[at:]``; None when it is not canonical base64, else its copy
    if one was made (a string payload of one piece), the decoded length, and the first
    and last decoded bytes.

    In pieces when it is long, which is equivalent to one strict decode of the whole:
    every piece but the last has a length that is a multiple of 4, and padding may only
    end the last one.
    """
    # No separate ASCII check: a strict decode refuses any other character, in a string
    # or in bytes, and scanning the payload once more cost ~5% of a base64 request.
    end = len(text)
    # Bytes are read through a view, never copied; a string has to be sliced (and a short
    # one's slice is kept: it is the base64 Anthropic and Gemini take).
    source: str | memoryview = text if isinstance(text, str) else memoryview(text)
    try:
        if end - at <= _PIECE:
            whole = source[at:] if at else source
            data = pybase64.b64decode(whole, validate=True)
            return (whole if isinstance(whole, str) else None), len(data), data, data
        head = previous = last = b""
        nbytes = 0
        for pos in range(at, end, _PIECE):
            piece = source[pos : pos + _PIECE]
            if pos + _PIECE < end and piece[-1:] in ("=", b"="):
                return None  # padding in the middle
            previous, last = last, pybase64.b64decode(piece, validate=True)
            nbytes += len(last)
            if not head:
                head = last[:_HEAD]
    except (binascii.Error, ValueError, TypeError):
        return None
    if len(last) < _TAIL:
        last = previous[len(last) - _TAIL :] + last
    return None, nbytes, head, last[-_TAIL:]


def _text(payload: str | bytes, param: str) -> str:
    """A payload cut out of the body as bytes, as the string JSON would have made of it:
    no JSON escapes are in it (cut.py leaves those in the body), but raw control
    characters, which JSON refuses in a string, may be."""
    if isinstance(payload, str):
        return payload
    if len(payload.translate(None, _CONTROL)) != len(payload):
        raise ImageError(
            "The image data URL holds a raw control character (a line break?), which a "
            "JSON string may not: escape it, or send the base64 on one line.",
            code="invalid_image_url",
            param=param,
        )
    return payload.decode("utf-8", "replace")


def _compact(payload: str) -> str:
    """The payload without whitespace, with the padding it lacks."""
    compact = "".join(payload.split()) if any(c in payload for c in _WHITESPACE) else payload
    missing = -len(compact) % 4
    if missing in (1, 2) and not compact.endswith("="):
        compact += "=" * missing
    return compact


def _too_large(param: str, max_bytes: int) -> ImageError:
    return ImageError(
        f"The image is larger than the gateway's limit of {max_bytes} bytes; send a smaller image.",
        code="image_too_large",
        param=param,
    )
