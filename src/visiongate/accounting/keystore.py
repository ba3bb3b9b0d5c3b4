"""Database keys: create, look up, list and revoke rows of ``api_keys``.

The clear key leaves this module exactly once, as the return value of ``create``; the
table holds its SHA-256 digest and a short display prefix.
"""

from __future__ import annotations

import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from visiongate.accounting.database import write_transaction
from visiongate.accounting.keys import (
    DB_KEY_ID_PREFIX,
    KEY_PREFIX,
    Principal,
    display_prefix,
    generate_key,
    hash_key,
)
from visiongate.accounting.tables import api_keys

__all__ = ["KeyNotFound", "KeyRecord", "KeySpec", "KeyStore"]

_MAX_NAME = 200
# Limits are summed as doubles inside Redis' Lua; stay far inside their exact integer range.
_MAX_LIMIT = 10**15


class KeyNotFound(LookupError):
    """No key (or more than one) matches what the operator typed."""


@dataclass(slots=True, frozen=True)
class KeySpec:
    """What an operator asks for when creating a key; ``validate`` explains what is wrong."""

    name: str
    models: tuple[str, ...] | None = None
    rpm: int | None = None
    tpm: int | None = None
    budget_usd: float | None = None
    expires_in: float | None = None  # seconds from now

    def validate(self) -> None:
        """Raises ValueError(message, field) for the first invalid field."""
        if not self.name.strip() or len(self.name) > _MAX_NAME:
            raise ValueError(f"name must be 1 to {_MAX_NAME} characters", "name")
        if self.models is not None and (
            not self.models or any(not p.strip() or len(p) > 200 for p in self.models)
        ):
            raise ValueError("models must be a non-empty list of model id patterns", "models")
        for field_name in ("rpm", "tpm"):
            value = getattr(self, field_name)
            if value is not None and (isinstance(value, bool) or not 1 <= value <= _MAX_LIMIT):
                raise ValueError(
                    f"{field_name} must be a positive integer up to {_MAX_LIMIT}", field_name
                )
        if self.budget_usd is not None and not self.budget_usd >= 0:
            raise ValueError("budget_usd must be zero or more", "budget_usd")
        if self.expires_in is not None and not self.expires_in > 0:
            raise ValueError("expires_in must be a positive number of seconds", "expires_in")


@dataclass(slots=True, frozen=True)
class KeyRecord:
    """One row of ``api_keys``, without the digest."""

    id: str
    name: str
    prefix: str
    models: tuple[str, ...] | None
    rpm: int | None
    tpm: int | None
    budget_usd: float | None
    spent_usd: float
    requests: int
    created_at: float
    expires_at: float | None
    revoked_at: float | None
    last_used_at: float | None

    def principal(self) -> Principal:
        return Principal(
            key_id=self.id,
            name=self.name,
            models=self.models,
            rpm=self.rpm,
            tpm=self.tpm,
            budget_usd=self.budget_usd,
        )

    def state(self, now: float | None = None) -> str:
        """``active``, ``revoked`` or ``expired``."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= (now or time.time()):
            return "expired"
        return "active"

    def to_dict(self) -> dict[str, Any]:
        """The public view (admin API, CLI --json): everything but the digest."""
        return {
            "id": self.id,
            "name": self.name,
            "prefix": self.prefix,
            "models": list(self.models) if self.models is not None else None,
            "rpm": self.rpm,
            "tpm": self.tpm,
            "budget_usd": self.budget_usd,
            "spent_usd": round(self.spent_usd, 6),
            "requests": self.requests,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "revoked_at": self.revoked_at,
            "last_used_at": self.last_used_at,
            "state": self.state(),
        }


_COLUMNS = [c for c in api_keys.c if c.name != "key_hash"]


def _record(row: sa.Row[Any]) -> KeyRecord:
    values = row._asdict()
    values.pop("key_hash", None)
    models = values.pop("models")
    return KeyRecord(models=tuple(json.loads(models)) if models else None, **values)


class KeyStore:
    """``api_keys`` on one engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def create(self, spec: KeySpec) -> tuple[str, KeyRecord]:
        """Insert a new key; returns the clear key (shown once) and its record.

        Raises ValueError(message, field) for an invalid spec.
        """
        spec.validate()
        key = generate_key()
        now = time.time()
        key_id = DB_KEY_ID_PREFIX + secrets.token_hex(6)
        values = {
            "id": key_id,
            "name": spec.name.strip(),
            "prefix": display_prefix(key),
            "key_hash": hash_key(key),
            "models": json.dumps(list(spec.models)) if spec.models is not None else None,
            "rpm": spec.rpm,
            "tpm": spec.tpm,
            "budget_usd": spec.budget_usd,
            "spent_usd": 0.0,
            "requests": 0,
            "created_at": now,
            "expires_at": now + spec.expires_in if spec.expires_in else None,
            "revoked_at": None,
            "last_used_at": None,
        }
        async with write_transaction(self._engine) as conn:
            await conn.execute(api_keys.insert().values(**values))
        record = await self.get(key_id)
        assert record is not None
        return key, record

    async def _select(self, where: sa.ColumnElement[bool]) -> list[KeyRecord]:
        query = sa.select(*_COLUMNS).where(where).order_by(api_keys.c.created_at)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_record(row) for row in rows]

    async def get(self, key_id: str) -> KeyRecord | None:
        found = await self._select(api_keys.c.id == key_id)
        return found[0] if found else None

    async def find_by_hash(self, digest: str) -> KeyRecord | None:
        """The key whose digest is ``digest``, compared in constant time."""
        query = sa.select(api_keys.c.key_hash, *_COLUMNS).where(api_keys.c.key_hash == digest)
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None or not hmac.compare_digest(row.key_hash, digest):
            return None
        return _record(row)

    async def list(self, include_revoked: bool = True) -> list[KeyRecord]:
        where = sa.true() if include_revoked else api_keys.c.revoked_at.is_(None)
        return await self._select(where)

    async def resolve(self, ref: str) -> KeyRecord:
        """The key an operator means by ``ref``: its id, its display prefix, or the key itself.

        Raises KeyNotFound when nothing, or more than one key, matches.
        """
        ref = ref.strip()
        if _is_full_key(ref):
            found = await self.find_by_hash(hash_key(ref))
            candidates = [found] if found else []
        else:
            candidates = await self._select(sa.or_(api_keys.c.id == ref, api_keys.c.prefix == ref))
        if len(candidates) != 1:
            why = "no key matches" if not candidates else "several keys match"
            raise KeyNotFound(f"{why} {_safe_ref(ref)!r}; use the id shown by `keys list`")
        return candidates[0]

    async def revoke(self, ref: str) -> KeyRecord:
        """Mark a key revoked (idempotent); every process refuses it once its cache expires."""
        record = await self.resolve(ref)
        async with write_transaction(self._engine) as conn:
            await conn.execute(
                api_keys.update()
                .where(api_keys.c.id == record.id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=time.time())
            )
        revoked = await self.get(record.id)
        assert revoked is not None
        return revoked


def _is_full_key(ref: str) -> bool:
    return ref.startswith(KEY_PREFIX) and len(ref) > len(KEY_PREFIX) + 16


def _safe_ref(ref: str) -> str:
    """What may be repeated back of an operator's reference: never a whole key."""
    return display_prefix(ref) + "…" if _is_full_key(ref) else ref[:60]
