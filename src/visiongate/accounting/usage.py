"""Usage records, written behind the requests in batches.

``add`` only appends to a list, so recording can never slow down or fail a request. A
background task writes what has accumulated every ``interval`` seconds in one transaction
(inserting the rows and adding each key's cost, request count and last use to
``api_keys``); ``close`` writes everything left. A crash therefore loses at most the
records of the last ``interval``; a database that is down keeps records queued (up to
``max_pending``) and retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import operator
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from visiongate.accounting.database import write_transaction
from visiongate.accounting.keys import DB_KEY_ID_PREFIX
from visiongate.accounting.tables import api_keys, usage

__all__ = ["UsageRecord", "UsageWriter"]

log = logging.getLogger(__name__)

_CHUNK = 500
_TEXT_LIMITS = {
    c.name: getattr(c.type, "length", 0) for c in usage.c if getattr(c.type, "length", None)
}


@dataclass(slots=True)
class UsageRecord:
    """One request's outcome: who, which model, how it went, what it used and cost."""

    request_id: str
    key_id: str | None
    model: str
    provider: str | None
    upstream_model: str | None
    status: int
    error_code: str | None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    image_tokens: int = 0
    images: int = 0
    image_bytes: int = 0
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    cost_usd: float = 0.0
    stream: bool = False
    endpoint: str = "chat.completions"  # the surface: chat.completions, responses, messages
    deployment: str | None = None  # the catalog model that served (a route's target)
    attempts: int = 0  # upstream calls made
    fallback: str | None = None  # the fallback that served, if one did
    documents: int = 0  # PDFs in the request
    document_pages: int = 0  # their pages sent (natively or as images)
    document_bytes: int = 0  # their bytes as received
    cache: str | None = None  # the answer cache: hit, miss, bypass; None when not used
    saved_usd: float = 0.0  # a cache hit's cost had the provider answered
    created_at: float = 0.0  # epoch seconds; 0 means "when recorded"


# A queued row is a plain tuple of the record's fields in the table's column order (the
# order of the compiled INSERT's parameters): cheaper to build than a dict, and passed as is
# to the driver's executemany, with no per-row reordering in Python.
Row = tuple[Any, ...]
_FIELDS = tuple(c.name for c in usage.c if not c.primary_key)
if sorted(_FIELDS) != sorted(f.name for f in fields(UsageRecord)):
    raise RuntimeError("UsageRecord's fields and the usage table's columns differ")
_VALUES = operator.attrgetter(*_FIELDS)
_REQUEST_ID, _KEY_ID, _MODEL, _COST, _STREAM, _CREATED = map(
    _FIELDS.index, ("request_id", "key_id", "model", "cost_usd", "stream", "created_at")
)
_TRUNCATED = tuple((_FIELDS.index(name), limit) for name, limit in _TEXT_LIMITS.items())


def _row(record: UsageRecord) -> Row:
    values: Row = _VALUES(record)
    return values if _clean(values) else _cleaned(values)


def _clean(values: Row) -> bool:
    """Whether the values can be stored as they are (the usual case)."""
    if values[_STREAM].__class__ is not bool or not values[_MODEL] or not values[_CREATED]:
        return False
    for index, limit in _TRUNCATED:
        value = values[index]
        if isinstance(value, str) and len(value) > limit:
            return False
    return True


def _cleaned(values: Row) -> Row:
    fixed = list(values)
    # Client-chosen strings (an unknown model id, say) must never make the batch fail.
    for index, limit in _TRUNCATED:
        value = fixed[index]
        if isinstance(value, str) and len(value) > limit:
            fixed[index] = value[:limit]
    fixed[_MODEL] = fixed[_MODEL] or ""
    fixed[_STREAM] = bool(fixed[_STREAM])
    fixed[_CREATED] = fixed[_CREATED] or time.time()
    return tuple(fixed)


class _Insert:
    """The usage INSERT, compiled once for the engine's dialect and run as executemany.

    Executing ``usage.insert()`` with a list of dicts makes SQLAlchemy build each row's
    parameters in Python (about 10 µs a row); the same compiled statement handed to the
    driver with positional rows costs the driver's own executemany and the few type
    conversions the dialect asks for (``bind_processor``), applied here. A conversion that
    gives back a value of the column's own Python type unchanged (SQLite's float for a
    float) is not applied; one that changes the type is (SQLite's bool to int: the driver
    binds an int directly, where a bool costs it a failed adaptation lookup).
    """

    def __init__(self, dialect: sa.Dialect) -> None:
        compiled = usage.insert().compile(dialect=dialect, column_keys=list(_FIELDS))
        self.sql = compiled.string
        self._positional = bool(compiled.positional)
        names = list(compiled.positiontup or ()) if self._positional else list(_FIELDS)
        if sorted(names) != sorted(_FIELDS):
            raise RuntimeError(f"unexpected usage insert parameters: {names}")
        self._order = None if names == list(_FIELDS) else [_FIELDS.index(n) for n in names]
        columns = {c.name: c for c in usage.c}
        processors = []
        for position, name in enumerate(names):
            kind = columns[name].type
            processor = kind.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None and not _keeps(processor, kind):
                processors.append((position, processor))
        self._processors = tuple(processors)

    def parameters(self, rows: list[Row]) -> list[Any]:
        """The rows as the driver's executemany takes them."""
        if self._order is None and not self._processors and self._positional:
            return rows
        order, processors = self._order, self._processors
        out: list[Any] = []
        for row in rows:
            values = [row[i] for i in order] if order is not None else list(row)
            for position, processor in processors:
                values[position] = processor(values[position])
            if self._positional:
                out.append(tuple(values))
            else:
                out.append(dict(zip(_FIELDS, values, strict=True)))
        return out


_SAMPLES: dict[type, tuple[Any, ...]] = {float: (0.5, 1e-9, 1e12), bool: (True, False)}


def _keeps(processor: Callable[[Any], Any], kind: sa.types.TypeEngine[Any]) -> bool:
    """Whether ``processor`` gives back what it is given, of the same type, for the
    values a row holds in a column of ``kind`` (rows hold that type or None there; an int
    where a float goes is stored as a float by both drivers)."""
    try:
        samples = _SAMPLES.get(kind.python_type)
    except NotImplementedError:
        return False
    if samples is None:
        return False
    try:
        return processor(None) is None and all(
            (out := processor(v)) == v and type(out) is type(v) for v in samples
        )
    except Exception:
        return False


def _transient(exc: BaseException) -> bool:
    """Whether a failed write may succeed later (database away), as opposed to bad rows."""
    if isinstance(exc, OperationalError | InterfaceError | OSError | asyncio.TimeoutError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


class UsageWriter:
    """The queue of records not yet written, and the task that writes them."""

    def __init__(
        self, engine: AsyncEngine, interval: float = 1.0, max_pending: int = 200_000
    ) -> None:
        self._engine = engine
        self._interval = interval
        self._max_pending = max_pending
        self._pending: list[Row] = []
        self._pending_cost: dict[str, float] = defaultdict(float)
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._dropped = 0
        self._insert: _Insert | None = None

    def add(self, record: UsageRecord) -> None:
        """Queue one record. Never blocks, never raises."""
        try:
            if len(self._pending) >= self._max_pending:
                self._dropped += 1
                if self._dropped in (1, 10, 100) or self._dropped % 1000 == 0:
                    log.error("usage queue full; %d records dropped so far", self._dropped)
                return
            row = _row(record)
            self._pending.append(row)
            key_id, cost = row[_KEY_ID], row[_COST]
            if key_id and cost:
                self._pending_cost[key_id] += cost
        except Exception:
            log.exception("could not queue a usage record")

    def pending_cost(self, key_id: str) -> float:
        """Cost recorded for ``key_id`` in this process and not written yet."""
        return self._pending_cost.get(key_id, 0.0)

    @property
    def pending(self) -> int:
        return len(self._pending)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="visiongate-usage-writer")

    async def close(self) -> None:
        """Stop the background task and write every queued record."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()
        if self._pending:
            log.error("%d usage records could not be written at shutdown", len(self._pending))

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.flush()
            except Exception:
                log.exception("usage flush failed")

    async def flush(self) -> int:
        """Write everything queued so far; returns how many rows were written."""
        async with self._lock:
            batch, self._pending = self._pending, []
            if not batch:
                return 0
            try:
                await self._write(batch)
            except Exception as exc:
                if _transient(exc):
                    log.warning("usage write failed (%s); will retry", type(exc).__name__)
                    self._pending[:0] = batch
                    return 0
                log.error("usage batch refused (%s); writing rows one by one", exc.__class__)
                written, done = await self._write_each(batch)
                self._forget_cost(batch[:done])
                return written
            self._forget_cost(batch)
            return len(batch)

    async def _write(self, batch: list[Row]) -> None:
        if self._insert is None:
            self._insert = _Insert(self._engine.dialect)
        insert = self._insert
        async with write_transaction(self._engine) as conn:
            for start in range(0, len(batch), _CHUNK):
                rows = insert.parameters(batch[start : start + _CHUNK])
                await conn.exec_driver_sql(insert.sql, rows)
            await _add_to_keys(conn, batch)

    async def _write_each(self, batch: list[Row]) -> tuple[int, int]:
        """(rows written, rows done with): the rest went back to the queue."""
        written = 0
        for index, row in enumerate(batch):
            try:
                await self._write([row])
                written += 1
            except Exception as exc:
                if _transient(exc):
                    self._pending[:0] = batch[index:]
                    return written, index
                log.error("usage record %s dropped: %s", row[_REQUEST_ID], type(exc).__name__)
        return written, len(batch)

    def _forget_cost(self, rows: list[Row]) -> None:
        """Drop written (or dropped) rows' cost from the pending total of their keys."""
        for row in rows:
            key_id, cost = row[_KEY_ID], row[_COST]
            if not key_id or not cost:
                continue
            left = self._pending_cost.get(key_id, 0.0) - cost
            if left <= 1e-12:
                self._pending_cost.pop(key_id, None)
            else:
                self._pending_cost[key_id] = left


async def _add_to_keys(conn: AsyncConnection, batch: list[Row]) -> None:
    """Add each database key's cost and request count, and move its last use forward."""
    totals: dict[str, list[float]] = {}
    for row in batch:
        key_id = row[_KEY_ID]
        if not key_id or not key_id.startswith(DB_KEY_ID_PREFIX):
            continue
        cost, count, last = totals.get(key_id, (0.0, 0, 0.0))
        totals[key_id] = [cost + row[_COST], count + 1, max(last, row[_CREATED])]
    for key_id, (cost, count, last) in sorted(totals.items()):
        await conn.execute(
            api_keys.update()
            .where(api_keys.c.id == key_id)
            .values(
                spent_usd=api_keys.c.spent_usd + cost,
                requests=api_keys.c.requests + int(count),
                last_used_at=sa.case(
                    (
                        sa.or_(api_keys.c.last_used_at.is_(None), api_keys.c.last_used_at < last),
                        last,
                    ),
                    else_=api_keys.c.last_used_at,
                ),
            )
        )
