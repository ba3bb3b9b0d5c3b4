"""The fetched-image cache: one copy per body, byte-budgeted LRU, URL cap, per-URL TTL."""

from __future__ import annotations

from visiongate.images.cache import ImageCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_put_url_is_served_until_its_ttl() -> None:
    clock = Clock()
    cache = ImageCache(max_bytes=1000, ttl=60, clock=clock)
    cache.put("https://a/1.png", b"x" * 10)
    clock.now += 59
    assert cache.get("https://a/1.png") == b"x" * 10
    clock.now += 2
    assert cache.get("https://a/1.png") is None
    assert cache.size == 0 and len(cache) == 0


def test_urls_with_the_same_content_share_one_copy() -> None:
    cache = ImageCache(max_bytes=1000, ttl=60)
    body = b"y" * 300
    cache.put("https://cdn1/img.png", body)
    cache.put("https://cdn2/img.png?sig=abc", bytes(body))
    assert cache.size == 300
    assert cache.get("https://cdn1/img.png") is cache.get("https://cdn2/img.png?sig=abc")


def test_least_recently_used_bytes_are_evicted_first() -> None:
    cache = ImageCache(max_bytes=1000, ttl=60)
    cache.put("a", b"a" * 400)
    cache.put("b", b"b" * 400)
    assert cache.get("a") is not None  # a is now more recent than b
    cache.put("c", b"c" * 400)
    assert cache.get("b") is None
    assert cache.get("a") == b"a" * 400 and cache.get("c") == b"c" * 400
    assert cache.size == 800


def test_eviction_removes_every_url_of_the_evicted_bytes() -> None:
    cache = ImageCache(max_bytes=500, ttl=60)
    cache.put("u1", b"s" * 300)
    cache.put("u2", b"s" * 300)
    cache.put("u3", b"t" * 300)
    assert cache.get("u1") is None and cache.get("u2") is None
    assert len(cache) == 1


def test_a_url_whose_content_changed_points_at_the_new_bytes() -> None:
    cache = ImageCache(max_bytes=1000, ttl=60)
    cache.put("u", b"old" * 10)
    cache.put("u", b"new" * 10)
    assert cache.get("u") == b"new" * 10
    assert cache.size == 30  # the old bytes had no other URL and were dropped


def test_bodies_larger_than_the_budget_and_disabled_caches_store_nothing() -> None:
    cache = ImageCache(max_bytes=100, ttl=60)
    cache.put("big", b"z" * 101)
    assert cache.get("big") is None and cache.size == 0
    off = ImageCache(max_bytes=0, ttl=60)
    off.put("u", b"z")
    assert off.get("u") is None


def test_expired_urls_are_swept_on_put() -> None:
    clock = Clock()
    cache = ImageCache(max_bytes=10_000, ttl=10, clock=clock)
    for i in range(50):
        cache.put(f"u{i}", bytes([i]) * 10)
    clock.now += 11
    cache.put("fresh", b"f" * 10)
    assert len(cache) == 1 and cache.size == 10


def test_bodies_of_the_same_length_are_shared_only_when_equal() -> None:
    cache = ImageCache(max_bytes=1000, ttl=60)
    cache.put("a", b"\xff\xd8" + b"a" * 98)
    cache.put("b", b"\xff\xd8" + b"b" * 98)  # same length, same start, other bytes
    cache.put("c", b"\xff\xd8" + b"a" * 98)
    assert cache.size == 200
    assert cache.get("a") is cache.get("c") and cache.get("b") == b"\xff\xd8" + b"b" * 98


def test_the_number_of_urls_is_capped_oldest_first() -> None:
    cache = ImageCache(max_bytes=1000, ttl=600, max_urls=3)
    body = b"p" * 100
    for i in range(5):  # one image behind ever new cache-busting URLs
        cache.put(f"https://img/p.png?v={i}", body)
    assert len(cache) == 3 and cache.size == 100
    assert cache.get("https://img/p.png?v=1") is None
    assert cache.get("https://img/p.png?v=4") == body


def test_a_url_dropped_by_the_cap_frees_a_body_nothing_else_uses() -> None:
    cache = ImageCache(max_bytes=1000, ttl=600, max_urls=2)
    for name in ("x", "y", "z"):
        cache.put(name, name.encode() * 100)
    assert len(cache) == 2 and cache.size == 200 and cache.get("x") is None


def test_the_url_cap_follows_the_byte_budget_by_default() -> None:
    assert ImageCache(max_bytes=128 * 1024 * 1024, ttl=600).max_urls == 8192
    assert ImageCache(max_bytes=1000, ttl=600).max_urls == 1024
