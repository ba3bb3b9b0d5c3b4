"""Real PostgreSQL and Redis for tests, on 127.0.0.1.

``scripts/ensure-services.sh`` (run by ``make test``) installs and starts both when
missing. These helpers never skip: if a service does not answer, the test fails and says
how to start it. Each test run gets its own PostgreSQL database (dropped afterwards) and
each Redis user its own key prefix (deleted afterwards), so runs never see each other.

``VISIONGATE_TEST_POSTGRES`` (an admin DSN, default ``postgresql://postgres@127.0.0.1:5432/
postgres``) and ``VISIONGATE_TEST_REDIS`` (default ``redis://127.0.0.1:6379/0``) point
elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import asyncpg
import pytest
import redis

__all__ = [
    "postgres_admin_dsn",
    "redis_namespace",
    "redis_server_url",
    "temporary_postgres_database",
]

T = TypeVar("T")

_HOW_TO_START = "start it with scripts/ensure-services.sh (or `make test`, which runs it)"


def postgres_admin_dsn() -> str:
    return os.environ.get(
        "VISIONGATE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
    )


def redis_server_url() -> str:
    return os.environ.get("VISIONGATE_TEST_REDIS", "redis://127.0.0.1:6379/0")


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion on a private loop in a thread.

    Fixtures may be set up while pytest-asyncio's loop exists (not running); a thread
    keeps this loop from ever touching that one.
    """
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = asyncio.run(asyncio.wait_for(coro, timeout=30))
        except BaseException as exc:
            result["error"] = exc

    thread = threading.Thread(target=target, name="test-services")
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(postgres_admin_dsn(), timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextlib.contextmanager
def temporary_postgres_database() -> Iterator[str]:
    """A new, empty database for the duration of the block, as a SQLAlchemy asyncpg URL."""
    name = "visiongate_test_" + secrets.token_hex(6)
    admin = postgres_admin_dsn()
    try:
        _run(_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        pytest.fail(f"PostgreSQL is not usable at {admin} ({exc!r}); {_HOW_TO_START}")
    base, _, _ = admin.rpartition("/")
    url = base.replace("postgresql://", "postgresql+asyncpg://", 1) + "/" + name
    try:
        yield url
    finally:
        _run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextlib.contextmanager
def redis_namespace() -> Iterator[tuple[str, str]]:
    """``(redis_url, prefix)``: a random key prefix, every key under it deleted afterwards."""
    url = redis_server_url()
    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        pytest.fail(f"Redis is not reachable at {url} ({exc!r}); {_HOW_TO_START}")
    prefix = f"vgtest:{secrets.token_hex(6)}:"
    try:
        yield url, prefix
    finally:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()
