"""An image sent again is converted once: the second request reuses the first's result."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.support.images import data_url
from tests.unit.images.helpers import decode, make_settings, photo, request_with
from visiongate.core.catalog import ModelEntry
from visiongate.images import ImagePipeline
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
    assert a.base64() == b.b64
    assert max(decode(b.data).size) <= 1568  # type: ignore[arg-type]
    assert max(low.width, low.height) < max(b.width, b.height)  # another plan, another entry


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
