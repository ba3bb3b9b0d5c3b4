"""Three gateway processes sharing PostgreSQL and Redis, as replicas behind a balancer.

Proves what one process cannot: the rpm limit is held by the three together, a
revocation reaches all of them, and every request leaves exactly one usage row —
including streams the client dropped and requests in flight at a graceful shutdown.
A fake OpenAI upstream on 127.0.0.1 answers; the official ``openai`` SDK and plain
``requests`` are the clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import asyncpg
import openai
import pytest
import requests

from tests.fakes.openai_upstream import FakeOpenAI
from tests.support.background import BackgroundApp
from tests.support.clients import openai_client
from tests.support.gateway import GatewayProcess, run_gateway
from tests.support.images import data_url, make_image
from tests.support.services import redis_namespace, temporary_postgres_database

pytestmark = pytest.mark.timeout(240)

ADMIN_KEY = "admin-" + secrets.token_hex(16)
STATIC_KEY = "static-" + secrets.token_hex(16)
UPSTREAM_KEY = "sk-upstream-" + secrets.token_hex(16)
IMAGE = data_url(make_image("PNG", (96, 64)), "image/png")


@dataclass
class Cluster:
    gateways: list[GatewayProcess]
    fake: FakeOpenAI
    database_url: str
    env: dict[str, str]

    def admin(self, method: str, path: str, index: int = 0, **kw: object) -> requests.Response:
        url = f"{self.gateways[index].root}/v1/admin{path}"
        headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
        return requests.request(method, url, headers=headers, timeout=30, **kw)  # type: ignore[arg-type]

    def create_key(self, **body: object) -> dict[str, object]:
        response = self.admin("POST", "/keys", json={"name": "cluster", **body})
        assert response.status_code == 201, response.text
        return response.json()

    def usage_rows(self, request_ids: list[str]) -> dict[str, list[tuple[int, str | None]]]:
        async def query() -> list[asyncpg.Record]:
            dsn = self.database_url.replace("postgresql+asyncpg://", "postgresql://")
            conn = await asyncpg.connect(dsn)
            try:
                return await conn.fetch(
                    "SELECT request_id, status, error_code FROM usage "
                    "WHERE request_id = ANY($1::text[])",
                    request_ids,
                )
            finally:
                await conn.close()

        rows: dict[str, list[tuple[int, str | None]]] = {}
        for row in asyncio.run(query()):
            rows.setdefault(row["request_id"], []).append((row["status"], row["error_code"]))
        return rows

    def wait_for_rows(self, request_ids: list[str], timeout: float = 20) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            rows = self.usage_rows(request_ids)
            if len(rows) == len(request_ids) or time.monotonic() > deadline:
                return rows
            time.sleep(0.2)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    fake = FakeOpenAI(api_key=UPSTREAM_KEY)
    with (
        temporary_postgres_database() as database_url,
        redis_namespace() as (redis_url, prefix),
        BackgroundApp(fake.app()) as upstream,
    ):
        env = {
            "VISIONGATE_DATABASE_URL": database_url,
            "VISIONGATE_REDIS_URL": redis_url,
            "VISIONGATE_REDIS_PREFIX": prefix,
            "VISIONGATE_ADMIN_KEY": ADMIN_KEY,
            "VISIONGATE_API_KEYS": STATIC_KEY,
            "OPENAI_API_KEY": UPSTREAM_KEY,
            "OPENAI_BASE_URL": f"{upstream.url}/v1",
        }
        with contextlib.ExitStack() as stack:
            gateways = [stack.enter_context(run_gateway(env=env)) for _ in range(3)]
            yield Cluster(gateways, fake, database_url, env)


def _chat(gw: GatewayProcess, key: str, text: str = "hello", **extra: object) -> requests.Response:
    body = {
        "model": "gpt-4o",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": text},
                    {"type": "image_url", "image_url": {"url": IMAGE}},
                ],
            }
        ],
        "max_tokens": 50,
        **extra,
    }
    headers = {"Authorization": f"Bearer {key}", "x-request-id": "req-" + secrets.token_hex(8)}
    return requests.post(f"{gw.base_url}/chat/completions", json=body, headers=headers, timeout=60)


def test_rpm_is_held_by_all_replicas_together(cluster: Cluster) -> None:
    key = str(cluster.create_key(rpm=30)["key"])
    gateways = cluster.gateways
    with ThreadPoolExecutor(max_workers=60) as pool:
        responses = list(pool.map(lambda i: _chat(gateways[i % 3], key), range(60)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 30 + [429] * 30
    for response in responses:
        assert response.headers["x-ratelimit-limit-requests"] == "30"
        if response.status_code == 429:
            error = response.json()["error"]
            assert error["code"] == "rate_limit_exceeded" and error["type"] == "rate_limit_error"
            assert int(response.headers["retry-after"]) >= 1
            assert response.headers["x-ratelimit-remaining-requests"] == "0"
    # The official SDK sees the same limit as a RateLimitError.
    client = openai_client(base_url=gateways[1].base_url, api_key=key, max_retries=0)
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}], max_tokens=5
        )
    assert info.value.code == "rate_limit_exceeded"


def test_revocation_reaches_every_replica(cluster: Cluster) -> None:
    created = cluster.create_key()
    key = str(created["key"])
    for gw in cluster.gateways:
        assert _chat(gw, key).status_code == 200
    revoked = cluster.admin("DELETE", f"/keys/{created['id']}", index=2)
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    started = time.monotonic()
    refused_after: dict[int, float] = {}
    while len(refused_after) < 3 and time.monotonic() - started < 5:  # TTL is 1 s
        for index, gw in enumerate(cluster.gateways):
            if index in refused_after:
                continue
            response = _chat(gw, key)
            if response.status_code == 401:
                assert response.json()["error"]["code"] == "invalid_api_key"
                assert "revoked" in response.json()["error"]["message"]
                refused_after[index] = time.monotonic() - started
        time.sleep(0.05)
    assert sorted(refused_after) == [0, 1, 2], f"still accepted by some replicas: {refused_after}"


def _dropped_stream(gw: GatewayProcess, key: str, request_id: str) -> None:
    """Start a slow stream, read its first event, then hang up."""
    body = {
        "model": "gpt-4o",
        "stream": True,
        "messages": [{"role": "user", "content": "count [[chunks=80]] [[chunk_delay=0.05]]"}],
    }
    headers = {"Authorization": f"Bearer {key}", "x-request-id": request_id}
    with requests.post(
        f"{gw.base_url}/chat/completions", json=body, headers=headers, stream=True, timeout=30
    ) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith(b"data: ") and b"content" in line:
                break
    # Leaving the block closes the connection with most of the stream unsent.


def test_every_request_leaves_exactly_one_usage_row(cluster: Cluster) -> None:
    key = str(cluster.create_key()["key"])
    gateways = cluster.gateways
    ids: dict[str, str] = {}

    def complete(i: int) -> None:
        rid = f"ok-{secrets.token_hex(6)}"
        text = "fail [[status=500]]" if i % 5 == 0 else "hello"
        body = {"model": "gpt-4o", "messages": [{"role": "user", "content": text}]}
        headers = {"Authorization": f"Bearer {key}", "x-request-id": rid}
        response = requests.post(
            f"{gateways[i % 3].base_url}/chat/completions", json=body, headers=headers, timeout=60
        )
        ids[rid] = "error" if i % 5 == 0 else "ok"
        assert response.status_code == (502 if i % 5 == 0 else 200), response.text

    def dropped(i: int) -> None:
        rid = f"drop-{secrets.token_hex(6)}"
        _dropped_stream(gateways[i % 3], key, rid)
        ids[rid] = "dropped"

    def bad_key(i: int) -> None:
        rid = f"unauth-{secrets.token_hex(6)}"
        headers = {"Authorization": "Bearer vg-wrong", "x-request-id": rid}
        body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]}
        response = requests.post(
            f"{gateways[i % 3].base_url}/chat/completions", json=body, headers=headers, timeout=60
        )
        assert response.status_code == 401
        ids[rid] = "unauthenticated"

    with ThreadPoolExecutor(max_workers=12) as pool:
        jobs = [pool.submit(complete, i) for i in range(20)]
        jobs += [pool.submit(dropped, i) for i in range(6)]
        jobs += [pool.submit(bad_key, i) for i in range(4)]
        for job in jobs:
            job.result()
    rows = cluster.wait_for_rows(list(ids))
    assert {rid: len(found) for rid, found in rows.items()} == {rid: 1 for rid in ids}
    for rid, kind in ids.items():
        status, code = rows[rid][0]
        expected = {"ok": 200, "error": 502, "dropped": 499, "unauthenticated": 401}[kind]
        assert status == expected, (rid, rows[rid])
        if kind == "dropped":
            assert code == "client_closed"


def test_requests_in_flight_at_sigterm_are_answered_and_recorded(cluster: Cluster) -> None:
    key = str(cluster.create_key()["key"])
    # A fourth replica that never flushes on its own: only the shutdown can write its rows.
    env = {**cluster.env, "VISIONGATE_USAGE_FLUSH_INTERVAL": "3600"}
    with run_gateway(env=env) as gw:
        _sigterm_in_flight(cluster, gw, key)


def _sigterm_in_flight(cluster: Cluster, gw: GatewayProcess, key: str) -> None:
    before = len(cluster.fake.requests)
    ids = [f"term-{secrets.token_hex(6)}" for _ in range(8)]
    results: dict[str, int] = {}

    def slow(rid: str) -> None:
        body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "[[delay=1.5]]"}]}
        headers = {"Authorization": f"Bearer {key}", "x-request-id": rid}
        response = requests.post(
            f"{gw.base_url}/chat/completions", json=body, headers=headers, timeout=60
        )
        results[rid] = response.status_code

    threads = [threading.Thread(target=slow, args=(rid,)) for rid in ids]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 20
    while len(cluster.fake.requests) - before < len(ids) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(cluster.fake.requests) - before >= len(ids), "requests never reached upstream"
    # SIGTERM: finish what is in flight, flush usage, exit (uvicorn re-raises the signal
    # once it has shut down cleanly, so the exit status is -SIGTERM either way).
    gw.stop(signal.SIGTERM, timeout=30)
    for thread in threads:
        thread.join(timeout=30)
    assert results == {rid: 200 for rid in ids}
    rows = cluster.usage_rows(ids)  # no waiting: the server wrote them before exiting
    assert {rid: found for rid, found in rows.items()} == {rid: [(200, None)] for rid in ids}


def test_keys_never_appear_in_logs_or_the_database(cluster: Cluster) -> None:
    created = cluster.create_key(models=["gpt-4o*"])
    key = str(created["key"])
    gw = cluster.gateways[0]
    assert _chat(gw, key).status_code == 200
    assert _chat(gw, key + "x").status_code == 401
    assert _chat(gw, STATIC_KEY).status_code == 200
    listing = cluster.admin("GET", "/keys").text
    assert key not in listing and str(created["prefix"]) in listing

    async def dump() -> str:
        dsn = cluster.database_url.replace("postgresql+asyncpg://", "postgresql://")
        conn = await asyncpg.connect(dsn)
        try:
            rows = await conn.fetch("SELECT * FROM api_keys")
            rows += await conn.fetch("SELECT * FROM usage")
        finally:
            await conn.close()
        return "\n".join(repr(dict(r)) for r in rows)

    text = asyncio.run(dump())
    logs = "\n".join(g.log_text() for g in cluster.gateways)
    assert "gpt-4o" in text and len(logs) > 0
    for secret in (key, key[12:], STATIC_KEY, ADMIN_KEY, UPSTREAM_KEY):
        assert secret not in text
        assert secret not in logs
