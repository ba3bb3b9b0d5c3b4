"""The memory store (LRU in a byte budget, entries expire) and Cache-Control parsing."""

from __future__ import annotations

import pytest

from visiongate.service.cache import Directives, parse_cache_control
from visiongate.service.cache_store import MemoryStore


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_entries_expire_at_their_ttl() -> None:
    clock = Clock()
    store = MemoryStore(10_000, clock=clock)
    await store.put("a", b"x" * 10, ttl_s=5)
    assert await store.get("a") == b"x" * 10
    clock.now += 5.01
    assert await store.get("a") is None
    assert len(store) == 0 and store.size == 0


async def test_the_least_recently_used_go_first_within_the_budget() -> None:
    store = MemoryStore(370)  # four entries of 91 bytes fit, a fifth does not
    for name in "abcd":
        await store.put(name, b"v" * 90, ttl_s=60)
    assert await store.get("a") is not None  # a is now the most recent
    await store.put("e", b"v" * 90, ttl_s=60)
    assert await store.get("b") is None
    assert all([await store.get(n) for n in "acde"])
    assert store.size <= 370


async def test_an_entry_over_a_quarter_of_the_budget_is_not_kept() -> None:
    store = MemoryStore(400)
    await store.put("big", b"v" * 200, ttl_s=60)
    assert await store.get("big") is None
    await store.put("zero", b"v", ttl_s=0)
    assert await store.get("zero") is None


async def test_putting_a_key_again_replaces_it() -> None:
    store = MemoryStore(1000)
    await store.put("a", b"old", ttl_s=60)
    await store.put("a", b"newer", ttl_s=60)
    assert await store.get("a") == b"newer"
    assert store.size == len("a") + len(b"newer")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, Directives()),
        ("", Directives()),
        ("max-age=60", Directives(max_age=60)),
        ('MAX-AGE="30"', Directives(max_age=30)),
        ("no-cache", Directives(no_cache=True)),
        ("no-store, max-age=5", Directives(max_age=5, no_store=True)),
        ("max-age=-1, private", Directives()),
        ("max-age=abc", Directives()),
        ("max-age=99999999999", Directives(max_age=366 * 24 * 3600)),
    ],
)
def test_cache_control_directives(header: str | None, expected: Directives) -> None:
    assert parse_cache_control(header) == expected
