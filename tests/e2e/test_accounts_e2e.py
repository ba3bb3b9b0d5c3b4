"""Keys, limits and usage on one real server (SQLite), through the admin API, the CLI and
the official ``openai`` SDK, with the offline ``local/ocr`` model."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import openai
import pytest
import requests

from tests.fakes.openai_upstream import FakeOpenAI
from tests.support.background import BackgroundApp
from tests.support.clients import openai_client
from tests.support.gateway import GatewayProcess, run_gateway
from tests.support.images import data_url, text_image
from tests.support.services import redis_namespace

pytestmark = pytest.mark.timeout(180)

ADMIN_KEY = "admin-" + secrets.token_hex(16)
UPSTREAM_KEY = "sk-upstream-" + secrets.token_hex(16)
MESSAGES: list[Any] = [
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "What does it say?"},
            {
                "type": "image_url",
                "image_url": {"url": data_url(text_image(["HELLO"]), "image/png")},
            },
        ],
    }
]


@pytest.fixture(scope="module")
def server() -> Iterator[GatewayProcess]:
    with run_gateway(env={"VISIONGATE_ADMIN_KEY": ADMIN_KEY}) as gw:
        yield gw


def _admin(
    gw: GatewayProcess, method: str, path: str, key: str = ADMIN_KEY, **kw: Any
) -> requests.Response:
    headers = {"Authorization": f"Bearer {key}"}
    return requests.request(method, f"{gw.root}/v1/admin{path}", headers=headers, timeout=30, **kw)


def _error(response: requests.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]


def _cli(gw: GatewayProcess, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VISIONGATE_")}
    env["VISIONGATE_DATA_DIR"] = str(gw.data_dir)  # the server's database
    return subprocess.run(
        [sys.executable, "-m", "visiongate", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _eventually(check: Callable[[], bool], timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def test_admin_api_is_off_without_an_admin_key(gateway: GatewayProcess) -> None:
    response = _admin(gateway, "GET", "/keys", key="anything")
    assert response.status_code == 403
    error = _error(response)
    assert error["code"] == "admin_disabled" and "VISIONGATE_ADMIN_KEY" in error["message"]


@pytest.mark.parametrize("key", ["wrong", "test-key", ""])
def test_admin_api_wants_the_admin_key(server: GatewayProcess, key: str) -> None:
    response = _admin(server, "GET", "/keys", key=key)
    assert response.status_code == 401
    assert _error(response)["code"] == "invalid_api_key"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"name": "x", "rpm": 0}, "rpm"),
        ({"name": ""}, "name"),
        ({"name": "x", "models": []}, "models"),
        ({"name": "x", "expires_in": "soon"}, "expires_in"),
        ({"name": "x", "colour": "red"}, "colour"),
        ({"rpm": 5}, "name"),
    ],
)
def test_create_refuses_bad_bodies(server: GatewayProcess, body: dict, param: str) -> None:
    response = _admin(server, "POST", "/keys", json=body)
    assert response.status_code == 400, response.text
    error = _error(response)
    assert error["param"] == param and error["type"] == "invalid_request_error"


def test_key_lifecycle_over_the_admin_api(server: GatewayProcess) -> None:
    created = _admin(
        server, "POST", "/keys", json={"name": "app", "models": "local/*", "rpm": 2, "tpm": 90000}
    )
    assert created.status_code == 201
    body = created.json()
    key, key_id = body["key"], body["id"]
    assert key.startswith("vg-") and key.startswith(body["prefix"]) and body["state"] == "active"

    client = openai_client(base_url=server.base_url, api_key=key, max_retries=0)
    raw = client.chat.completions.with_raw_response.create(model="local/ocr", messages=MESSAGES)
    assert "HELLO" in (raw.parse().choices[0].message.content or "").upper()
    assert raw.headers["x-ratelimit-limit-requests"] == "2"
    assert raw.headers["x-ratelimit-remaining-requests"] == "1"
    assert raw.headers["x-ratelimit-limit-tokens"] == "90000"
    assert int(raw.headers["x-ratelimit-remaining-tokens"]) < 90000

    client.chat.completions.create(model="local/ocr", messages=MESSAGES)
    with pytest.raises(openai.RateLimitError) as limited:
        client.chat.completions.create(model="local/ocr", messages=MESSAGES)
    assert limited.value.code == "rate_limit_exceeded"
    assert int(limited.value.response.headers["retry-after"]) >= 1

    listing = _admin(server, "GET", "/keys")
    assert listing.status_code == 200 and key not in listing.text
    mine = next(k for k in listing.json()["data"] if k["id"] == key_id)
    assert mine["models"] == ["local/*"] and mine["rpm"] == 2

    def recorded() -> bool:
        report = _admin(server, "GET", "/usage", params={"by": "key", "since": "1h"}).json()
        row = next((r for r in report["data"] if r["group"] == key_id), None)
        return row is not None and row["requests"] == 3 and row["errors"] == 1

    assert _eventually(recorded)
    assert _admin(server, "GET", f"/keys/{key_id}").json()["requests"] == 3

    revoked = _admin(server, "POST", f"/keys/{key_id}/revoke")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None

    def refused() -> bool:
        try:
            client.models.list()
        except openai.AuthenticationError as exc:
            return "revoked" in str(exc) and key not in str(exc)
        return False

    assert _eventually(refused)
    assert key not in server.log_text() and ADMIN_KEY not in server.log_text()


def test_model_patterns_refuse_other_models(server: GatewayProcess) -> None:
    key = _admin(server, "POST", "/keys", json={"name": "vlm", "models": ["local/smol*"]}).json()
    client = openai_client(base_url=server.base_url, api_key=key["key"], max_retries=0)
    with pytest.raises(openai.PermissionDeniedError) as info:
        client.chat.completions.create(model="local/ocr", messages=MESSAGES)
    assert info.value.code == "model_not_allowed"
    assert info.value.body["param"] == "model"  # type: ignore[index]


def test_admin_lookups_and_reports_refuse_nonsense(server: GatewayProcess) -> None:
    missing = _admin(server, "GET", "/keys/key_nope")
    assert missing.status_code == 404 and _error(missing)["code"] == "key_not_found"
    assert _admin(server, "DELETE", "/keys/key_nope").status_code == 404
    bad_by = _admin(server, "GET", "/usage", params={"by": "week"})
    assert bad_by.status_code == 400 and _error(bad_by)["param"] == "by"
    bad_since = _admin(server, "GET", "/usage", params={"since": "forever"})
    assert bad_since.status_code == 400 and _error(bad_since)["param"] == "since"


def test_cli_keys_act_on_the_running_server(server: GatewayProcess) -> None:
    made = _cli(server, "keys", "create", "--name", "from-cli", "--rpm", "100", "--json")
    assert made.returncode == 0, made.stderr
    key = json.loads(made.stdout)["key"]
    client = openai_client(base_url=server.base_url, api_key=key, max_retries=0)
    assert client.chat.completions.create(model="local/ocr", messages=MESSAGES).choices

    listed = _cli(server, "keys", "list")
    assert "from-cli" in listed.stdout and key not in listed.stdout

    def recorded() -> bool:
        report = _admin(server, "GET", "/usage", params={"by": "key"}).json()
        return any(r["name"] == "from-cli" for r in report["data"])

    assert _eventually(recorded)  # written behind the request; then the CLI reads it
    usage = _cli(server, "usage", "--by", "key", "--json")
    row = next(r for r in json.loads(usage.stdout) if r["name"] == "from-cli")
    assert row["requests"] == 1 and row["images"] == 1 and row["errors"] == 0
    revoked = _cli(server, "keys", "revoke", key)  # the whole key works as a reference too
    assert revoked.returncode == 0 and key not in revoked.stdout

    def refused() -> bool:
        try:
            client.models.list()
        except openai.AuthenticationError:
            return True
        return False

    assert _eventually(refused)


def test_workers_share_sqlite_and_redis() -> None:
    """``serve --workers 2`` on the default SQLite file: one limit, one row per request."""
    fake = FakeOpenAI(api_key=UPSTREAM_KEY)
    with (
        redis_namespace() as (redis_url, prefix),
        BackgroundApp(fake.app()) as upstream,
        run_gateway(
            env={
                "VISIONGATE_ADMIN_KEY": ADMIN_KEY,
                "VISIONGATE_REDIS_URL": redis_url,
                "VISIONGATE_REDIS_PREFIX": prefix,
                "OPENAI_API_KEY": UPSTREAM_KEY,
                "OPENAI_BASE_URL": f"{upstream.url}/v1",
            },
            args=["--workers", "2"],
        ) as gw,
    ):
        key = _admin(gw, "POST", "/keys", json={"name": "workers", "rpm": 20}).json()["key"]
        ids = [f"w-{secrets.token_hex(6)}" for _ in range(40)]

        def call(rid: str) -> int:
            body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
            headers = {"Authorization": f"Bearer {key}", "x-request-id": rid}
            url = f"{gw.base_url}/chat/completions"
            return requests.post(url, json=body, headers=headers, timeout=60).status_code

        with ThreadPoolExecutor(max_workers=40) as pool:
            statuses = sorted(pool.map(call, ids))
        assert statuses == [200] * 20 + [429] * 20
        assert len(fake.requests) == 20  # refused requests never reach the provider

        def rows() -> list[tuple[str, int]]:
            with contextlib.closing(sqlite3.connect(gw.data_dir / "visiongate.db")) as db:
                marks = ",".join("?" * len(ids))
                query = f"SELECT request_id, status FROM usage WHERE request_id IN ({marks})"
                return db.execute(query, ids).fetchall()

        assert _eventually(lambda: len(rows()) >= len(ids))
        found = rows()
        assert sorted(rid for rid, _ in found) == sorted(ids)
        assert sorted(status for _, status in found) == statuses
