"""The batched usage writer: nothing lost while the database is locked, then written."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from visiongate.accounting.database import open_engine
from visiongate.accounting.migrations import upgrade
from visiongate.accounting.tables import usage
from visiongate.accounting.usage import UsageRecord, UsageWriter

pytestmark = pytest.mark.timeout(60)


def _rec(i: int) -> UsageRecord:
    return UsageRecord(f"r{i}", "key_abc", "local/ocr", "local", "ocr", 200, None, cost_usd=0.5)


async def test_records_wait_out_a_locked_database(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    engine = open_engine(f"sqlite+aiosqlite:///{path}", connect_args={"timeout": 0.1})
    await upgrade(engine)
    writer = UsageWriter(engine, interval=0.05)
    writer.start()
    blocker = sqlite3.connect(path, isolation_level=None)
    try:
        blocker.execute("BEGIN EXCLUSIVE")
        for i in range(20):
            writer.add(_rec(i))
        await asyncio.sleep(0.5)  # several flushes fail with "database is locked"
        assert writer.pending == 20
        assert writer.pending_cost("key_abc") == pytest.approx(10.0)
        blocker.execute("ROLLBACK")
        # Bounded, not timed: a loaded CI machine may need more than a few flushes.
        for _ in range(600):
            if writer.pending == 0:
                break
            await asyncio.sleep(0.05)
        assert writer.pending == 0 and writer.pending_cost("key_abc") == 0.0
        await writer.close()
        async with engine.connect() as conn:
            count = await conn.execute(sa.select(sa.func.count()).select_from(usage))
            assert count.scalar_one() == 20
    finally:
        blocker.close()
        await engine.dispose()


async def test_add_never_raises_and_bounds_the_queue(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite+aiosqlite:///{tmp_path / 'q.db'}")
    await upgrade(engine)
    writer = UsageWriter(engine, interval=3600, max_pending=5)
    try:
        for i in range(8):
            writer.add(_rec(i))
        writer.add(object())  # type: ignore[arg-type]  # a caller bug must not raise
        assert writer.pending == 5
        assert await writer.flush() == 5
    finally:
        await writer.close()
        await engine.dispose()
