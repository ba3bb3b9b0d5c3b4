"""Usage reports on each database: grouping by model, key and UTC day."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import AsyncIterator, Callable

import pytest

from visiongate.accounting import Accounts, UsageRecord
from visiongate.accounting.keystore import KeySpec
from visiongate.accounting.reports import usage_report
from visiongate.settings import Settings

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def accounts(settings_for: Callable[..., Settings]) -> AsyncIterator[Accounts]:
    acc = Accounts(settings_for())
    await acc.start()
    yield acc
    await acc.close()


def _rec(key_id: str | None, model: str, status: int, at: float, cost: float) -> UsageRecord:
    return UsageRecord(
        request_id="r",
        key_id=key_id,
        model=model,
        provider="p",
        upstream_model=None,
        status=status,
        error_code=None if status < 400 else "upstream_error",
        prompt_tokens=100,
        completion_tokens=20,
        images=1,
        cost_usd=cost,
        created_at=at,
    )


async def test_groupings(accounts: Accounts) -> None:
    _, alice = await accounts.keys.create(KeySpec("alice"))
    now = time.time()
    day = 86400.0
    accounts.record(_rec(alice.id, "gpt-4o", 200, now - 10, 0.25))
    accounts.record(_rec(alice.id, "gpt-4o", 502, now - 10, 0.0))
    accounts.record(_rec(None, "local/ocr", 200, now - day - 10, 0.0))
    accounts.record(_rec(alice.id, "gpt-4o", 200, now - 9 * day, 5.0))  # outside 7d
    await accounts.flush()
    since = now - 7 * day

    by_model = {r.group: r for r in await usage_report(accounts.engine, since, "model")}
    assert set(by_model) == {"gpt-4o", "local/ocr"}
    gpt = by_model["gpt-4o"]
    assert (gpt.requests, gpt.errors, gpt.prompt_tokens, gpt.images) == (2, 1, 200, 2)
    assert gpt.cost_usd == pytest.approx(0.25)

    by_key = {r.group: r for r in await usage_report(accounts.engine, since, "key")}
    assert set(by_key) == {alice.id, "-"} and by_key[alice.id].name == "alice"

    by_day = await usage_report(accounts.engine, since, "day")
    days = [
        dt.datetime.fromtimestamp(t, tz=dt.UTC).date().isoformat()
        for t in (now - day - 10, now - 10)
    ]
    assert [r.group for r in by_day] == sorted(set(days))
    assert sum(r.requests for r in by_day) == 3

    only = await usage_report(accounts.engine, since, "model", key_id=alice.id)
    assert [r.group for r in only] == ["gpt-4o"]
    with pytest.raises(ValueError, match="by must be"):
        await usage_report(accounts.engine, since, "week")
