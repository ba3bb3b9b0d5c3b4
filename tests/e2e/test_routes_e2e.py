"""Routes end to end: several deployments of one API family, failing ones, fallbacks.

One real gateway process for the module. Its config file declares seven provider
accounts, each a separate fake OpenAI server on 127.0.0.1 (two healthy, the others made
to answer 500 / 429 / 401 / nothing, or to have no vision or room for one image only),
catalog entries on them made ``like = "gpt-4o"``, and the routes the tests call. The
client is the official ``openai`` SDK. Cooldown state lives in the gateway, so each test
that cools a deployment uses deployments of its own.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import openai
import pytest
import requests

from tests.fakes.openai_upstream import FakeOpenAI
from tests.support.background import BackgroundApp
from tests.support.gateway import GatewayProcess, run_gateway
from tests.support.images import data_url, make_image

pytestmark = pytest.mark.timeout(180)

ADMIN_KEY = "admin-routes-" + uuid.uuid4().hex
PNG = data_url(make_image("PNG", (64, 48)), "image/png")
ACCOUNTS = ("one", "two", "down", "down2", "keyfail", "hang", "text", "single", "s")
MODELS = {  # model id -> provider account
    "m-one": "one",
    "m-two": "two",
    "m-down": "down",
    "m-down2": "down2",
    "m-keyfail": "keyfail",
    "m-hang": "hang",
    "m-text": "text",
    "m-single": "single",
    "m-stream": "s",
}
ROUTES = """
[routes."split"]
targets = [{ model = "m-one", weight = 3 }, { model = "m-two", weight = 1 }]

[routes."failover"]
targets = ["m-down", "m-one"]
strategy = "ordered"
retries = 1
cooldown = { failures = 2, window_s = 60, seconds = 3 }

[routes."keyfail"]
targets = ["m-keyfail", "m-two"]
strategy = "ordered"
cooldown = { failures = 50, window_s = 60, seconds = 600 }

[routes."vision"]
targets = ["m-down2"]
retries = 0
fallbacks = ["m-text", "m-single", "m-two"]
cooldown = { failures = 1000 }

[routes."hang"]
targets = ["m-hang", "m-one"]
strategy = "ordered"
retries = 0
cooldown = { failures = 1000 }

[routes."streamed"]
targets = ["m-stream"]
retries = 0
fallbacks = ["m-two"]
cooldown = { failures = 1000 }

[routes."allfail"]
targets = ["m-down2"]
retries = 0
fallbacks = ["m-down"]
cooldown = { failures = 1000 }
"""


@dataclass
class Routes:
    gateway: GatewayProcess
    fakes: dict[str, FakeOpenAI]

    def calls(self, account: str) -> int:
        return len(self.fakes[account].requests)

    def reset(self) -> None:
        for fake in self.fakes.values():
            fake.requests.clear()

    def post(self, body: dict[str, Any], key: str | None = None) -> requests.Response:
        return requests.post(
            f"{self.gateway.base_url}/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {key or self.gateway.api_key}"},
            timeout=60,
        )

    def usage(self, request_id: str) -> dict[str, Any]:
        def row() -> dict[str, Any] | None:
            with contextlib.closing(sqlite3.connect(self.gateway.data_dir / "visiongate.db")) as db:
                db.row_factory = sqlite3.Row
                found = db.execute("SELECT * FROM usage WHERE request_id = ?", (request_id,))
                first = found.fetchone()
                return dict(first) if first else None

        deadline = time.monotonic() + 20
        while (found := row()) is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert found is not None, f"no usage row for {request_id}"
        return found


def _config(servers: dict[str, BackgroundApp]) -> str:
    lines = ["upstream_retries = 0", f'admin_key = "{ADMIN_KEY}"']
    for account, server in servers.items():
        lines += [
            f"[providers.{account}]",
            'kind = "openai"',
            f'base_url = "{server.url}/v1"',
            f'api_key_env = "KEY_{account.upper()}"',
        ]
    for model, account in MODELS.items():
        lines += [f'[models."{model}"]', f'provider = "{account}"', 'like = "gpt-4o"']
        lines += [f'upstream = "gpt-4o-{account}"']
        if account == "single":
            lines += ["image = { max_images = 1 }"]
        if account == "text":
            lines += ['capabilities = ["streaming", "tools"]']  # no "vision"
    return "\n".join(lines) + "\n" + ROUTES


@pytest.fixture(scope="module")
def routes() -> Iterator[Routes]:
    fakes = {
        account: FakeOpenAI(api_key=f"sk-{account}-{uuid.uuid4().hex}") for account in ACCOUNTS
    }
    servers = {account: BackgroundApp(fake.app()).start() for account, fake in fakes.items()}
    env = {f"KEY_{a.upper()}": fake.api_key or "" for a, fake in fakes.items()}
    env["VISIONGATE_UPSTREAM_TIMEOUT"] = "1"
    try:
        with run_gateway(env=env, config=_config(servers)) as gateway:
            yield Routes(gateway, fakes)
    finally:
        for server in servers.values():
            server.stop()


@pytest.fixture
def r(routes: Routes) -> Iterator[Routes]:
    routes.reset()
    yield routes
    for fake in routes.fakes.values():
        fake.fail_status = None
        fake.hang = False


def ask(model: str, text: str = "Hi", images: int = 0, **extra: Any) -> dict[str, Any]:
    content: list[dict[str, Any]] = [{"type": "text", "text": text}]
    content += [{"type": "image_url", "image_url": {"url": PNG}} for _ in range(images)]
    return {"model": model, "messages": [{"role": "user", "content": content}], **extra}


def test_weighted_targets_split_the_traffic_by_weight(r: Routes) -> None:
    """Weights 3:1 over 400 requests: the first target's share is 0.75; the tolerance
    (0.65-0.85) is over four standard deviations of the binomial (0.022)."""
    client = r.gateway.client()
    served: dict[str, int] = {}
    for _ in range(400):
        raw = client.chat.completions.with_raw_response.create(**ask("split"))
        answer = raw.parse()
        assert answer.model == "split"
        assert raw.headers["x-visiongate-attempts"] == "1"
        provider = raw.headers["x-visiongate-provider"]
        served[provider] = served.get(provider, 0) + 1
        assert raw.headers["x-visiongate-upstream-model"] == f"gpt-4o-{provider}"
    assert set(served) == {"one", "two"}
    assert 0.65 <= served["one"] / 400 <= 0.85
    assert r.calls("one") == served["one"] and r.calls("two") == served["two"]


def test_a_failing_deployment_is_retried_skipped_cooled_and_back_after(r: Routes) -> None:
    r.fakes["down"].fail_status = 500
    first = r.post(ask("failover"))
    assert first.status_code == 200, first.text
    # Called, retried once (retries = 1); the second failure started its cooldown.
    assert r.calls("down") == 2 and r.calls("one") == 1
    assert first.headers["x-visiongate-attempts"] == "3"
    assert first.headers["x-visiongate-provider"] == "one"
    for _ in range(5):
        during = r.post(ask("failover"))
        assert during.status_code == 200 and during.headers["x-visiongate-attempts"] == "1"
    assert r.calls("down") == 2  # nothing during the cooldown
    row = r.usage(first.headers["x-request-id"])
    assert (row["deployment"], row["attempts"], row["provider"]) == ("m-one", 3, "one")
    metrics = requests.get(f"{r.gateway.root}/metrics", timeout=10).text
    assert 'visiongate_deployment_state{deployment="m-down"} 1.0' in metrics
    assert 'visiongate_cooldowns_total{deployment="m-down"} 1.0' in metrics
    assert 'visiongate_upstream_attempts_total{deployment="m-down",result="retry"} 2.0' in metrics
    r.fakes["down"].fail_status = None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the cooldown is 3 s
        again = r.post(ask("failover"))
        if again.headers["x-visiongate-provider"] == "down":
            break
        time.sleep(0.25)
    assert again.headers["x-visiongate-provider"] == "down" and r.calls("down") == 3


def test_a_refused_provider_key_cools_the_deployment_at_once(r: Routes) -> None:
    r.fakes["keyfail"].fail_status = 401
    first = r.post(ask("keyfail"))
    assert first.status_code == 200
    assert r.calls("keyfail") == 1  # not retried: the key will not get better
    assert first.headers["x-visiongate-attempts"] == "2"
    assert first.headers["x-visiongate-provider"] == "two"
    second = r.post(ask("keyfail"))
    assert second.status_code == 200 and second.headers["x-visiongate-attempts"] == "1"
    assert r.calls("keyfail") == 1
    assert r.fakes["keyfail"].api_key not in r.gateway.log_text()


def test_fallbacks_in_order_skip_models_that_cannot_see_the_images(r: Routes) -> None:
    r.fakes["down2"].fail_status = 500
    two = r.post(ask("vision", images=2))
    assert two.status_code == 200, two.text
    # m-text has no vision, m-single takes one image: skipped, never called.
    assert r.calls("text") == 0 and r.calls("single") == 0 and r.calls("two") == 1
    assert two.headers["x-visiongate-attempts"] == "2"  # skipped ones are not attempts
    assert two.json()["model"] == "vision"
    row = r.usage(two.headers["x-request-id"])
    assert (row["deployment"], row["attempts"], row["fallback"]) == ("m-two", 2, "m-two")
    log = [json.loads(line) for line in r.gateway.log_text().splitlines() if line.startswith("{")]
    line = next(e for e in log if e.get("request_id") == two.headers["x-request-id"])
    assert [f["deployment"] for f in line["failures"]] == ["m-down2"]
    one = r.post(ask("vision", images=1))
    assert one.headers["x-visiongate-provider"] == "single" and r.calls("text") == 0
    text = r.post(ask("vision"))
    assert text.headers["x-visiongate-provider"] == "text"


def test_no_target_can_take_the_request_is_a_400_naming_why(r: Routes) -> None:
    response = r.post(ask("m-single", images=2))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "too_many_images"
    assert r.calls("single") == 0


def test_a_hanging_deployment_times_out_and_the_next_one_answers(r: Routes) -> None:
    r.fakes["hang"].hang = True
    response = r.post(ask("hang"))
    assert response.status_code == 200
    assert response.headers["x-visiongate-provider"] == "one"
    assert response.headers["x-visiongate-attempts"] == "2"


def test_a_stream_falls_back_before_its_first_chunk_and_never_after(r: Routes) -> None:
    client = r.gateway.client()
    r.fakes["s"].fail_status = 503
    chunks = list(client.chat.completions.create(**ask("streamed"), stream=True))
    assert "gpt-4o-two" in "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert r.calls("s") == 1 and r.calls("two") == 1
    r.fakes["s"].fail_status = None
    r.reset()
    got: list[str] = []
    with pytest.raises(openai.APIError):
        for chunk in client.chat.completions.create(
            **ask("streamed", "Hi [[break=3]]"), stream=True
        ):
            got += [c.delta.content or "" for c in chunk.choices]
    assert "".join(got)  # the client had the first chunks
    assert r.calls("s") == 1 and r.calls("two") == 0


def test_when_everything_fails_the_client_gets_the_primary_error(r: Routes) -> None:
    r.fakes["down2"].fail_status = 429
    r.fakes["down"].fail_status = 500
    response = r.post(ask("allfail"))
    assert response.status_code == 429  # m-down2's, not the fallback's 502
    assert response.json()["error"]["code"] == "rate_limit_exceeded"
    assert response.headers["x-visiongate-attempts"] == "2"
    assert r.calls("down2") == 1 and r.calls("down") == 1


def test_per_request_fallbacks_obey_the_key_allowlist(r: Routes) -> None:
    r.fakes["down"].fail_status = 502
    body = ask("m-down", fallbacks=["m-two"])
    ok = r.gateway.client().chat.completions.with_raw_response.create(
        model=body["model"], messages=body["messages"], extra_body={"fallbacks": ["m-two"]}
    )
    assert ok.headers["x-visiongate-provider"] == "two" and ok.parse().model == "m-down"
    unknown = r.post(ask("m-down", fallbacks=["no-such-model"]))
    assert unknown.status_code == 404
    assert unknown.json()["error"]["param"] == "fallbacks[0]"
    created = requests.post(
        f"{r.gateway.root}/v1/admin/keys",
        json={"name": "narrow", "models": ["m-down", "split"]},
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        timeout=10,
    )
    key = created.json()["key"]
    refused = r.post(ask("m-down", fallbacks=["m-two"]), key=key)
    assert refused.status_code == 403 and refused.json()["error"]["param"] == "fallbacks[0]"
    # A route is allowed by its name: its targets come with it.
    routed = r.post(ask("split"), key=key)
    assert routed.status_code == 200, routed.text


def test_per_request_fallbacks_through_the_responses_and_messages_surfaces(r: Routes) -> None:
    r.fakes["down"].fail_status = 502
    response = r.gateway.client().responses.with_raw_response.create(
        model="m-down", input="Hello", extra_body={"fallbacks": ["m-two"]}
    )
    assert response.headers["x-visiongate-provider"] == "two"
    assert response.parse().model == "m-down"
    message = requests.post(
        f"{r.gateway.root}/v1/messages",
        json={
            "model": "m-down",
            "max_tokens": 20,
            "messages": [{"role": "user", "content": "Hello"}],
            "fallbacks": ["m-two"],
        },
        headers={"x-api-key": r.gateway.api_key},
        timeout=60,
    )
    assert message.status_code == 200, message.text
    assert message.headers["x-visiongate-provider"] == "two"
    assert message.json()["model"] == "m-down"


def test_models_lists_routes_with_targets_and_fallbacks(r: Routes) -> None:
    listed = r.gateway.client().models.list()
    cards = {m.id: m.model_dump() for m in listed.data}
    vision = cards["vision"]
    assert vision["owned_by"] == "visiongate" and vision["available"] is True
    assert vision["route"]["fallbacks"] == ["m-text", "m-single", "m-two"]
    assert [t["model"] for t in vision["route"]["targets"]] == ["m-down2"]
    one = r.gateway.client().models.retrieve("split").model_dump()
    assert one["route"]["targets"] == [
        {"model": "m-one", "weight": 3.0},
        {"model": "m-two", "weight": 1.0},
    ]


def test_a_direct_model_reports_its_deployment(r: Routes) -> None:
    raw = r.gateway.client().chat.completions.with_raw_response.create(**ask("m-one"))
    assert raw.headers["x-visiongate-provider"] == "one"
    assert raw.headers["x-visiongate-upstream-model"] == "gpt-4o-one"
    assert raw.headers["x-visiongate-attempts"] == "1"
