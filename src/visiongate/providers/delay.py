"""The one reader of "wait this long" values that upstreams send.

A delay from an upstream drives ``asyncio.sleep`` (the retry backoff) and becomes the
``Retry-After`` the client gets, so a hostile or broken value must never reach either
unchecked: ``nan`` and ``inf`` make ``math.ceil`` raise, ``-1`` makes ``sleep`` return at
once, ``1e309`` overflows to ``inf``, and a provider that says "wait a year" would hold a
request for a year. Every place that reads a delay (the ``Retry-After`` header, Gemini's
``google.rpc.RetryInfo``, Anthropic's ``retry-after``) goes through :func:`parse_delay` or
:func:`parse_duration`: finite, not negative, clamped to :data:`MAX_DELAY`; an HTTP date
(RFC 9110 10.2.3) is understood as the time left until it; anything else is ignored.
"""

from __future__ import annotations

import math
import time
from email.utils import parsedate_to_datetime

__all__ = ["MAX_DELAY", "parse_delay", "parse_duration", "whole_seconds"]

# The longest delay passed on to a client: an hour. A provider asking for more is either
# broken or down for long enough that a client should come back on its own schedule.
MAX_DELAY = 3600.0
_LONGEST_TEXT = 64  # a number or an HTTP date is far shorter; anything longer is garbage


def parse_delay(value: object, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: a number of seconds (fractions
    allowed, as some providers send them) or an HTTP date; None when it is neither.

    The answer is finite and within ``[0, MAX_DELAY]``; a date in the past is 0.
    ``now`` (epoch seconds) is for tests.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return _clamp(float(value))
    if not isinstance(value, str) or len(value) > _LONGEST_TEXT:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        return _clamp(float(text))
    except ValueError:
        pass
    return _from_date(text, time.time() if now is None else now)


def parse_duration(value: object) -> float | None:
    """Seconds from a protobuf JSON ``Duration`` (``"37s"``, ``"1.5s"``), as Gemini's
    ``RetryInfo.retryDelay`` carries it; None for anything else."""
    if not isinstance(value, str) or not value.endswith("s") or len(value) > _LONGEST_TEXT:
        return None
    try:
        return _clamp(float(value[:-1]))
    except ValueError:
        return None


def whole_seconds(delay: float) -> str:
    """A delay as ``Retry-After`` wants it, whole seconds rounded up, so a client that waits
    that long is not refused again."""
    return str(math.ceil(min(max(delay, 0.0), MAX_DELAY)))


def _clamp(seconds: float) -> float | None:
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return min(seconds, MAX_DELAY)


def _from_date(text: str, now: float) -> float | None:
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; a naive one is read as such
        return None
    try:
        left = when.timestamp() - now
    except (OverflowError, OSError, ValueError):
        return None
    return min(max(left, 0.0), MAX_DELAY)
