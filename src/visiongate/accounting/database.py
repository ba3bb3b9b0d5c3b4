"""Opening the accounting database: one async engine, tuned per backend.

SQLite is the zero-configuration default and may be shared by several worker processes,
so it runs in WAL mode (readers never block the writer) with a busy timeout, and write
transactions start with ``BEGIN IMMEDIATE`` so two processes never deadlock upgrading a
read lock. PostgreSQL needs nothing special beyond a pre-ping after a restart.

The SQLite driver (aiosqlite) runs each connection on a thread of its own, which shares
the event loop's core. Writing a second's usage records there competes with the loop for
the CPU, and at saturation that showed as latency spikes (p99 at c=64 between 1.5x and 5x
p50 from run to run; 1.5x with writes turned off). Those threads therefore run at a lower
CPU priority (``nice`` +10 on Linux): they still get about a tenth of a busy core, many
times what the writes need, but no longer preempt the loop (docs/performance.md).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
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
# How much nicer than the event loop the driver's threads run (Linux, per thread).
_THREAD_NICENESS = 10


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
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        _use_wal(cursor, busy_timeout)
        cursor.execute("PRAGMA synchronous=NORMAL")
        # SQL functions run on the thread that executes the statement: the driver's own.
        dbapi_conn.create_function("visiongate_yield_cpu", 0, _yield_cpu)
        cursor.execute("SELECT visiongate_yield_cpu()")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        write = conn.get_execution_options().get(_WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _use_wal(cursor: Any, busy_timeout: float) -> None:
    """Switch the file to WAL, waiting for other connections as a busy timeout would.

    Changing the journal mode of a new database takes an exclusive lock, and SQLite
    answers "database is locked" at once when another connection holds one, without
    asking the busy handler: processes (or engines) opening a new file together failed
    that way about one time in three. The mode is kept in the file, so later
    connections find it set and pass straight through.
    """
    deadline = time.monotonic() + busy_timeout
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)  # on the driver's thread, not the event loop's


def _yield_cpu() -> int:
    """Lower the calling thread's CPU priority below the event loop's; 1 when done.

    Only the calling thread changes (Linux keeps a nice value per thread). Where that is
    not possible (another OS, no permission to change it) nothing changes: this is a
    latency refinement, never a reason to fail a connection.
    """
    tid = threading.get_native_id()
    try:
        current = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(19, current + _THREAD_NICENESS))
    except (AttributeError, OSError):
        return 0
    return 1


@contextlib.asynccontextmanager
async def write_transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A transaction that takes the write lock up front (SQLite) and commits on exit."""
    async with engine.connect() as conn:
        conn = await conn.execution_options(**{_WRITE_OPTION: True})
        async with conn.begin():
            yield conn
