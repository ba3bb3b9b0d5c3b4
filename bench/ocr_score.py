"""How close an OCR answer is to a page's own text layer: CER, word recall, lines lost.

The reference is ``pdftotext`` of the same PDF page, so nobody typed it and nothing is
judged by eye. Both sides are normalised the same way first (NFKC, so the ``fi`` ligature
is two letters; typographic quotes and dashes as ASCII, which no OCR of a 150 dpi page can
tell apart; whitespace runs as one space): the score is about the characters, not about how
a PDF happens to encode them or how an OCR lays out its spaces and line breaks.

Edit distances run row by row in numpy (the insertion term along a row is a running
minimum, ``j + min.accumulate(t - j)``), so a 4,000-character page scores in well under a
second without a compiled Levenshtein package.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass

import numpy as np

__all__ = ["PageScore", "cer", "normalise", "score_page"]

_ASCII = str.maketrans(
    {
        "‘": "'",
        "’": "'",
        "“": '"',
        "”": '"',
        "–": "-",
        "—": "-",
        "−": "-",
        "‐": "-",
        "•": " ",
        "\u00a0": " ",
    }
)
_WORD = re.compile(r"[A-Za-z]{3,}")
_LOST = 0.5  # a reference line whose best match needs edits for over half of it is lost


@dataclass(frozen=True, slots=True)
class PageScore:
    """One page: errors over reference characters, words found, lines lost (counts)."""

    ref_chars: int
    edits: int
    ref_words: int
    words_found: int
    ref_lines: int
    lines_lost: int


def normalise(text: str) -> str:
    """The text as scored: NFKC, ASCII quotes and dashes, whitespace runs as one space."""
    text = unicodedata.normalize("NFKC", text).translate(_ASCII)
    return " ".join(text.split())


def _codes(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)


def _distance(ref: str, hyp: str, *, substring: bool) -> int:
    """Edits that turn ``ref`` into ``hyp`` (or, with ``substring``, into the best-matching
    stretch of ``hyp``: free start and end, Sellers' algorithm)."""
    b = _codes(hyp)
    cols = np.arange(len(b) + 1, dtype=np.int64)
    row = np.zeros(len(b) + 1, dtype=np.int64) if substring else cols.copy()
    for ch in _codes(ref):
        t = np.empty_like(row)
        t[0] = row[0] + 1  # every reference character so far deleted
        t[1:] = np.minimum(row[1:] + 1, row[:-1] + (b != ch))
        row = cols + np.minimum.accumulate(t - cols)
    return int(row.min() if substring else row[-1])


def cer(ref: str, hyp: str) -> float:
    """Character error rate of ``hyp`` against ``ref`` after :func:`normalise`."""
    ref, hyp = normalise(ref), normalise(hyp)
    return _distance(ref, hyp, substring=False) / max(1, len(ref))


def score_page(ref: str, hyp: str, *, ignore: str = "") -> PageScore:
    """Score one OCR answer against the page's text layer.

    ``ignore`` is a regular expression for layout marks the OCR adds and the text layer
    cannot have (``local/ocr``'s `` | `` between table cells): they are removed from the
    answer before scoring, everything else counts.
    """
    if ignore:
        hyp = re.sub(ignore, " ", hyp)
    ref_n, hyp_n = normalise(ref), normalise(hyp)
    ref_words = Counter(_WORD.findall(ref_n))
    found = ref_words & Counter(_WORD.findall(hyp_n))
    lines = [normalise(line) for line in ref.splitlines()]
    lines = [line for line in lines if len(line) >= 3]
    lost = sum(1 for line in lines if _distance(line, hyp_n, substring=True) > _LOST * len(line))
    return PageScore(
        ref_chars=len(ref_n),
        edits=_distance(ref_n, hyp_n, substring=False),
        ref_words=sum(ref_words.values()),
        words_found=sum(found.values()),
        ref_lines=len(lines),
        lines_lost=lost,
    )
