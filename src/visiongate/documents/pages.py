"""The ``pages`` extension on a file part: ``"1-3,7"`` picks pages before anything is sent.

Page numbers are 1-based as people write them; ranges are inclusive; ``"5-"`` runs to
the last page. The selection is parsed when the request is (a malformed one is refused
before any work), and checked against the page count once the PDF is open
(``pdfium.py``), where a page past the end is refused rather than silently dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

from visiongate.errors import InvalidRequest

__all__ = ["PageSelection", "parse_pages"]

_MAX_SPEC = 1000  # characters; a longer "pages" value is not a page list anyone writes


@dataclass(frozen=True, slots=True)
class PageSelection:
    """Inclusive 1-based ranges, in the order given; ``None`` as an end: the last page."""

    ranges: tuple[tuple[int, int | None], ...]
    text: str


def parse_pages(value: object, param: str) -> PageSelection | None:
    """``None`` for no selection; raises InvalidRequest naming ``param`` when ``value`` is
    not a string like ``"1-3,7"`` (or an integer page number)."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip() or len(value) > _MAX_SPEC:
        raise _bad(param)
    ranges: list[tuple[int, int | None]] = []
    for piece in value.split(","):
        first_text, dash, last_text = piece.strip().partition("-")
        first = _number(first_text, param)
        if not dash:
            ranges.append((first, first))
            continue
        last = None if not last_text.strip() else _number(last_text, param)
        if last is not None and last < first:
            raise _bad(param)
        ranges.append((first, last))
    return PageSelection(tuple(ranges), value.strip())


def _number(text: str, param: str) -> int:
    text = text.strip()
    if not text.isdigit() or not text.isascii() or int(text) < 1:
        raise _bad(param)
    return int(text)


def _bad(param: str) -> InvalidRequest:
    return InvalidRequest(
        '\'pages\' must list 1-based page numbers and ranges, such as "1-3,7" or "5-".',
        param=param,
    )
