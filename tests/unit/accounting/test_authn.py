"""The authentication cache: one lookup per key per TTL, and outages handled."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from visiongate.accounting.authn import Authenticator
from visiongate.accounting.database import open_engine
from visiongate.accounting.keystore import KeyRecord, KeySpec, KeyStore
from visiongate.accounting.migrations import upgrade
from visiongate.errors import AuthenticationError, Overloaded

pytestmark = pytest.mark.timeout(30)


async def test_concurrent_misses_share_one_lookup_and_outages_serve_stale(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}")
    await upgrade(engine)
    store = KeyStore(engine)
    key, record = await store.create(KeySpec("cached"))
    calls: list[str] = []
    database_up = True

    async def lookup(digest: str) -> KeyRecord | None:
        calls.append(digest)
        if not database_up:
            raise OSError("connection refused")
        return await store.find_by_hash(digest)

    auth = Authenticator([], lookup, ttl=0.2)
    try:
        found = await asyncio.gather(*(auth.authenticate(f"Bearer {key}") for _ in range(20)))
        assert {p.key_id for p in found} == {record.id} and len(calls) == 1
        await auth.authenticate(f"Bearer {key}")
        assert len(calls) == 1  # cached

        database_up = False
        await asyncio.sleep(0.25)
        assert (await auth.authenticate(f"Bearer {key}")).key_id == record.id  # stale, served
        with pytest.raises(Overloaded) as info:
            await auth.authenticate("Bearer vg-some-other-key-never-seen-before")
        assert info.value.status == 503 and "some-other-key" not in info.value.message

        database_up = True
        with pytest.raises(AuthenticationError):
            await auth.authenticate("Bearer vg-some-other-key-never-seen-before")
    finally:
        await engine.dispose()


async def test_a_spray_of_unknown_tokens_never_evicts_a_valid_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before, 50,000 refused tokens cleared the whole cache, valid keys with it."""
    monkeypatch.setattr("visiongate.accounting.authn._MAX_REFUSED", 100)
    monkeypatch.setattr("visiongate.accounting.authn._MAX_VALID", 100)
    engine = open_engine(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}")
    await upgrade(engine)
    store = KeyStore(engine)
    keys = [(await store.create(KeySpec(f"k{i}")))[0] for i in range(3)]
    looked_up: list[str] = []

    async def lookup(digest: str) -> KeyRecord | None:
        looked_up.append(digest)
        return await store.find_by_hash(digest)

    auth = Authenticator([], lookup, ttl=3600)
    try:
        for key in keys:
            await auth.authenticate(f"Bearer {key}")
        for n in range(1000):
            with pytest.raises(AuthenticationError):
                await auth.authenticate(f"Bearer vg-random-{n}")
        assert len(auth._refused) == 100  # bounded on its own
        looked_up.clear()
        for key in keys:
            await auth.authenticate(f"Bearer {key}")
        assert looked_up == []  # every valid key still cached
    finally:
        await engine.dispose()
