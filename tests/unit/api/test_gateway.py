"""The Gateway's dispatch: chat and operations without FastAPI, the rest on a lazy FastAPI.

What a process imports can only be seen in a fresh one (the test process has long loaded
FastAPI and aiohttp), so the first test drives the ASGI app in a subprocess.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.openai_upstream import FakeOpenAI
from tests.support.background import BackgroundApp
from visiongate.app import Gateway
from visiongate.settings import Settings

UPSTREAM_KEY = "sk-fake-upstream-key-0123456789"

_DRIVER = textwrap.dedent(
    """
    import asyncio, json, sys

    from visiongate.app import create_app


    async def call(app, method, path, body=b"", headers=()):
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
            "query_string": b"", "root_path": "", "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 80),
            "headers": [(b"host", b"test"), (b"content-length", b"%d" % len(body)), *headers],
        }
        pending = [{"type": "http.request", "body": body, "more_body": False}]
        sent = []

        async def receive():
            if pending:
                return pending.pop()
            await asyncio.Event().wait()  # the client never leaves

        async def send(message):
            sent.append(message)

        await app(scope, receive, send)
        return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


    def loaded():
        return sorted(m for m in ("fastapi", "starlette", "aiohttp") if m in sys.modules)


    async def main():
        app = create_app()
        inbox, outbox = asyncio.Queue(), asyncio.Queue()
        await inbox.put({"type": "lifespan.startup"})
        life = asyncio.create_task(app({"type": "lifespan"}, inbox.get, outbox.put))
        started = (await outbox.get())["type"]
        chat = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]})
        auth = [(b"authorization", b"Bearer sk-test"), (b"content-type", b"application/json")]
        out = {"started": started, "statuses": {}}
        status, body = await call(app, "POST", "/v1/chat/completions", chat.encode(), auth)
        out["chat"] = [status, json.loads(body)["object"]]
        for path in ("/healthz", "/readyz", "/metrics"):
            status, body = await call(app, "GET", path)
            out["statuses"][path] = status
        out["metrics_has_chat"] = b'status="200"' in body
        for path in ("/", "/playground", "/playground/app.js"):
            status, body = await call(app, "GET", path)
            out["statuses"][path] = status
        out["loaded_before"] = loaded()
        status, body = await call(app, "GET", "/openapi.json")
        out["openapi"] = [status, sorted(json.loads(body)["paths"])]
        out["loaded_after"] = loaded()
        await inbox.put({"type": "lifespan.shutdown"})
        await life
        out["stopped"] = (await outbox.get())["type"]
        print(json.dumps(out))


    asyncio.run(main())
    """
)


@pytest.mark.timeout(60)
def test_chat_operations_and_playground_never_import_fastapi_or_aiohttp(tmp_path: Path) -> None:
    fake = FakeOpenAI(api_key=UPSTREAM_KEY)
    with BackgroundApp(fake.app()) as upstream:
        env = {k: v for k, v in os.environ.items() if not k.startswith("VISIONGATE_")}
        env.update(
            VISIONGATE_API_KEYS="sk-test",
            VISIONGATE_DATA_DIR=str(tmp_path),
            VISIONGATE_LOG_LEVEL="warning",
            OPENAI_BASE_URL=f"{upstream.url}/v1",
            OPENAI_API_KEY=UPSTREAM_KEY,
        )
        done = subprocess.run(
            [sys.executable, "-c", _DRIVER], env=env, capture_output=True, text=True, timeout=50
        )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["started"] == "lifespan.startup.complete"
    assert out["chat"] == [200, "chat.completion"]
    assert out["statuses"] == {
        "/healthz": 200,
        "/readyz": 200,
        "/metrics": 200,
        "/": 302,
        "/playground": 200,
        "/playground/app.js": 200,
    }
    assert out["metrics_has_chat"]
    assert out["loaded_before"] == []
    status, paths = out["openapi"]
    assert status == 200
    assert {"/v1/chat/completions", "/healthz", "/readyz", "/metrics", "/v1/models"} <= set(paths)
    assert "fastapi" in out["loaded_after"]
    assert out["stopped"] == "lifespan.shutdown.complete"


async def _lifespan(app: Gateway) -> tuple[list[dict[str, Any]], BaseException | None]:
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await inbox.put({"type": "lifespan.startup"})
    try:
        await app({"type": "lifespan"}, inbox.get, send)
    except Exception as exc:
        return sent, exc
    return sent, None


@pytest.mark.timeout(30)
async def test_a_database_that_cannot_open_fails_the_startup_with_its_traceback(
    tmp_path: Path,
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    settings = Settings(
        data_dir=tmp_path,
        database_url=f"sqlite+aiosqlite:///{blocker}/accounts.db",
        api_keys=["k"],
    )
    sent, raised = await _lifespan(Gateway(settings, environ={}))
    assert raised is not None
    assert [m["type"] for m in sent] == ["lifespan.startup.failed"]
    assert type(raised).__name__ in sent[0]["message"]
