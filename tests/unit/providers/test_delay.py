"""The one delay parser: every hostile or broken ``Retry-After`` becomes a finite delay in
[0, MAX_DELAY] or nothing, and never reaches ``asyncio.sleep`` or ``math.ceil`` raw."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from visiongate.providers.delay import MAX_DELAY, parse_delay, parse_duration, whole_seconds

NOW = 1_800_000_000.0


def http_date(epoch: float) -> str:
    return format_datetime(datetime.fromtimestamp(epoch, UTC), usegmt=True)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("5", 5.0),
        (" 1.5 ", 1.5),
        ("0", 0.0),
        ("99999999", MAX_DELAY),
        (7, 7.0),
        ("nan", None),
        ("NaN", None),
        ("inf", None),
        ("-inf", None),
        ("-1", None),
        ("1e309", None),
        ("", None),
        ("soon", None),
        ("5 seconds", None),
        ("1" * 5000, None),
        (None, None),
        (True, None),
        (float("nan"), None),
        ([], None),
    ],
)
def test_numbers_are_finite_non_negative_and_clamped(value: object, seconds: float | None) -> None:
    assert parse_delay(value, now=NOW) == seconds


def test_an_http_date_is_the_time_left_until_it() -> None:
    assert parse_delay(http_date(NOW + 30), now=NOW) == 30.0
    assert parse_delay(http_date(NOW - 30), now=NOW) == 0.0  # already past
    assert parse_delay(http_date(NOW + 10 * 86400), now=NOW) == MAX_DELAY
    assert parse_delay("Fri, 31 Dec 9999 23:59:59 GMT", now=NOW) == MAX_DELAY
    assert parse_delay("Mon, 99 Foo 2026 25:61:61 GMT", now=NOW) is None
    assert parse_delay("Wed, 21 Oct 2015 07:28:00", now=NOW) is None  # no zone


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("37s", 37.0), ("0.5s", 0.5), ("nans", None), ("1e309s", None), ("-2s", None), ("2", None)],
)
def test_protobuf_durations(value: str, seconds: float | None) -> None:
    assert parse_duration(value) == seconds


def test_whole_seconds_round_up_and_stay_bounded() -> None:
    assert whole_seconds(0.2) == "1"
    assert whole_seconds(0.0) == "0"
    assert whole_seconds(1e300) == str(math.ceil(MAX_DELAY))
