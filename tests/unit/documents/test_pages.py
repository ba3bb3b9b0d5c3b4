"""The ``pages`` extension: "1-3,7" parsed once, malformed values refused up front."""

from __future__ import annotations

import pytest

from visiongate.documents.pages import parse_pages
from visiongate.errors import InvalidRequest


@pytest.mark.parametrize(
    ("value", "ranges"),
    [
        ("1-3,7", ((1, 3), (7, 7))),
        (" 2 , 5- ", ((2, 2), (5, None))),
        (4, ((4, 4),)),
        ("1-1", ((1, 1),)),
    ],
)
def test_page_lists_and_ranges(value: object, ranges: tuple) -> None:
    selection = parse_pages(value, "p")
    assert selection is not None and selection.ranges == ranges


def test_no_selection_is_none() -> None:
    assert parse_pages(None, "p") is None


@pytest.mark.parametrize("value", ["", "0", "3-1", "a", "1-b", "-3", "1,,2", True, 2.5, "1" * 2000])
def test_malformed_selections_name_the_param(value: object) -> None:
    with pytest.raises(InvalidRequest) as info:
        parse_pages(value, "messages[0].content[1].file.pages")
    assert info.value.param == "messages[0].content[1].file.pages"
    assert "1-3,7" in info.value.message
