"""OpenAI's file fields, the same in a Chat Completions ``file`` part and a Responses
``input_file`` part: ``file_data`` (a ``data:`` URL) or ``file_url`` (an extension on
Chat Completions, fetched by the gateway), ``filename``, and the ``pages`` extension.
``file_id`` refers to OpenAI's Files API, which the gateway does not have."""

from __future__ import annotations

from typing import Any

from visiongate.api.fields import bad
from visiongate.core.messages import DocumentPart
from visiongate.documents.pages import parse_pages

__all__ = ["openai_file"]


def openai_file(spec: dict[str, Any], where: str) -> DocumentPart:
    """The document ``spec`` describes; ``where`` is its place in the request. Raises
    InvalidRequest naming the field (``unsupported_parameter`` for ``file_id``)."""
    if spec.get("file_id") is not None:
        raise bad(
            "'file_id' refers to OpenAI's Files API, which this gateway does not have; send "
            "the PDF inline as 'file_data' (data:application/pdf;base64,...) or as 'file_url'.",
            f"{where}.file_id",
            "unsupported_parameter",
        )
    data, url = spec.get("file_data"), spec.get("file_url")
    if data is not None and url is not None:
        raise bad("Send either 'file_data' or 'file_url', not both.", where)
    value, key = (data, "file_data") if data is not None else (url, "file_url")
    if not isinstance(value, str | bytes) or not value:  # bytes: cut out of the body (cut.py)
        raise bad(
            "A file needs 'file_data' (data:application/pdf;base64,...) or 'file_url'.",
            f"{where}.file_data",
        )
    filename = spec.get("filename")
    if filename is not None and not isinstance(filename, str):
        raise bad("'filename' must be a string.", f"{where}.filename")
    pages = spec.get("pages")
    parse_pages(pages, f"{where}.pages")  # refused now when malformed
    return DocumentPart(
        param=f"{where}.{key}",
        url=value,
        filename=filename,
        pages=str(pages) if pages is not None else None,
    )
