"""The accounting schema (SQLAlchemy Core), shared by SQLite and PostgreSQL.

Times are epoch seconds as double precision: portable across both databases, cheap to
compare, and what the rest of the gateway already uses. The tables here describe the
latest schema; ``migrations.py`` is what brings an existing database there.
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = ["api_keys", "metadata", "schema_migrations", "usage"]

metadata = sa.MetaData()

# SQLite only auto-increments an ``INTEGER PRIMARY KEY`` (the rowid), not a BIGINT one.
_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

schema_migrations = sa.Table(
    "schema_migrations",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("description", sa.String(200), nullable=False),
    sa.Column("applied_at", sa.Double, nullable=False),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("prefix", sa.String(16), nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False),
    sa.Column("models", sa.Text, nullable=True),  # JSON list of fnmatch patterns; NULL = all
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

usage = sa.Table(
    "usage",
    metadata,
    sa.Column("id", _BigId, primary_key=True, autoincrement=True),
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
    sa.Column("endpoint", sa.String(32), nullable=False, server_default="chat.completions"),
    sa.Column("deployment", sa.String(200), nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("fallback", sa.String(200), nullable=True),
    sa.Column("documents", sa.Integer, nullable=False, server_default="0"),
    sa.Column("document_pages", sa.Integer, nullable=False, server_default="0"),
    sa.Column("document_bytes", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("cache", sa.String(8), nullable=True),
    sa.Column("saved_usd", sa.Double, nullable=False, server_default="0"),
    sa.Index("ix_usage_created_at", "created_at"),
    sa.Index("ix_usage_key_created", "key_id", "created_at"),
)
