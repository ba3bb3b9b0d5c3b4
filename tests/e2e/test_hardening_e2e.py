"""Hardening end to end: a client that leaves before its whole answer is ready has the
upstream call cancelled (recorded 499), and every answer, whichever route, has an x-request-id."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests

from tests.fakes.openai_upstream import FakeOpenAI
from tests.support.background import BackgroundApp
from tests.support.gateway import GatewayProcess, run_gateway
from tests.support.usage import usage_rows

pytestmark = pytest.mark.timeout(90)

UPSTREAM_KEY = "sk-fake-upstream-0123456789"


@pytest.fixture(scope="module")
def fake() -> FakeOpenAI:
    return FakeOpenAI(api_key=UPSTREAM_KEY)


@pytest.fixture(scope="module")
def gw(fake: FakeOpenAI) -> Iterator[GatewayProcess]:
    with (
        BackgroundApp(fake.app()) as upstream,
        run_gateway(
            env={"OPENAI_BASE_URL": f"{upstream.url}/v1", "OPENAI_API_KEY": UPSTREAM_KEY}
        ) as server,
    ):
        yield server


def test_a_client_that_leaves_cancels_the_upstream_call_and_is_recorded_499(
    gw: GatewayProcess, fake: FakeOpenAI
) -> None:
    fake.reset()
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "[[hang]] hello"}]}
    headers = {"Authorization": f"Bearer {gw.api_key}", "x-request-id": "gone-1"}
    with pytest.raises(requests.Timeout):
        requests.post(f"{gw.base_url}/chat/completions", json=body, headers=headers, timeout=1)
    deadline = time.monotonic() + 20
    while fake.disconnects == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fake.disconnects == 1, "the upstream call kept running after the client left"
    assert usage_rows(gw, ["gone-1"]) == {"gone-1": (499, "client_closed")}
    # The gateway is still fine.
    body["messages"][0]["content"] = "hello"
    ok = requests.post(f"{gw.base_url}/chat/completions", json=body, headers=headers, timeout=30)
    assert ok.status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/models"),
        ("GET", "/v1/models/gpt-4o"),
        ("GET", "/v1/models/no-such-model"),
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/metrics"),
        ("GET", "/openapi.json"),
        ("GET", "/nowhere"),
        ("DELETE", "/v1/models"),
    ],
)
def test_every_answer_carries_a_request_id(gw: GatewayProcess, method: str, path: str) -> None:
    headers = {"Authorization": f"Bearer {gw.api_key}"}
    answer = requests.request(method, f"{gw.root}{path}", headers=headers, timeout=30)
    assert len(answer.headers.get("x-request-id", "")) >= 12
    given = requests.request(
        method, f"{gw.root}{path}", headers={**headers, "x-request-id": "mine-42"}, timeout=30
    )
    assert given.headers["x-request-id"] == "mine-42"
