"""A model's ``cache`` table is checked as strictly as the rest of the catalog."""

from __future__ import annotations

import pytest

from visiongate.core.catalog import CacheConfig, load_catalog


def model_with(cache: object):  # type: ignore[no-untyped-def]
    return load_catalog({"models": {"gpt-4o": {"cache": cache}}}, environ={}).models["gpt-4o"]


def test_a_cache_table() -> None:
    assert model_with({"ttl_s": 3600}).cache == CacheConfig(3600)
    full = model_with({"ttl_s": 60, "shared": True, "cache_incomplete": True}).cache
    assert full == CacheConfig(60, shared=True, cache_incomplete=True)
    assert model_with({"ttl_s": 0}).cache is None
    assert model_with({}).cache is None
    assert load_catalog(environ={}).models["gpt-4o"].cache is None  # off by default


@pytest.mark.parametrize(
    ("cache", "message"),
    [
        ({"ttl": 60}, "unknown cache keys"),
        ({"ttl_s": -1}, "ttl_s must be"),
        ({"ttl_s": "60"}, "ttl_s must be"),
        ({"ttl_s": True}, "ttl_s must be"),
        ({"ttl_s": 60, "shared": "yes"}, "cache.shared must be"),
        (60, "cache must be a table"),
    ],
)
def test_a_wrong_cache_table_fails_loudly(cache: object, message: str) -> None:
    with pytest.raises(ValueError, match=f"model 'gpt-4o': .*{message}"):
        model_with(cache)


def test_a_route_has_a_cache_table_checked_the_same_way() -> None:
    routes = {"vision": {"targets": ["gpt-4o"], "cache": {"ttl_s": 60, "shared": True}}}
    catalog = load_catalog({"routes": routes}, environ={})
    assert catalog.routes["vision"].cache == CacheConfig(60, shared=True)
    with pytest.raises(ValueError, match="route 'vision': unknown cache keys"):
        load_catalog({"routes": {"vision": {"targets": ["gpt-4o"], "cache": {"x": 1}}}}, environ={})
