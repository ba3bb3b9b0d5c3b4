"""A document's bytes from what the client sent, and what those bytes are.

Documents come inline far more often than by URL, as ``data:<type>;base64,<payload>`` (the
OpenAI SDKs' ``file_data``) or as bare base64 (the Messages API's ``document`` source). The
base64 is decoded strictly (pybase64's SIMD decoder, the cheapest full validation there is,
``images/data_url.py``), with a second, whitespace-tolerant pass only when the first fails.
When the client's base64 was canonical it is kept, so a PDF that goes upstream unchanged is
sent as the client's own text and never encoded again.

What a file is comes from its bytes, whatever the client declared: only a PDF (``%PDF-``
within the first KB, as the readers themselves accept it) is a document the gateway reads;
an office file, an HTML page, plain text or an image gets ``unsupported_content`` naming
what it is.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass

import pybase64

from visiongate.errors import DocumentError

__all__ = ["Decoded", "decode_base64", "decode_data_url", "sniff_document"]

_WHITESPACE = b" \t\r\n\f\v"
_HEADER_SCAN = 1024  # PDF readers find %PDF- anywhere in the first KB


@dataclass(slots=True)
class Decoded:
    """The document's bytes and, when the client's base64 was canonical, that base64."""

    data: bytes
    b64: str | bytes | None


def decode_data_url(url: str | bytes, param: str, max_bytes: int) -> Decoded:
    """Decode ``data:<type>[;...];base64,<payload>``. The declared type is not trusted
    (the bytes are sniffed later), but it must be base64. Raises DocumentError."""
    comma = url.find(",") if isinstance(url, str) else url.find(b",")
    raw_header = url[:comma] if comma >= 0 else url[:64]
    header = raw_header if isinstance(raw_header, str) else raw_header.decode("latin-1")
    if comma < 0 or header[:5].lower() != "data:" or not header.isprintable():
        raise DocumentError(
            "The file data is malformed: expected data:application/pdf;base64,<data>.",
            code="invalid_document",
            param=param,
        )
    if header.rsplit(";", 1)[-1].strip().lower() != "base64":
        raise DocumentError(
            "The file data must be base64-encoded: data:application/pdf;base64,<data>.",
            code="invalid_document",
            param=param,
        )
    return decode_base64(url[comma + 1 :], param, max_bytes)


def decode_base64(payload: str | bytes, param: str, max_bytes: int) -> Decoded:
    """Decode a base64 payload strictly, tolerating whitespace on a second pass.

    Raises DocumentError: ``invalid_document`` for what is not base64 or is empty,
    ``document_too_large`` past ``max_bytes`` (checked before decoding a payload that is
    far over it).
    """
    if (len(payload) // 4) * 3 > max_bytes * 2:
        raise too_large_bytes(param, max_bytes)
    b64: str | bytes | None = payload
    try:
        data = pybase64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        b64 = None
        try:
            # ASCII: a character past it is no base64 (and no whitespace) in any case.
            compact = payload.encode("ascii") if isinstance(payload, str) else payload
            compact = compact.translate(None, _WHITESPACE)
            compact += b"=" * (-len(compact) % 4)
            data = pybase64.b64decode(compact, validate=True)
        except (binascii.Error, ValueError):  # UnicodeEncodeError is a ValueError
            raise DocumentError(
                "The file data is not valid base64: use the standard alphabet (A-Z, a-z, "
                "0-9, +, /) with '=' padding.",
                code="invalid_document",
                param=param,
            ) from None
    if not data:
        raise DocumentError("The file data is empty.", code="invalid_document", param=param)
    if len(data) > max_bytes:
        raise too_large_bytes(param, max_bytes)
    return Decoded(data, b64)


def too_large_bytes(param: str, max_bytes: int) -> DocumentError:
    return DocumentError(
        f"The document is larger than the gateway's limit of {max_bytes} bytes "
        "(VISIONGATE_MAX_DOCUMENT_BYTES); send a smaller file or only some of its pages.",
        code="document_too_large",
        param=param,
    )


# What other files look like, to name them in the refusal (first match wins).
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a ZIP container (an office document such as .docx, .xlsx or .pptx)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Microsoft Office document (.doc, .xls)"),
    (b"{\\rtf", "an RTF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"RIFF", "a RIFF file (such as a WebP image)"),
)


def sniff_document(data: bytes, param: str) -> None:
    """Refuse bytes that are not a PDF: ``unsupported_content`` naming what they look
    like (an office file, HTML, an image, text), ``invalid_document`` for anything else."""
    if b"%PDF-" in data[:_HEADER_SCAN]:
        return
    what = _what(data)
    if what is not None:
        raise DocumentError(
            f"The file is {what}, not a PDF. The gateway reads PDF documents only: "
            "convert the file to PDF, send its text as a text part, or an image as an "
            "image_url part.",
            code="unsupported_content",
            param=param,
        )
    raise DocumentError(
        "The file is not a PDF (its bytes do not start with %PDF-); send a PDF document.",
        code="invalid_document",
        param=param,
    )


def _what(data: bytes) -> str | None:
    for magic, name in _SIGNATURES:
        if data.startswith(magic):
            return name
    head = data[:_HEADER_SCAN].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head[:256]:
        return "an HTML page"
    if head.startswith(b"<?xml"):
        return "an XML document"
    try:
        text = data[:_HEADER_SCAN].decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < _HEADER_SCAN - 3:  # not just a character cut at the scan's end
            return None
        text = data[: exc.start].decode("utf-8")
    if any(c < " " and c not in "\t\r\n" for c in text):
        return None
    return "plain text"
