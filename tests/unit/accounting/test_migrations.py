"""Migrations: a fresh database ends exactly at tables.py, once, even when raced."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.support.services import temporary_postgres_database
from visiongate.accounting.database import open_engine
from visiongate.accounting.migrations import LATEST, current_version, upgrade
from visiongate.accounting.tables import metadata

pytestmark = pytest.mark.timeout(60)


def _shape(conn: sa.Connection) -> dict[str, Any]:
    inspector = sa.inspect(conn)
    shape: dict[str, Any] = {}
    for table in inspector.get_table_names():
        columns = {
            c["name"]: (type(c["type"]).__name__, c["nullable"])
            for c in inspector.get_columns(table)
        }
        indexes = {
            (i["name"], tuple(i["column_names"]), bool(i["unique"]))
            for i in inspector.get_indexes(table)
        }
        shape[table] = (columns, indexes)
    return shape


@pytest.fixture(params=("sqlite", "postgres"))
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    else:
        with temporary_postgres_database() as url:
            yield url


async def test_migrations_build_the_declared_schema(fresh_url: str, tmp_path: Path) -> None:
    migrated = open_engine(fresh_url)
    declared = open_engine(f"sqlite+aiosqlite:///{tmp_path / 'declared.db'}")
    try:
        assert await current_version(migrated) == 0
        assert await upgrade(migrated) == list(range(1, LATEST + 1))
        assert await upgrade(migrated) == []
        assert await current_version(migrated) == LATEST
        async with migrated.connect() as conn:
            got = await conn.run_sync(_shape)
        if fresh_url.startswith("sqlite"):
            async with declared.begin() as conn:
                await conn.run_sync(metadata.create_all)
            async with declared.connect() as conn:
                want = await conn.run_sync(_shape)
            assert got == want
        else:
            assert set(got) == set(metadata.tables)
            for name, table in metadata.tables.items():
                columns, _ = got[name]
                assert set(columns) == {c.name for c in table.c}
                assert {n: c[1] for n, c in columns.items()} == {
                    c.name: c.nullable for c in table.c
                }
    finally:
        await migrated.dispose()
        await declared.dispose()


async def test_concurrent_upgrades_migrate_once(fresh_url: str) -> None:
    engines = [open_engine(fresh_url) for _ in range(4)]
    try:
        results = await asyncio.gather(*(upgrade(e) for e in engines))
        assert sorted(results, key=len) == [[], [], [], list(range(1, LATEST + 1))]
        async with engines[0].connect() as conn:
            rows = (await conn.execute(sa.text("SELECT version FROM schema_migrations"))).all()
        assert [r[0] for r in rows] == list(range(1, LATEST + 1))
    finally:
        for engine in engines:
            await engine.dispose()
