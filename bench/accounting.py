"""What accounting adds to each request: authenticate + admit + settle + record, in µs.

Calls the ``Accounts`` facade directly in a loop, the way the request path does, for each
combination of limiter (memory, Redis) and database (SQLite, PostgreSQL):

- ``hot path``: the four calls a request makes, with a database key (cached after the
  first request) that has rpm and tpm limits, so the limiter runs every time;
- ``+ writing``: the same, plus the time the background writer spends storing the usage
  records (the loop runs until every record is in the database), divided per request;
- ``static key``: a ``VISIONGATE_API_KEYS`` key without limits (the cheapest path);
- ``auth``: ``authenticate`` alone, for the cached database key (or the static key).

Usage: ``python bench/accounting.py [-n 20000] [--postgres DSN] [--redis URL]``. PostgreSQL
and Redis default to the local test services (``scripts/ensure-services.sh``); a temporary
database is created and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
from redis.asyncio import Redis

from visiongate.accounting import Accounts, UsageRecord
from visiongate.accounting.keystore import KeySpec
from visiongate.core.catalog import ImageLimits, ModelEntry
from visiongate.settings import Settings

MODEL = ModelEntry(id="gpt-4o", provider="openai", upstream="gpt-4o", image=ImageLimits())


@contextlib.asynccontextmanager
async def temporary_database(admin_dsn: str) -> AsyncIterator[str]:
    name = "visiongate_bench_" + secrets.token_hex(4)
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base = admin_dsn.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        conn = await asyncpg.connect(admin_dsn)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


def _record(i: int, key_id: str) -> UsageRecord:
    return UsageRecord(
        request_id=f"bench-{i}",
        key_id=key_id,
        model="gpt-4o",
        provider="openai",
        upstream_model="gpt-4o-2024-08-06",
        status=200,
        error_code=None,
        prompt_tokens=900,
        completion_tokens=100,
        image_tokens=765,
        images=1,
        image_bytes=120_000,
        latency_ms=850.0,
        cost_usd=0.00325,
    )


async def measure(settings: Settings, n: int, static: bool) -> tuple[float, float, float]:
    """(authenticate alone, hot path, hot path + writing), µs per request."""
    accounts = Accounts(settings)
    await accounts.start()
    try:
        if static:
            header = "Bearer bench-static-key"
        else:
            key, _ = await accounts.keys.create(
                KeySpec("bench", rpm=10**9, tpm=10**12, budget_usd=10**9)
            )
            header = f"Bearer {key}"
        principal = await accounts.authenticate(header)
        for _ in range(200):  # warm up: caches, pools, prepared statements
            admission = await accounts.admit(principal, MODEL, 2000)
            await accounts.settle(admission, 1765)
        await accounts.flush()
        started = time.perf_counter()
        for _ in range(n):
            await accounts.authenticate(header)
        auth = time.perf_counter() - started
        started = time.perf_counter()
        for i in range(n):
            principal = await accounts.authenticate(header)
            admission = await accounts.admit(principal, MODEL, 2000)
            await accounts.settle(admission, 1765)
            accounts.record(_record(i, principal.key_id))
        hot = time.perf_counter() - started
        await accounts.flush()
        total = time.perf_counter() - started
    finally:
        await accounts.close()
    return auth / n * 1e6, hot / n * 1e6, total / n * 1e6


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=20000, help="requests per run")
    parser.add_argument("--runs", type=int, default=3, help="runs per case (median reported)")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()

    prefix = f"visiongate-bench-{secrets.token_hex(4)}:"
    print(f"{'case':<34}{'auth µs':>10}{'hot path µs':>14}{'+ writing µs':>16}")
    with tempfile.TemporaryDirectory() as tmp:
        async with temporary_database(args.postgres) as pg_url:
            databases = {
                "SQLite": f"sqlite+aiosqlite:///{Path(tmp) / 'b.db'}",
                "PostgreSQL": pg_url,
            }
            cases = [
                (f"{limiter} limits, {db}", db_url, redis_url, False)
                for db, db_url in databases.items()
                for limiter, redis_url in (("memory", None), ("Redis", args.redis))
            ]
            cases.append(("static key, no limits, SQLite", databases["SQLite"], None, True))
            for name, db_url, redis_url, static in cases:
                settings = Settings(
                    data_dir=Path(tmp),
                    database_url=db_url,
                    redis_url=redis_url,
                    redis_prefix=prefix,
                    api_keys=["bench-static-key"],
                    usage_flush_interval=1.0,
                )
                runs = [await measure(settings, args.n, static) for _ in range(args.runs)]
                auth, hot, total = (statistics.median(r[i] for r in runs) for i in range(3))
                print(f"{name:<34}{auth:>10.1f}{hot:>14.1f}{total:>16.1f}", flush=True)
    redis = Redis.from_url(args.redis)
    try:
        await redis.ping()
        started = time.perf_counter()
        for _ in range(2000):
            await redis.ping()
        rtt = (time.perf_counter() - started) / 2000 * 1e6
        print(f"(reference: one Redis PING round trip from redis-py here takes {rtt:.1f} µs)")
        keys = [k async for k in redis.scan_iter(match=prefix + "*")]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()


if __name__ == "__main__":
    asyncio.run(main())
