"""Versioned schema migrations, the same for SQLite and PostgreSQL.

Each migration is a numbered function of a sync connection, applied once, in order, inside
one transaction that holds the migration lock (``BEGIN IMMEDIATE`` on SQLite, an advisory
lock on PostgreSQL), so several workers starting at once migrate exactly once. Applied
versions are rows of ``schema_migrations``.

A migration is frozen once released: it builds the tables as they were at that version,
never from ``tables.py`` (which describes the latest schema). A test checks that applying
every migration yields exactly ``tables.metadata``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from visiongate.accounting.database import is_sqlite, write_transaction
from visiongate.accounting.tables import schema_migrations

__all__ = ["LATEST", "MIGRATIONS", "Migration", "current_version", "upgrade"]

log = logging.getLogger(__name__)

# Any constant works; it only has to be the same in every process of a deployment.
_PG_LOCK_ID = 0x76697367  # "visg"


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    description: str
    apply: Callable[[sa.Connection], None]


def _v1_initial(conn: sa.Connection) -> None:
    md = sa.MetaData()
    big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    sa.Table(
        "api_keys",
        md,
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("models", sa.Text, nullable=True),
        sa.Column("rpm", sa.BigInteger, nullable=True),
        sa.Column("tpm", sa.BigInteger, nullable=True),
        sa.Column("budget_usd", sa.Double, nullable=True),
        sa.Column("spent_usd", sa.Double, nullable=False, server_default="0"),
        sa.Column("requests", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("expires_at", sa.Double, nullable=True),
        sa.Column("revoked_at", sa.Double, nullable=True),
        sa.Column("last_used_at", sa.Double, nullable=True),
        sa.Index("ix_api_keys_key_hash", "key_hash", unique=True),
    )
    sa.Table(
        "usage",
        md,
        sa.Column("id", big_id, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("key_id", sa.String(40), nullable=True),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("provider", sa.String(64), nullable=True),
        sa.Column("upstream_model", sa.String(200), nullable=True),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("prompt_tokens", sa.Integer, nullable=False, server_default="0"),
        sa.Column("completion_tokens", sa.Integer, nullable=False, server_default="0"),
        sa.Column("image_tokens", sa.Integer, nullable=False, server_default="0"),
        sa.Column("images", sa.Integer, nullable=False, server_default="0"),
        sa.Column("image_bytes", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("latency_ms", sa.Double, nullable=False, server_default="0"),
        sa.Column("ttft_ms", sa.Double, nullable=True),
        sa.Column("cost_usd", sa.Double, nullable=False, server_default="0"),
        sa.Column("stream", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Index("ix_usage_created_at", "created_at"),
        sa.Index("ix_usage_key_created", "key_id", "created_at"),
    )
    md.create_all(conn)


def _v2_usage_endpoint(conn: sa.Connection) -> None:
    """Which surface a request came in by (chat.completions, responses, messages, ...)."""
    conn.execute(
        sa.text(
            "ALTER TABLE usage ADD COLUMN endpoint VARCHAR(32) DEFAULT 'chat.completions' NOT NULL"
        )
    )


def _v3_routing(conn: sa.Connection) -> None:
    """Routes: the catalog model that served, the upstream calls made, the fallback taken."""
    for column in (
        "deployment VARCHAR(200)",
        "attempts INTEGER NOT NULL DEFAULT 0",
        "fallback VARCHAR(200)",
    ):
        conn.execute(sa.text(f"ALTER TABLE usage ADD COLUMN {column}"))


def _v4_documents(conn: sa.Connection) -> None:
    """Usage records count documents, their pages and bytes (PDF input)."""
    for name, kind in (
        ("documents", "INTEGER"),
        ("document_pages", "INTEGER"),
        ("document_bytes", "BIGINT"),
    ):
        conn.execute(sa.text(f"ALTER TABLE usage ADD COLUMN {name} {kind} NOT NULL DEFAULT 0"))


def _v5_usage_cache(conn: sa.Connection) -> None:
    """Whether the answer cache answered (hit, miss, bypass; NULL when not used), and what
    a hit saved at the catalog's prices (its ``cost_usd`` is 0)."""
    double = sa.Double().compile(dialect=conn.dialect)  # DOUBLE on SQLite, DOUBLE PRECISION
    conn.execute(sa.text("ALTER TABLE usage ADD COLUMN cache VARCHAR(8)"))
    conn.execute(sa.text(f"ALTER TABLE usage ADD COLUMN saved_usd {double} DEFAULT 0 NOT NULL"))


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "api keys and usage records", _v1_initial),
    Migration(2, "usage records name the surface (endpoint)", _v2_usage_endpoint),
    Migration(3, "usage: serving deployment, upstream calls, fallback taken", _v3_routing),
    Migration(4, "document counts in usage records", _v4_documents),
    Migration(5, "usage records say what the answer cache did", _v5_usage_cache),
)
LATEST = MIGRATIONS[-1].version


def _applied(conn: sa.Connection) -> set[int]:
    schema_migrations.create(conn, checkfirst=True)
    return set(conn.execute(sa.select(schema_migrations.c.version)).scalars())


def _upgrade_sync(conn: sa.Connection, postgres: bool) -> list[int]:
    if postgres:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_LOCK_ID})
    done = _applied(conn)
    newer = sorted(v for v in done if v > LATEST)
    if newer:
        log.warning(
            "database schema has migrations %s that this version does not know; "
            "running against it unchanged",
            newer,
        )
    applied = []
    for migration in MIGRATIONS:
        if migration.version in done:
            continue
        migration.apply(conn)
        conn.execute(
            schema_migrations.insert().values(
                version=migration.version,
                description=migration.description,
                applied_at=time.time(),
            )
        )
        applied.append(migration.version)
    return applied


async def upgrade(engine: AsyncEngine) -> list[int]:
    """Apply every pending migration; returns the versions applied (empty when up to date)."""
    postgres = not is_sqlite(engine)
    async with write_transaction(engine) as conn:
        applied = await conn.run_sync(_upgrade_sync, postgres)
    if applied:
        log.info("database migrated to schema version %d (applied %s)", LATEST, applied)
    return applied


def _current_sync(conn: sa.Connection) -> int:
    if not sa.inspect(conn).has_table(schema_migrations.name):
        return 0
    query = sa.select(sa.func.max(schema_migrations.c.version))
    return conn.execute(query).scalar_one_or_none() or 0


async def current_version(engine: AsyncEngine) -> int:
    """The highest applied version, 0 for an empty database. Changes nothing."""
    async with engine.connect() as conn:
        return await conn.run_sync(_current_sync)
