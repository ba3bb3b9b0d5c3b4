"""An image sent again is converted once: the second request reuses the first's result."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable

import pytest

from tests.support.images import data_url
from tests.unit.images.helpers import decode, make_settings, photo, request_with
from visiongate.core.catalog import ModelEntry
from visiongate.images import ImagePipeline, ingest
from visiongate.images.fit import FitPlan, Fitted
from visiongate.images.fit_cache import FitCache

pytestmark = pytest.mark.timeout(60)
Model = Callable[[str], ModelEntry]


async def test_a_resent_image_is_not_converted_again(model: Model) -> None:
    big = data_url(photo((3000, 2000)), "image/jpeg")
    pipeline = ImagePipeline(make_settings())
    try:
        first = request_with(big)
        stats1 = await pipeline.prepare(first, model("claude-3-5-sonnet-20241022"))
        second = request_with(big)
        stats2 = await pipeline.prepare(second, model("claude-3-5-sonnet-20241022"))
        other = request_with(big, detail="low")
        await pipeline.prepare(other, model("claude-3-5-sonnet-20241022"))
    finally:
        await pipeline.close()
    a, b, low = first.images[0], second.images[0], other.images[0]
    assert stats1.converted == stats2.converted == 1
    assert a.data is b.data  # the very same converted bytes, not a second conversion
    assert a.url is b.url  # and the same data URL, built once
    assert b.data_url() is b.url and b.base64() == base64.b64encode(b.data or b"")
    assert max(decode(b.data).size) <= 1568  # type: ignore[arg-type]
    assert max(low.width, low.height) < max(b.width, b.height)  # another plan, another entry


async def test_an_image_twice_in_one_request_is_converted_once(
    model: Model, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest, "_usable_cores", lambda: 1)
    big = data_url(photo((3000, 2000)), "image/jpeg")
    request = request_with(big, (big + " ")[:-1])  # equal text, two objects, as parsed
    pipeline = ImagePipeline(make_settings())
    try:
        stats = await pipeline.prepare(request, model("claude-3-5-sonnet-20241022"))
    finally:
        await pipeline.close()
    a, b = request.images
    assert stats.converted == 2 and a.data is b.data  # the second waited and found the first


async def test_conversions_run_one_per_core_at_a_time(
    model: Model, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest, "_usable_cores", lambda: 1)
    running, most = 0, 0
    lock = threading.Lock()
    real = ingest.apply_fit

    def counting(*args: object) -> Fitted:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.05)  # long enough for a second conversion to start if it may
        try:
            return real(*args)  # type: ignore[arg-type]
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(ingest, "apply_fit", counting)
    urls = [data_url(photo((2000 + i, 1800)), "image/jpeg") for i in range(3)]
    pipeline = ImagePipeline(make_settings())
    try:
        stats = await pipeline.prepare(request_with(*urls), model("claude-3-5-sonnet-20241022"))
    finally:
        await pipeline.close()
    assert stats.converted == 3 and most == 1


def _fitted(n: int) -> Fitted:
    return Fitted(data=b"x" * n, format="jpeg", width=1, height=1)


def test_budget_evicts_the_least_recently_used() -> None:
    plan = FitPlan(size=(1, 1), formats=("jpeg",), max_bytes=10, lossless=False, reasons=("t",))
    cache = FitCache(max_bytes=1000)
    cache.put(b"a" * 100, plan, _fitted(50), "b64")
    cache.put(b"b" * 100, plan, _fitted(50), "b64")
    assert cache.get(b"a" * 100, plan) is not None  # a is now the most recent
    for i in range(5):
        cache.put(bytes([i]) * 100, plan, _fitted(50), "b64")
    assert cache.size <= 1000
    assert cache.get(b"b" * 100, plan) is None
    cache.put(b"z" * 400, plan, _fitted(50), "b64")  # over a quarter of the budget: skipped
    assert cache.get(b"z" * 400, plan) is None


def test_a_source_with_the_same_length_and_ends_is_not_taken_for_another() -> None:
    plan = FitPlan(size=(1, 1), formats=("jpeg",), max_bytes=10, lossless=False, reasons=("t",))
    cache = FitCache(max_bytes=1_000_000)
    first = b"a" * 5000 + b"1" + b"a" * 5000
    other = b"a" * 5000 + b"2" + b"a" * 5000  # differs only in the middle
    cache.put(first, plan, _fitted(50), "one")
    assert cache.get(other, plan) is None
    assert cache.get(bytes(bytearray(first)), plan) == (_fitted(50), "one")  # equal, not same
    cache.put(other, plan, _fitted(60), "two")  # takes the slot over
    assert cache.get(other, plan) == (_fitted(60), "two") and cache.get(first, plan) is None
    assert cache.size == len(other) + 60 + 3


def test_text_and_bytes_with_the_same_characters_are_different_sources() -> None:
    plan = FitPlan(size=(1, 1), formats=("jpeg",), max_bytes=10, lossless=False, reasons=("t",))
    cache = FitCache(max_bytes=1_000_000)
    cache.put("QUJD" * 2000, plan, _fitted(50), "b64")
    assert cache.get(b"QUJD" * 2000, plan) is None
    assert cache.get("QUJD" * 2000, plan) is not None
