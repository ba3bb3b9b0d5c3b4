"""Fixtures for the accounting tests: each database backend and each limiter, for real."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.support.services import redis_namespace, temporary_postgres_database
from visiongate.accounting.database import open_engine
from visiongate.accounting.limits import Limiter, MemoryLimiter
from visiongate.accounting.migrations import upgrade
from visiongate.accounting.redis_limits import RedisLimiter
from visiongate.settings import Settings

DATABASES = ("sqlite", "postgres")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """One PostgreSQL database for the whole run, dropped at the end."""
    with temporary_postgres_database() as url:
        yield url


@pytest.fixture
def redis_ns() -> Iterator[tuple[str, str]]:
    with redis_namespace() as ns:
        yield ns


@pytest.fixture(params=DATABASES)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty, migrated database of each kind (PostgreSQL tables emptied per test)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'accounts.db'}"
        return
    url = request.getfixturevalue("postgres_url")
    engine = open_engine(url)
    try:
        await upgrade(engine)
        async with engine.begin() as conn:
            await conn.execute(sa.text("TRUNCATE api_keys, usage"))
    finally:
        await engine.dispose()
    yield url


@pytest.fixture
def settings_for(database_url: str, tmp_path: Path) -> Callable[..., Settings]:
    """Settings on the parametrised database; keyword arguments override fields."""

    def make(**overrides: object) -> Settings:
        values: dict[str, object] = {
            "data_dir": tmp_path,
            "database_url": database_url,
            "api_keys": ["static-test-key"],
            "usage_flush_interval": 0.05,
        }
        values.update(overrides)
        return Settings(**values)  # type: ignore[arg-type]

    return make


@pytest.fixture(params=("memory", "redis"))
async def make_limiter(
    request: pytest.FixtureRequest,
) -> AsyncIterator[Callable[[float], Limiter]]:
    """A factory of limiters of each kind with a given window (seconds)."""
    made: list[Limiter] = []
    ns = request.getfixturevalue("redis_ns") if request.param == "redis" else None

    def make(window_s: float = 60.0) -> Limiter:
        limiter: Limiter
        if ns is None:
            limiter = MemoryLimiter(window_s)
        else:
            limiter = RedisLimiter.from_url(ns[0], ns[1], window_s)
        made.append(limiter)
        return limiter

    yield make
    for limiter in made:
        await limiter.close()
