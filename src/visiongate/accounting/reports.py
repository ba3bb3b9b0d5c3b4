"""Usage reports: requests, tokens and spend since a moment, grouped by model, key or day."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from visiongate.accounting.database import is_sqlite
from visiongate.accounting.tables import api_keys, usage

__all__ = ["GROUPINGS", "ReportRow", "usage_report"]

GROUPINGS = ("model", "key", "day", "endpoint")
_DAY_S = 86400


@dataclass(slots=True, frozen=True)
class ReportRow:
    group: str
    name: str | None  # the key's name when grouped by key
    requests: int
    errors: int
    prompt_tokens: int
    completion_tokens: int
    image_tokens: int
    images: int
    cost_usd: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "name": self.name,
            "requests": self.requests,
            "errors": self.errors,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "image_tokens": self.image_tokens,
            "images": self.images,
            "cost_usd": round(self.cost_usd, 6),
        }


def _day_expr(engine: AsyncEngine) -> sa.ColumnElement[Any]:
    # UTC day number since the epoch; CAST truncates in SQLite but rounds in PostgreSQL.
    days = usage.c.created_at / _DAY_S
    if is_sqlite(engine):
        return sa.cast(days, sa.Integer)
    return sa.cast(sa.func.floor(days), sa.Integer)


async def usage_report(
    engine: AsyncEngine, since: float, by: str = "model", key_id: str | None = None
) -> list[ReportRow]:
    """Totals per group for records created at or after ``since`` (epoch seconds).

    Raises ValueError for an unknown grouping.
    """
    if by not in GROUPINGS:
        raise ValueError(f"by must be one of {', '.join(GROUPINGS)}")
    group: sa.ColumnElement[Any] = {
        "model": usage.c.model,
        "key": sa.func.coalesce(usage.c.key_id, "-"),
        "day": _day_expr(engine),
        "endpoint": usage.c.endpoint,
    }[by]
    label = group.label("grp")
    query = (
        sa.select(
            label,
            sa.func.count().label("requests"),
            sa.func.sum(sa.case((usage.c.status >= 400, 1), else_=0)).label("errors"),
            sa.func.sum(usage.c.prompt_tokens).label("prompt_tokens"),
            sa.func.sum(usage.c.completion_tokens).label("completion_tokens"),
            sa.func.sum(usage.c.image_tokens).label("image_tokens"),
            sa.func.sum(usage.c.images).label("images"),
            sa.func.sum(usage.c.cost_usd).label("cost_usd"),
        )
        .where(usage.c.created_at >= since)
        .group_by(group)
        .order_by(group)
    )
    if key_id is not None:
        query = query.where(usage.c.key_id == key_id)
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
        names: dict[str, str] = {}
        if by == "key":
            ids = [row.grp for row in rows]
            found = await conn.execute(
                sa.select(api_keys.c.id, api_keys.c.name).where(api_keys.c.id.in_(ids))
            )
            names = {r.id: r.name for r in found}
    return [
        ReportRow(
            group=_group_text(by, row.grp),
            name=names.get(row.grp) if by == "key" else None,
            requests=int(row.requests),
            errors=int(row.errors or 0),
            prompt_tokens=int(row.prompt_tokens or 0),
            completion_tokens=int(row.completion_tokens or 0),
            image_tokens=int(row.image_tokens or 0),
            images=int(row.images or 0),
            cost_usd=float(row.cost_usd or 0.0),
        )
        for row in rows
    ]


def _group_text(by: str, value: Any) -> str:
    if by == "day":
        return dt.datetime.fromtimestamp(int(value) * _DAY_S, tz=dt.UTC).date().isoformat()
    return str(value)
