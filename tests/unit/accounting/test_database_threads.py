"""SQLite's driver threads run below the event loop's CPU priority (Linux keeps one per thread)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from visiongate.accounting.database import open_engine

pytestmark = pytest.mark.timeout(20)


def _niceness() -> dict[int, int]:
    """Each thread of this process and its nice value, read from /proc."""
    out = {}
    for tid in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{tid}/stat") as fh:
            fields = fh.read().rpartition(")")[2].split()
        out[int(tid)] = int(fields[16])  # field 19 of stat: nice
    return out


async def test_the_driver_thread_is_nicer_than_the_loop(tmp_path: Path) -> None:
    before = _niceness()
    loop_thread = threading.get_native_id()
    engine = open_engine(f"sqlite+aiosqlite:///{tmp_path / 'n.db'}")
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(sa.text("SELECT 1"))).scalar() == 1
            after = _niceness()
    finally:
        await engine.dispose()
    new = {tid: nice for tid, nice in after.items() if tid not in before}
    assert new, "the driver should have started a thread for the connection"
    base = after[loop_thread]
    assert base == before[loop_thread]  # the loop's own priority is untouched
    assert all(nice == min(19, base + 10) for nice in new.values()), (base, new)
