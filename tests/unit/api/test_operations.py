"""/healthz, /readyz and /metrics as plain ASGI: bodies, types and readiness."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from visiongate.api.operations import Operations, readiness
from visiongate.observability.metrics import Metrics

pytestmark = pytest.mark.timeout(5)


class Database:
    """Stands in for Accounts: only ``ready()`` is read."""

    def __init__(self, answer: bool | Exception) -> None:
        self.answer = answer

    async def ready(self) -> bool:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


async def _get(ops: Operations, path: str) -> tuple[int, dict[str, str], bytes]:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await ops({"type": "http", "method": "GET", "path": path}, None, send)  # type: ignore[arg-type]
    start, body = sent
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    assert int(headers["content-length"]) == len(body["body"])
    return start["status"], headers, body["body"]


@pytest.mark.parametrize(
    ("answer", "status", "body"),
    [
        (True, 200, {"status": "ready"}),
        (False, 503, {"status": "not ready"}),
        (OSError("gone"), 503, {"status": "not ready"}),
    ],
)
async def test_readiness_follows_the_database(
    answer: bool | Exception, status: int, body: dict[str, str]
) -> None:
    assert await readiness(Database(answer)) == (status, body)  # type: ignore[arg-type]
    got = await _get(Operations(Database(answer), Metrics()), "/readyz")  # type: ignore[arg-type]
    assert got[0] == status and orjson.loads(got[2]) == body
    assert got[1]["content-type"] == "application/json"


async def test_health_and_metrics_answers() -> None:
    ops = Operations(Database(False), Metrics())  # type: ignore[arg-type]
    status, headers, body = await _get(ops, "/healthz")
    assert (status, body, headers["content-type"]) == (200, b'{"status":"ok"}', "application/json")
    status, headers, body = await _get(ops, "/metrics")
    assert status == 200
    assert headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert b"# TYPE visiongate_requests_in_flight gauge" in body
