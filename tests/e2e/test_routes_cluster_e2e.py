"""Three gateway processes sharing Redis, as replicas behind a balancer: a cooldown one of
them starts is honoured by the others.

Two fake OpenAI servers on 127.0.0.1 are two deployments of one route; the first answers
500. Each gateway has its own SQLite file; Redis (a key prefix of this test's own) is the
only thing they share.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import pytest
import redis
import requests

from tests.fakes.openai_upstream import FakeOpenAI
from tests.support.background import BackgroundApp
from tests.support.gateway import GatewayProcess, run_gateway
from tests.support.services import redis_namespace

pytestmark = pytest.mark.timeout(180)

CONFIG = """
upstream_retries = 0

[providers.first]
kind = "openai"
base_url = "{first}/v1"
api_key_env = "FIRST_KEY"

[providers.second]
kind = "openai"
base_url = "{second}/v1"
api_key_env = "SECOND_KEY"

[models."gpt-4o@first"]
provider = "first"
like = "gpt-4o"

[models."gpt-4o@second"]
provider = "second"
like = "gpt-4o"

[routes."gpt-4o"]
targets = ["gpt-4o@first", "gpt-4o@second"]
strategy = "ordered"
cooldown = {{ failures = 2, window_s = 60, seconds = 600 }}
"""


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[list[GatewayProcess], FakeOpenAI, FakeOpenAI, str, str]]:
    first = FakeOpenAI(api_key="sk-first-" + uuid.uuid4().hex, fail_status=500)
    second = FakeOpenAI(api_key="sk-second-" + uuid.uuid4().hex)
    with (
        redis_namespace() as (redis_url, prefix),
        BackgroundApp(first.app()) as one,
        BackgroundApp(second.app()) as two,
    ):
        env = {
            "VISIONGATE_REDIS_URL": redis_url,
            "VISIONGATE_REDIS_PREFIX": prefix,
            "FIRST_KEY": first.api_key or "",
            "SECOND_KEY": second.api_key or "",
        }
        config = CONFIG.format(first=one.url, second=two.url)
        with contextlib.ExitStack() as stack:
            gateways = [stack.enter_context(run_gateway(env=env, config=config)) for _ in range(3)]
            yield gateways, first, second, redis_url, prefix


def _chat(gateway: GatewayProcess) -> requests.Response:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}]}
    headers = {"Authorization": f"Bearer {gateway.api_key}"}
    return requests.post(
        f"{gateway.base_url}/chat/completions", json=body, headers=headers, timeout=60
    )


def test_a_cooldown_started_by_one_replica_is_honoured_by_the_others(
    cluster: tuple[list[GatewayProcess], FakeOpenAI, FakeOpenAI, str, str],
) -> None:
    gateways, first, second, redis_url, prefix = cluster
    # Replica 0 and 1 each see one failure: two together reach the threshold.
    for gateway in gateways[:2]:
        response = _chat(gateway)
        assert response.status_code == 200
        assert response.headers["x-visiongate-provider"] == "second"
        assert response.headers["x-visiongate-attempts"] == "2"
    assert len(first.requests) == 2
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.exists(f"{prefix}cd:{{gpt-4o@first}}:until") == 1
    finally:
        client.close()
    for i in range(9):
        response = _chat(gateways[i % 3])
        assert response.status_code == 200
        assert response.headers["x-visiongate-attempts"] == "1"
    assert len(first.requests) == 2  # no replica sent it anything during the cooldown
    assert len(second.requests) == 11
    metrics = requests.get(f"{gateways[2].root}/metrics", timeout=10).text
    assert 'visiongate_deployment_state{deployment="gpt-4o@first"} 1.0' in metrics
