"""A document's bytes from a data URL or base64, and what those bytes are."""

from __future__ import annotations

import base64

import pytest

from tests.support.pdfs import text_pdf
from visiongate.documents.source import decode_base64, decode_data_url, sniff_document
from visiongate.errors import DocumentError

PDF = text_pdf(["hello"])
B64 = base64.b64encode(PDF).decode()


def test_a_canonical_data_url_keeps_the_clients_base64() -> None:
    url = "data:application/pdf;base64," + B64
    decoded = decode_data_url(url, "p", 10_000)
    assert decoded.data == PDF and decoded.b64 == B64
    as_bytes = decode_data_url(url.encode(), "p", 10_000)  # cut out of the body (api/cut.py)
    assert as_bytes.data == PDF and as_bytes.b64 == B64.encode()


def test_wrapped_base64_is_accepted_but_not_kept() -> None:
    wrapped = "\n".join(B64[i : i + 76] for i in range(0, len(B64), 76))
    decoded = decode_data_url("data:application/pdf;base64," + wrapped, "p", 10_000)
    assert decoded.data == PDF and decoded.b64 is None


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("data:application/pdf," + B64, "base64-encoded"),
        ("application/pdf;base64," + B64, "malformed"),
        ("data:application/pdf;base64,****", "not valid base64"),
        ("data:application/pdf;base64,", "empty"),
        # Characters past ASCII, found by the schema fuzzer: once a 500 (latin-1 encode).
        ("data:application/pdf;base64,\udb52\ude2e{\u008f SO", "not valid base64"),
        ("data:application/pdf;base64,\u20ac" + B64, "not valid base64"),
        ("data:application/pdf;base64,\u00a0" + B64, "not valid base64"),
    ],
)
def test_bad_data_urls_are_invalid_documents(url: str, words: str) -> None:
    with pytest.raises(DocumentError) as info:
        decode_data_url(url, "messages[0].content[1].file.file_data", 10_000)
    assert info.value.code == "invalid_document" and words in info.value.message
    assert info.value.param == "messages[0].content[1].file.file_data"


def test_over_the_byte_cap_is_too_large() -> None:
    with pytest.raises(DocumentError) as info:
        decode_base64(B64, "p", len(PDF) - 1)
    assert info.value.code == "document_too_large"
    assert f"{len(PDF) - 1} bytes" in info.value.message
    with pytest.raises(DocumentError):  # far over: refused before decoding
        decode_base64("A" * 4000, "p", 100)


@pytest.mark.parametrize(
    ("data", "code", "words"),
    [
        (b"PK\x03\x04" + b"\x00" * 40, "unsupported_content", "office document"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 40, "unsupported_content", ".doc"),
        (b"<!DOCTYPE html><html></html>", "unsupported_content", "HTML"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, "unsupported_content", "PNG image"),
        (b"Dear reader,\nthis is plain text.\n", "unsupported_content", "plain text"),
        (b"\x00\x01\x02\x03" * 20, "invalid_document", "not a PDF"),
    ],
)
def test_what_is_not_a_pdf_is_named(data: bytes, code: str, words: str) -> None:
    with pytest.raises(DocumentError) as info:
        sniff_document(data, "p")
    assert info.value.code == code and words in info.value.message


def test_a_pdf_is_known_by_its_header_whatever_comes_first() -> None:
    sniff_document(PDF, "p")
    sniff_document(b"\r\n" * 10 + PDF, "p")  # readers find %PDF- within the first KB
