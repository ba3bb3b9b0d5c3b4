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
import time
from collections import defaultdict
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
_TEXT_LIMITS = {c.name: c.type.length for c in usage.c if getattr(c.type, "length", None)}


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
    created_at: float = 0.0  # epoch seconds; 0 means "when recorded"


_FIELDS = tuple(f.name for f in fields(UsageRecord))


def _row(record: UsageRecord) -> dict[str, Any]:
    row = {name: getattr(record, name) for name in _FIELDS}
    # Client-chosen strings (an unknown model id, say) must never make the batch fail.
    for name, limit in _TEXT_LIMITS.items():
        if isinstance(row[name], str) and len(row[name]) > limit:
            row[name] = row[name][:limit]
    row["model"] = row["model"] or ""
    row["stream"] = bool(row["stream"])
    return row


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
        self._pending: list[dict[str, Any]] = []
        self._pending_cost: dict[str, float] = defaultdict(float)
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._dropped = 0

    def add(self, record: UsageRecord) -> None:
        """Queue one record. Never blocks, never raises."""
        try:
            row = _row(record)
            if not row["created_at"]:
                row["created_at"] = time.time()
            if len(self._pending) >= self._max_pending:
                self._dropped += 1
                if self._dropped in (1, 10, 100) or self._dropped % 1000 == 0:
                    log.error("usage queue full; %d records dropped so far", self._dropped)
                return
            self._pending.append(row)
            if row["key_id"] and row["cost_usd"]:
                self._pending_cost[row["key_id"]] += row["cost_usd"]
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
                written = await self._write_each(batch)
            else:
                written = len(batch)
            self._forget_cost(batch)
            return written

    async def _write(self, batch: list[dict[str, Any]]) -> None:
        async with write_transaction(self._engine) as conn:
            for start in range(0, len(batch), _CHUNK):
                await conn.execute(usage.insert(), batch[start : start + _CHUNK])
            await _add_to_keys(conn, batch)

    async def _write_each(self, batch: list[dict[str, Any]]) -> int:
        written = 0
        for index, row in enumerate(batch):
            try:
                await self._write([row])
                written += 1
            except Exception as exc:
                if _transient(exc):
                    self._pending[:0] = batch[index:]
                    return written
                log.error("usage record %s dropped: %s", row["request_id"], type(exc).__name__)
        return written

    def _forget_cost(self, batch: list[dict[str, Any]]) -> None:
        requeued = {id(row) for row in self._pending}
        for row in batch:
            key_id = row["key_id"]
            if id(row) in requeued or not key_id or not row["cost_usd"]:
                continue
            left = self._pending_cost.get(key_id, 0.0) - row["cost_usd"]
            if left <= 1e-12:
                self._pending_cost.pop(key_id, None)
            else:
                self._pending_cost[key_id] = left


async def _add_to_keys(conn: AsyncConnection, batch: list[dict[str, Any]]) -> None:
    """Add each database key's cost and request count, and move its last use forward."""
    totals: dict[str, list[float]] = {}
    for row in batch:
        key_id = row["key_id"]
        if not key_id or not key_id.startswith(DB_KEY_ID_PREFIX):
            continue
        cost, count, last = totals.get(key_id, (0.0, 0, 0.0))
        totals[key_id] = [cost + row["cost_usd"], count + 1, max(last, row["created_at"])]
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
