"""The answer cache in Redis: three gateway processes share entries, and a Redis that goes
away mid-test turns hits into misses without failing a request.

The shared test Redis (127.0.0.1:6379, a key prefix of our own) serves the replicas; the
outage test starts a Redis server of its own on a free port, so stopping it touches no one
else.
"""

from __future__ import annotations

import contextlib
import secrets
import subprocess
import tempfile
import time
from collections.abc import Iterator

import pytest
import redis
import requests

from tests.fakes.openai_upstream import FakeOpenAI
from tests.support.background import BackgroundApp
from tests.support.clients import openai_client
from tests.support.gateway import GatewayProcess, free_port, run_gateway
from tests.support.images import data_url, make_image
from tests.support.services import redis_namespace

pytestmark = pytest.mark.timeout(240)

UPSTREAM_KEY = "sk-proj-cache-redis-" + secrets.token_hex(8)
KEY = "redis-cache-key-" + secrets.token_hex(8)
CONFIG = """
[models."gpt-4o"]
cache = { ttl_s = 600 }
"""
IMAGE = data_url(make_image("PNG", (72, 40), (10, 200, 90)), "image/png")


def ask(gw: GatewayProcess, text: str) -> tuple[str, str | None]:
    client = openai_client(base_url=gw.base_url, api_key=KEY, max_retries=0, timeout=60)
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": text},
                    {"type": "image_url", "image_url": {"url": IMAGE}},
                ],
            }
        ],
    )
    return raw.parse().choices[0].message.content or "", raw.headers.get("x-visiongate-cache")


@contextlib.contextmanager
def upstream() -> Iterator[tuple[FakeOpenAI, dict[str, str]]]:
    fake = FakeOpenAI(api_key=UPSTREAM_KEY)
    with BackgroundApp(fake.app()) as server:
        yield (
            fake,
            {
                "OPENAI_API_KEY": UPSTREAM_KEY,
                "OPENAI_BASE_URL": server.url + "/v1",
                "VISIONGATE_API_KEYS": KEY,
                "VISIONGATE_UPSTREAM_RETRIES": "0",
            },
        )


def test_three_replicas_share_one_entry() -> None:
    with upstream() as (fake, env), redis_namespace() as (url, prefix):
        env |= {"VISIONGATE_REDIS_URL": url, "VISIONGATE_REDIS_PREFIX": prefix}
        with contextlib.ExitStack() as stack:
            gateways = [stack.enter_context(run_gateway(env=env, config=CONFIG)) for _ in range(3)]
            text = "replicas " + secrets.token_hex(6)
            answers = [ask(gw, text) for gw in gateways]
            assert [status for _, status in answers] == ["miss", "hit", "hit"]
            assert len({answer for answer, _ in answers}) == 1
            assert len(fake.requests) == 1
            # The entry is in Redis, compressed, with the TTL Redis enforces.
            client = redis.Redis.from_url(url)
            keys = list(client.scan_iter(match=prefix + "ac:*"))
            assert len(keys) == 1
            assert 0 < client.pttl(keys[0]) <= 600_000
            assert client.get(keys[0])[:1] == b"\x78"  # a zlib stream
            client.close()


@contextlib.contextmanager
def own_redis() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A Redis server of this test's own, on a free port, without persistence."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="vg-redis-") as tmp:
        proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                tmp,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"redis://127.0.0.1:{port}/0"
        try:
            client = redis.Redis.from_url(url)
            deadline = time.monotonic() + 10
            while True:
                with contextlib.suppress(redis.RedisError):
                    if client.ping():
                        break
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
            client.close()
            yield url, proc
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)


def test_requests_are_answered_while_redis_is_down() -> None:
    with upstream() as (fake, env), own_redis() as (url, server):
        env |= {"VISIONGATE_REDIS_URL": url}
        with run_gateway(env=env, config=CONFIG) as gw:
            text = "outage " + secrets.token_hex(6)
            assert ask(gw, text)[1] == "miss"
            assert ask(gw, text)[1] == "hit"
            server.kill()
            server.wait(timeout=10)
            for _ in range(3):  # hits are misses now, and the provider answers them
                answer, status = ask(gw, text)
                assert status == "miss" and answer
            assert len(fake.requests) == 4
            metrics = requests.get(f"{gw.root}/metrics", timeout=10).text
            errors = [
                line
                for line in metrics.splitlines()
                if line.startswith("visiongate_answer_cache_errors_total")
            ]
            assert errors and float(errors[0].split()[-1]) >= 1
            assert "answer cache unavailable" in gw.log_text()
