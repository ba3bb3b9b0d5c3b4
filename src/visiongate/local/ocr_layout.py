"""Reading order for a page's text boxes: columns one after another, table rows as rows.

The detector finds text lines and pieces of lines, in no order. A page is cut into blocks
the way a reader sees it (a recursive XY cut): first down a clear vertical gutter when the
text on both sides reads like prose columns, otherwise across the widest horizontal gap,
and again inside each part. What a cut cannot split is a block; its boxes form rows (boxes
that overlap vertically by half their height), read top to bottom, left to right.

Two columns of prose and a table both have clean vertical gutters. They differ in what is
between the gutters: prose lines are long (a dozen characters and more, in three or more
rows on each side), table cells short. So a gutter with long lines on both sides is cut
(each column read to its end before the next), and anything else stays one block whose
rows keep their cells together: two boxes further apart than a line's height (no word
space is that wide) are separated by `` | ``, so a table's row reads as a row.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence

from visiongate.local.ocr_reader import TextBox

__all__ = ["CELL_SEPARATOR", "page_lines"]

CELL_SEPARATOR = " | "
_SAME_ROW = 0.5  # vertical overlap, over the smaller height, that puts two boxes in a row
_CELL_GAP = 1.0  # a horizontal gap wider than this many line heights separates cells
_PROSE_CHARS = 12  # median characters per box on each side of a column gutter
_PROSE_ROWS = 3  # rows needed on each side of a column gutter
_MIN_GAP = 0.3  # horizontal cuts need a gap of this many line heights


def page_lines(boxes: Sequence[TextBox]) -> list[str]:
    """The page's text as lines in reading order."""
    lines: list[str] = []
    for block in _blocks(list(boxes)):
        lines += [_join(row) for row in _rows(block)]
    return lines


def _rows(boxes: list[TextBox]) -> list[list[TextBox]]:
    rows: list[list[TextBox]] = []
    spans: list[tuple[float, float]] = []
    for box in sorted(boxes, key=lambda b: (b.top, b.left)):
        if rows:
            top, bottom = spans[-1]
            overlap = min(bottom, box.bottom) - max(top, box.top)
            if overlap >= _SAME_ROW * max(1.0, min(bottom - top, box.height)):
                rows[-1].append(box)
                spans[-1] = (min(top, box.top), max(bottom, box.bottom))
                continue
        rows.append([box])
        spans.append((box.top, box.bottom))
    return [sorted(row, key=lambda b: b.left) for row in rows]


def _join(row: list[TextBox]) -> str:
    height = statistics.median(b.height for b in row)
    parts = [row[0].text]
    for before, box in itertools.pairwise(row):
        gap = box.left - before.right
        parts.append(CELL_SEPARATOR if gap > _CELL_GAP * height else " ")
        parts.append(box.text)
    return "".join(parts)


def _blocks(boxes: list[TextBox]) -> list[list[TextBox]]:
    if len(boxes) < 2:
        return [boxes] if boxes else []
    columns = _column_cut(boxes)
    if columns:
        return [block for side in columns for block in _blocks(side)]
    bands = _band_cut(boxes)
    if bands:
        return [block for band in bands for block in _blocks(band)]
    return [boxes]


def _gaps(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The empty stretches between the union of the given intervals."""
    gaps = []
    spans = sorted(spans)
    reach = spans[0][1]
    for start, end in spans[1:]:
        if start > reach:
            gaps.append((reach, start))
        reach = max(reach, end)
    return gaps


def _column_cut(boxes: list[TextBox]) -> tuple[list[TextBox], list[TextBox]] | None:
    """Left and right of the widest vertical gutter with prose on both sides, if any."""
    best = None
    for x0, x1 in _gaps([(b.left, b.right) for b in boxes]):
        left = [b for b in boxes if b.right <= x0]
        right = [b for b in boxes if b.left >= x1]
        if _prose(left) and _prose(right) and (best is None or x1 - x0 > best[0]):
            best = (x1 - x0, left, right)
    return (best[1], best[2]) if best else None


def _prose(boxes: list[TextBox]) -> bool:
    if len(_rows(boxes)) < _PROSE_ROWS:
        return False
    return statistics.median(len(b.text) for b in boxes) >= _PROSE_CHARS


def _band_cut(boxes: list[TextBox]) -> tuple[list[TextBox], list[TextBox]] | None:
    """Above and below the widest horizontal gap (of at least a third of a line), if any."""
    height = statistics.median(b.height for b in boxes)
    gaps = [
        g for g in _gaps([(b.top, b.bottom) for b in boxes]) if g[1] - g[0] >= _MIN_GAP * height
    ]
    if not gaps:
        return None
    y0, y1 = max(gaps, key=lambda g: g[1] - g[0])
    return [b for b in boxes if b.bottom <= y0], [b for b in boxes if b.top >= y1]
