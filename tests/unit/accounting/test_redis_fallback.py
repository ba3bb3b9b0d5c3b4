"""With Redis unreachable, limits fall back to this process instead of failing requests."""

from __future__ import annotations

import socket

import pytest

from visiongate.accounting.redis_limits import RedisLimiter

pytestmark = pytest.mark.timeout(30)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_unreachable_redis_limits_per_process(caplog: pytest.LogCaptureFixture) -> None:
    limiter = RedisLimiter.from_url(f"redis://127.0.0.1:{_closed_port()}/0", "vgtest:")
    try:
        results = [await limiter.acquire("key_f", 3, 100, 10, f"m{i}") for i in range(4)]
        assert [r.allowed for r in results] == [True, True, True, False]
        assert results[0].ticket is not None
        await limiter.settle(results[0].ticket, 0)
        assert "Redis unavailable" in caplog.text
    finally:
        await limiter.close()
