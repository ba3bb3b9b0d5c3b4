"""The last-resort handler: an exception no layer expected (a bug) is a 500 in OpenAI's
envelope with the request id, logged with its traceback, and recorded as 500 in metrics
and the usage row (before: uvicorn's plain-text 500, recorded as 200)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from visiongate.app import Gateway
from visiongate.settings import Settings

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[Gateway]:
    settings = Settings(api_keys=["k"], data_dir=tmp_path, upstream_retries=0)
    # Never called: the provider's methods are replaced by the tests.
    environ = {"OPENAI_API_KEY": "sk-x", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}
    app = Gateway(settings, environ=environ)
    await app.runtime.start()
    yield app
    await app.runtime.close()


async def call(app: Gateway, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    raw = json.dumps(body).encode()
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/chat/completions",
        "headers": [
            (b"authorization", b"Bearer k"),
            (b"content-length", b"%d" % len(raw)),
            (b"x-request-id", b"bug-1"),
        ],
    }
    pending = [{"type": "http.request", "body": raw, "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if pending:
            return pending.pop()
        return {"type": "http.disconnect"} if sent else await _forever()

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    headers = {k.decode(): v.decode() for k, v in sent[0].get("headers", [])}
    return sent[0]["status"], headers, b"".join(m.get("body", b"") for m in sent[1:])


async def _forever() -> dict[str, Any]:
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


async def usage_status(app: Gateway) -> list[tuple[int, str | None]]:
    await app.runtime.accounts.flush()
    async with app.runtime.accounts.engine.connect() as conn:
        rows = await conn.execute(sa.text("SELECT status, error_code FROM usage"))
        return [tuple(r) for r in rows]  # type: ignore[misc]


@pytest.mark.parametrize("stream", [False, True])
async def test_a_bug_is_a_500_in_the_envelope_logged_and_recorded(
    gateway: Gateway,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    stream: bool,
) -> None:
    provider = gateway.runtime.providers["openai"]

    async def broken(*args: object, **kw: object) -> Any:
        raise ZeroDivisionError("secret prompt text")

    async def broken_stream(*args: object, **kw: object) -> AsyncIterator[Any]:
        raise ZeroDivisionError("secret prompt text")
        yield

    monkeypatch.setattr(provider, "complete", broken)
    monkeypatch.setattr(provider, "stream", broken_stream)
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    with caplog.at_level(logging.ERROR):
        status, headers, answer = await call(gateway, body)
    assert status == 500
    assert headers["x-request-id"] == "bug-1"
    error = json.loads(answer)["error"]
    assert error["code"] == "internal_error" and error["type"] == "server_error"
    assert "bug-1" in error["message"] and "secret" not in error["message"]
    logged = [r for r in caplog.records if "bug-1" in r.getMessage()]
    assert logged and logged[0].exc_info is not None
    assert await usage_status(gateway) == [(500, "internal_error")]
    assert b'status="500"' in gateway.runtime.metrics.render()
