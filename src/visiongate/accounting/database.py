"""Opening the accounting database: one async engine, tuned per backend.

SQLite is the zero-configuration default and may be shared by several worker processes,
so it runs in WAL mode (readers never block the writer) with a busy timeout, and write
transactions start with ``BEGIN IMMEDIATE`` so two processes never deadlock upgrading a
read lock. PostgreSQL needs nothing special beyond a pre-ping after a restart.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

__all__ = ["display_url", "is_sqlite", "open_engine", "write_transaction"]

_BUSY_TIMEOUT_S = 30.0
_WRITE_OPTION = "visiongate_write"


def is_sqlite(engine_or_url: AsyncEngine | str) -> bool:
    url = engine_or_url if isinstance(engine_or_url, str) else str(engine_or_url.url)
    return make_url(url).get_backend_name() == "sqlite"


def display_url(url: str) -> str:
    """The URL with any password masked, for logs and messages."""
    return make_url(url).render_as_string(hide_password=True)


def open_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine for ``url``; creates the SQLite file's folder when needed."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        kwargs.setdefault("pool_pre_ping", True)
        return create_async_engine(url, **kwargs)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    busy_timeout = kwargs.setdefault("connect_args", {}).setdefault("timeout", _BUSY_TIMEOUT_S)
    engine = create_async_engine(url, **kwargs)
    _tune_sqlite(engine, busy_timeout)
    return engine


def _tune_sqlite(engine: AsyncEngine, busy_timeout: float) -> None:
    # The driver's own implicit transactions are turned off so that we choose how each
    # transaction begins (SQLAlchemy's documented recipe for pysqlite/aiosqlite).
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        write = conn.get_execution_options().get(_WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


@contextlib.asynccontextmanager
async def write_transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A transaction that takes the write lock up front (SQLite) and commits on exit."""
    async with engine.connect() as conn:
        conn = await conn.execution_options(**{_WRITE_OPTION: True})
        async with conn.begin():
            yield conn
