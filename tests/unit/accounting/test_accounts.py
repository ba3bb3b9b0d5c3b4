"""The accounting facade on each database: authenticate, admit, settle, record."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
import sqlalchemy as sa

from visiongate.accounting import Accounts, Principal, UsageRecord
from visiongate.accounting.keystore import KeySpec
from visiongate.accounting.tables import api_keys, usage
from visiongate.core.catalog import ImageLimits, ModelEntry
from visiongate.errors import AuthenticationError, ModelNotAllowed, RateLimited
from visiongate.settings import Settings

pytestmark = pytest.mark.timeout(60)

GPT4O = ModelEntry(
    id="gpt-4o", provider="openai", upstream="gpt-4o", image=ImageLimits(), aliases=("gpt4o",)
)
OCR = ModelEntry(id="local/ocr", provider="local", upstream="ocr", image=ImageLimits())


@pytest.fixture
async def accounts(settings_for: Callable[..., Settings]) -> AsyncIterator[Accounts]:
    acc = Accounts(settings_for(key_cache_ttl=0.1))
    await acc.start()
    yield acc
    await acc.close()


def _record(request_id: str, key_id: str | None, cost: float = 0.0, **kw: object) -> UsageRecord:
    values: dict[str, object] = {
        "request_id": request_id,
        "key_id": key_id,
        "model": "gpt-4o",
        "provider": "openai",
        "upstream_model": "gpt-4o-2024-08-06",
        "status": 200,
        "error_code": None,
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "cost_usd": cost,
    }
    values.update(kw)
    return UsageRecord(**values)  # type: ignore[arg-type]


async def _count(acc: Accounts, table: sa.Table) -> int:
    async with acc.engine.connect() as conn:
        return (await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar_one()


async def test_static_key(accounts: Accounts) -> None:
    principal = await accounts.authenticate("Bearer static-test-key")
    assert principal.key_id.startswith("static:") and principal.rpm is None
    assert "static-test-key" not in repr(principal)


@pytest.mark.parametrize(
    ("header", "says"),
    [
        (None, "didn't provide an API key"),
        ("Basic abc", "Malformed Authorization header"),
        ("Bearer vg-not-a-real-key-at-all-0123456789", "Incorrect API key"),
    ],
)
async def test_refusals_explain_without_echoing(
    accounts: Accounts, header: str | None, says: str
) -> None:
    with pytest.raises(AuthenticationError) as info:
        await accounts.authenticate(header)
    err = info.value
    assert err.status == 401 and err.code == "invalid_api_key"
    assert says in err.message and "Authorization: Bearer" in err.message
    assert "not-a-real-key" not in err.message


async def test_database_key_lifecycle(accounts: Accounts) -> None:
    key, record = await accounts.keys.create(
        KeySpec("ci", models=("gpt-4o*",), rpm=10, tpm=5000, budget_usd=2.5)
    )
    principal = await accounts.authenticate(f"Bearer {key}")
    assert principal == Principal(record.id, "ci", ("gpt-4o*",), 10, 5000, 2.5)
    await accounts.keys.revoke(record.id)
    await asyncio.sleep(0.2)  # past key_cache_ttl
    with pytest.raises(AuthenticationError, match="revoked"):
        await accounts.authenticate(f"Bearer {key}")


async def test_revocation_reaches_another_process(
    accounts: Accounts, settings_for: Callable[..., Settings]
) -> None:
    other = Accounts(settings_for(key_cache_ttl=0.1))
    await other.start()
    try:
        key, record = await accounts.keys.create(KeySpec("shared"))
        assert (await other.authenticate(f"Bearer {key}")).key_id == record.id
        await accounts.keys.revoke(record.prefix)
        await asyncio.sleep(0.2)
        with pytest.raises(AuthenticationError, match="revoked"):
            await other.authenticate(f"Bearer {key}")
    finally:
        await other.close()


async def test_expired_key(accounts: Accounts) -> None:
    key, _ = await accounts.keys.create(KeySpec("short", expires_in=0.3))
    await accounts.authenticate(f"Bearer {key}")
    await asyncio.sleep(0.4)
    with pytest.raises(AuthenticationError, match="expired"):
        await accounts.authenticate(f"Bearer {key}")


async def test_auth_not_required(settings_for: Callable[..., Settings]) -> None:
    acc = Accounts(settings_for(auth_required=False))
    await acc.start()
    try:
        assert (await acc.authenticate(None)).key_id == "anonymous"
        assert (await acc.authenticate("Bearer whatever")).key_id == "anonymous"
        assert (await acc.authenticate("Bearer static-test-key")).key_id.startswith("static:")
    finally:
        await acc.close()


async def test_model_patterns_are_enforced(accounts: Accounts) -> None:
    principal = Principal("key_x", "x", models=("gpt4o", "local/*"))
    await accounts.admit(principal, GPT4O, 10)  # allowed through its alias
    await accounts.admit(principal, OCR, 10)
    other = ModelEntry(id="claude-3-5-sonnet", provider="anthropic", upstream="c", image=OCR.image)
    with pytest.raises(ModelNotAllowed) as info:
        await accounts.admit(principal, other, 10)
    assert info.value.status == 403 and info.value.code == "model_not_allowed"
    assert info.value.param == "model" and "claude-3-5-sonnet" in info.value.message


async def test_rate_limits_answer_with_openai_headers(accounts: Accounts) -> None:
    key, _ = await accounts.keys.create(KeySpec("limited", rpm=2, tpm=1000))
    principal = await accounts.authenticate(f"Bearer {key}")
    first = await accounts.admit(principal, OCR, 300)
    assert first.headers["x-ratelimit-limit-requests"] == "2"
    assert first.headers["x-ratelimit-remaining-requests"] == "1"
    assert first.headers["x-ratelimit-remaining-tokens"] == "700"
    await accounts.settle(first, 100)
    second = await accounts.admit(principal, OCR, 300)
    assert second.headers["x-ratelimit-remaining-tokens"] == "600"
    with pytest.raises(RateLimited) as info:
        await accounts.admit(principal, OCR, 1)
    err = info.value
    assert err.status == 429 and err.code == "rate_limit_exceeded"
    assert int(err.headers["retry-after"]) >= 1
    assert err.headers["x-ratelimit-remaining-requests"] == "0"
    assert "limit 2 per minute" in err.message and key not in err.message


async def test_very_large_limits_fit_every_database(accounts: Accounts) -> None:
    key, _ = await accounts.keys.create(KeySpec("huge", rpm=10**9, tpm=10**12))
    principal = await accounts.authenticate(f"Bearer {key}")
    assert (principal.rpm, principal.tpm) == (10**9, 10**12)
    admission = await accounts.admit(principal, OCR, 10**6)
    assert admission.headers["x-ratelimit-remaining-tokens"] == str(10**12 - 10**6)
    with pytest.raises(ValueError, match="tpm must be a positive integer"):
        await accounts.keys.create(KeySpec("too big", tpm=10**16))


async def test_unlimited_keys_skip_the_limiter(accounts: Accounts) -> None:
    admission = await accounts.admit(Principal("static:1", "s"), GPT4O, 10**9)
    assert admission.headers == {} and admission.ticket is None
    await accounts.settle(admission, 5)


async def test_budget(accounts: Accounts, settings_for: Callable[..., Settings]) -> None:
    key, record = await accounts.keys.create(KeySpec("budgeted", budget_usd=0.05))
    principal = await accounts.authenticate(f"Bearer {key}")
    await accounts.admit(principal, GPT4O, 10)
    accounts.record(_record("r1", record.id, cost=0.03))
    await accounts.admit(principal, GPT4O, 10)
    accounts.record(_record("r2", record.id, cost=0.03))
    # Not written yet: this process still counts what it recorded.
    with pytest.raises(RateLimited, match="budget"):
        await accounts.admit(principal, GPT4O, 10)
    await accounts.flush()
    # Another process learns the spend from the database.
    other = Accounts(settings_for())
    await other.start()
    try:
        principal = await other.authenticate(f"Bearer {key}")
        with pytest.raises(RateLimited, match="budget"):
            await other.admit(principal, GPT4O, 10)
    finally:
        await other.close()
    spent = (await accounts.keys.get(record.id)).spent_usd  # type: ignore[union-attr]
    assert spent == pytest.approx(0.06)


async def test_every_record_is_written_by_close(settings_for: Callable[..., Settings]) -> None:
    acc = Accounts(settings_for(usage_flush_interval=3600))  # only close() will write
    await acc.start()
    _, record = await acc.keys.create(KeySpec("writer"))
    for i in range(250):
        acc.record(_record(f"req-{i}", record.id if i % 2 else None, cost=0.001))
    assert await _count(acc, usage) == 0
    engine_url = acc.settings.resolved_database_url
    await acc.close()
    reopened = Accounts(settings_for())
    await reopened.start()
    try:
        assert reopened.settings.resolved_database_url == engine_url
        assert await _count(reopened, usage) == 250
        key = await reopened.keys.get(record.id)
        assert key is not None and key.requests == 125
        assert key.spent_usd == pytest.approx(0.125) and key.last_used_at is not None
    finally:
        await reopened.close()


async def test_oversized_strings_do_not_lose_the_batch(accounts: Accounts) -> None:
    accounts.record(_record("ok-1", None))
    accounts.record(_record("x" * 500, None, model="m" * 5000, error_code="e" * 300))
    accounts.record(_record("ok-2", None))
    assert await accounts.flush() == 3
    async with accounts.engine.connect() as conn:
        models = (await conn.execute(sa.select(usage.c.model))).scalars().all()
    assert sorted(len(m) for m in models) == [6, 6, 200]


async def test_keys_are_never_stored_in_clear(accounts: Accounts) -> None:
    key, record = await accounts.keys.create(KeySpec("secret"))
    await accounts.authenticate(f"Bearer {key}")
    accounts.record(_record("r", record.id))
    await accounts.flush()
    dump = []
    async with accounts.engine.connect() as conn:
        for table in (api_keys, usage):
            for row in await conn.execute(sa.select(table)):
                dump.append(repr(tuple(row)))
    text = "\n".join(dump)
    assert record.prefix in text
    assert key not in text and key[len(record.prefix) :] not in text
