"""Every catalog model served by the OpenAI adapter, end to end.

One real gateway process for the module, pointed by environment at four fake
OpenAI-compatible upstreams on 127.0.0.1 (OpenAI, Together, OpenRouter, MiniMax) and,
through its config file, at a user-defined keyless vLLM-style endpoint. The client is
the official ``openai`` SDK. The fakes check the wire format and record what arrived.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import openai
import pytest
import requests

from tests.fakes.openai_upstream import FakeOpenAI
from tests.support.background import BackgroundApp
from tests.support.gateway import GatewayProcess, run_gateway
from tests.support.images import data_url, make_image
from visiongate.core.catalog import ModelEntry, load_catalog

pytestmark = pytest.mark.timeout(120)

CATALOG = load_catalog(environ={})
FAMILY = sorted(
    model.id for model in CATALOG.models.values() if CATALOG.provider_of(model).kind == "openai"
)
KEYS = {
    "openai": "sk-proj-e2e-openai-7Q2x9LmN4pR8",
    "together": "tgp-e2e-together-5Hk3Vw1Zy6Ab",
    "openrouter": "sk-or-v1-e2e-openrouter-2Jf8Ud",
    "minimax": "mm-e2e-minimax-key-9Cc4Ee7Gg1",
}
PNG = make_image("PNG", (64, 48), (30, 160, 90))
PNG_URL = data_url(PNG, "image/png")
VLLM_CONFIG = """
[providers.myvllm]
kind = "openai"
base_url = "{url}/v1"
options = {{ auth = "none" }}

[models."my/model"]
provider = "myvllm"
upstream = "Qwen/Qwen2-VL-7B-Instruct"
image_profile = "openai_compatible"
"""


@dataclass
class Family:
    gateway: GatewayProcess
    fakes: dict[str, FakeOpenAI]
    image_url: str

    def fake_for(self, model_id: str) -> FakeOpenAI:
        return self.fakes[CATALOG.models[model_id].provider]


@pytest.fixture(scope="module")
def family(image_host: BackgroundApp) -> Iterator[Family]:
    fakes = {
        "openai": FakeOpenAI(api_key=KEYS["openai"]),
        "together": FakeOpenAI(api_key=KEYS["together"], max_images=1),
        "openrouter": FakeOpenAI(api_key=KEYS["openrouter"], sse_comments=True),
        "minimax": FakeOpenAI(api_key=KEYS["minimax"], minimax=True, temperature_range=(0.0, 1.0)),
        "myvllm": FakeOpenAI(api_key=None, accept_developer_role=False),
    }
    servers = {name: BackgroundApp(fake.app()).start() for name, fake in fakes.items()}
    try:
        env = {"VISIONGATE_UPSTREAM_TIMEOUT": "1"}
        for name in KEYS:
            prefix = name.upper()
            env[f"{prefix}_API_KEY"] = KEYS[name]
            suffix = "" if name == "minimax" else "/v1"
            env[f"{prefix}_BASE_URL"] = servers[name].url + suffix
        config = VLLM_CONFIG.format(url=servers["myvllm"].url)
        with run_gateway(env=env, config=config) as gateway:
            yield Family(gateway, fakes, f"{image_host.url}/img/red.jpg")
    finally:
        for server in servers.values():
            server.stop()


def marker() -> str:
    return f"[{uuid.uuid4().hex[:10]}]"


def content(text: str, *urls: str) -> list[dict]:
    parts: list[dict] = [{"type": "text", "text": text}]
    parts += [{"type": "image_url", "image_url": {"url": url}} for url in urls]
    return parts


def images_for(model: ModelEntry, family: Family, stream: bool) -> list[str]:
    """Two images, one by URL and one inline; one (alternating) where the model takes one."""
    if model.image.max_images >= 2:
        return [family.image_url, PNG_URL]
    return [PNG_URL] if stream else [family.image_url]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("model_id", FAMILY)
def test_every_openai_family_model(family: Family, model_id: str, stream: bool) -> None:
    model = CATALOG.models[model_id]
    fake = family.fake_for(model_id)
    client = family.gateway.client()
    urls = images_for(model, family, stream)
    messages = [
        {"role": "system", "content": "You describe images."},
        {"role": "user", "content": content(f"What is in these? {marker()}", *urls)},
    ]
    if stream:
        chunks = list(
            client.chat.completions.create(
                model=model_id,
                messages=messages,
                stream=True,
                stream_options={"include_usage": True},
                max_tokens=50,
            )
        )
        assert {c.model for c in chunks} == {model_id}
        assert all(c.object == "chat.completion.chunk" for c in chunks)
        assert chunks[0].choices[0].delta.role == "assistant"
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        finish = [c.choices[0].finish_reason for c in chunks if c.choices]
        assert finish[-1] == "stop" and set(finish[:-1]) == {None}
        usage = chunks[-1].usage
        assert chunks[-1].choices == []
    else:
        completion = client.chat.completions.create(
            model=model_id, messages=messages, max_tokens=50
        )
        assert completion.object == "chat.completion" and completion.model == model_id
        assert completion.choices[0].finish_reason == "stop"
        text = completion.choices[0].message.content or ""
        usage = completion.usage

    sent = fake.last
    assert sent.body["model"] == model.upstream
    assert sent.headers["authorization"] == f"Bearer {KEYS[model.provider]}"
    minimax = model.provider == "minimax"
    assert sent.path == ("/v1/text/chatcompletion_v2" if minimax else "/v1/chat/completions")
    assert sent.image_urls == urls  # the URL passed through, the data URL byte for byte
    assert sent.body.get("stream", False) is stream
    if stream:
        assert sent.body["stream_options"] == {"include_usage": True}
    said = f"Fake reply from {model.upstream}: {len(urls)} image(s) in 2 message(s)."
    assert text == f"{said} lorem ipsum dolor"
    assert usage is not None and usage.completion_tokens == 12
    assert usage.prompt_tokens >= 85 * len(urls)
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


@pytest.mark.parametrize("model_id", [m for m in FAMILY if CATALOG.models[m].image.max_images == 1])
def test_one_image_models_refuse_two_before_calling_upstream(family: Family, model_id: str) -> None:
    fake = family.fake_for(model_id)
    before = len(fake.requests)
    with pytest.raises(openai.BadRequestError) as caught:
        family.gateway.client().chat.completions.create(
            model=model_id,
            messages=[{"role": "user", "content": content("Two?", family.image_url, PNG_URL)}],
        )
    error = caught.value.body
    assert isinstance(error, dict) and error["code"] == "too_many_images"
    assert "at most 1 image" in error["message"]
    assert len(fake.requests) == before


def test_multi_turn_with_tools_and_an_image_in_an_earlier_turn(family: Family) -> None:
    fake = family.fakes["openai"]
    messages = [
        {"role": "developer", "content": "Use tools."},
        {"role": "user", "content": content("What city is on this card?", PNG_URL)},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "ocr", "arguments": '{"lang": "en"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "PARIS"},
        {"role": "user", "content": "And the weather there? [[tool=get_weather]]"},
    ]
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    completion = family.gateway.client().chat.completions.create(
        model="gpt-4o",
        messages=messages,
        tools=tools,
        tool_choice="auto",
        seed=1,
        temperature=0.2,
        stop=["END"],
        response_format={"type": "text"},
        max_completion_tokens=40,
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None
    call = choice.message.tool_calls[0]
    assert (call.id, call.function.name) == ("call_fake", "get_weather")
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    body = fake.last.body
    assert [m["role"] for m in body["messages"]] == [m["role"] for m in messages]
    assert body["messages"][1]["content"][1]["image_url"]["url"] == PNG_URL
    assert body["messages"][2]["tool_calls"] == messages[2]["tool_calls"]
    assert body["messages"][3]["tool_call_id"] == "call_1"
    assert body["tools"] == tools and body["tool_choice"] == "auto"
    assert (body["seed"], body["temperature"], body["stop"]) == (1, 0.2, ["END"])
    assert body["max_completion_tokens"] == 40


def test_upstream_500_is_a_502(family: Family) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        family.gateway.client().chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "Hi [[status=500]]"}]
        )
    assert caught.value.status_code == 502
    assert isinstance(caught.value.body, dict) and caught.value.body["code"] == "upstream_error"
    assert "fake upstream failure 500" in caught.value.body["message"]


def test_upstream_429_twice_then_success(family: Family) -> None:
    fake = family.fakes["together"]
    text = f"Hi [[rate_limit=2]] {marker()}"
    completion = family.gateway.client().chat.completions.create(
        model="meta-llama/Llama-Vision-Free", messages=[{"role": "user", "content": text}]
    )
    assert completion.choices[0].message.content
    assert sum(1 for r in fake.requests if text in json.dumps(r.body)) == 3


def test_hanging_upstream_is_a_504(family: Family) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        family.gateway.client().chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi [[hang]]"}]
        )
    assert caught.value.status_code == 504
    assert isinstance(caught.value.body, dict) and caught.value.body["code"] == "upstream_timeout"


@pytest.mark.parametrize(
    ("model_id", "directive"),
    [("gpt-4o", "[[break=4]]"), ("qwen/qvq-72b-preview", "[[stream_error=4]]")],
)
def test_stream_broken_halfway(family: Family, model_id: str, directive: str) -> None:
    messages = [{"role": "user", "content": f"Tell me {directive}"}]
    received = []
    with pytest.raises(openai.APIError):
        for chunk in family.gateway.client().chat.completions.create(
            model=model_id, messages=messages, stream=True
        ):
            received.append(chunk)
    assert "".join(c.choices[0].delta.content or "" for c in received if c.choices)

    raw = requests.post(
        f"{family.gateway.base_url}/chat/completions",
        headers={"Authorization": f"Bearer {family.gateway.api_key}"},
        json={"model": model_id, "messages": messages, "stream": True},
        timeout=30,
    )
    events = [line for line in raw.text.splitlines() if line.startswith("data: ")]
    error = json.loads(events[-2][6:])
    assert error["error"]["code"] == "upstream_error"
    assert events[-1] == "data: [DONE]"


def test_minimax_failure_inside_http_200_and_temperature_clamp(family: Family) -> None:
    client = family.gateway.client()
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(
            model="MiniMax-Text-01", messages=[{"role": "user", "content": "[[base_resp=1008]]"}]
        )
    assert caught.value.status_code == 502
    assert isinstance(caught.value.body, dict) and "balance" in caught.value.body["message"]
    client.chat.completions.create(
        model="abab6.5s-chat", messages=[{"role": "user", "content": "Hi"}], temperature=1.8
    )
    assert family.fakes["minimax"].last.body["temperature"] == 1.0


def test_user_defined_keyless_vllm_endpoint(family: Family) -> None:
    fake = family.fakes["myvllm"]
    client = family.gateway.client()
    messages = [
        {"role": "developer", "content": "Be terse."},
        {"role": "user", "content": content("What is it?", family.image_url)},
    ]
    completion = client.chat.completions.create(model="my/model", messages=messages)
    assert completion.model == "my/model"
    assert "Qwen/Qwen2-VL-7B-Instruct" in (completion.choices[0].message.content or "")
    sent = fake.last
    assert "authorization" not in sent.headers
    assert sent.body["messages"][0]["role"] == "system"
    assert sent.image_urls == [family.image_url]
    listed = {m.id for m in client.models.list().data}
    assert "my/model" in listed


def test_provider_keys_never_reach_clients_or_the_log(family: Family) -> None:
    client = family.gateway.client()
    bodies = []
    for model_id in ("gpt-4o", "meta-llama/Llama-Vision-Free", "qwen/qvq-72b-preview"):
        for text in ("[[leak_key]]", "[[status=401]]"):
            with pytest.raises(openai.APIStatusError) as caught:
                client.chat.completions.create(
                    model=model_id, messages=[{"role": "user", "content": text}]
                )
            assert caught.value.status_code == 502
            bodies.append(caught.value.response.text)
    assert "credentials" in bodies[0]
    log = family.gateway.log_text()
    for key in KEYS.values():
        assert all(key not in body for body in bodies)
        assert key not in log


@pytest.mark.parametrize(
    ("model_id", "variable"),
    [
        ("gpt-4o", "OPENAI_API_KEY"),
        ("meta-llama/Llama-3.2-11B-Vision-Instruct-Turbo", "TOGETHER_API_KEY"),
        ("MiniMax-Text-01", "MINIMAX_API_KEY"),
        ("qwen/qvq-72b-preview", "OPENROUTER_API_KEY"),
    ],
)
def test_model_without_provider_key_is_404_naming_the_variable(
    gateway: GatewayProcess, model_id: str, variable: str
) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        gateway.client().chat.completions.create(
            model=model_id, messages=[{"role": "user", "content": "Hi"}]
        )
    body = caught.value.body
    assert isinstance(body, dict) and body["code"] == "model_not_found"
    assert variable in body["message"] and body["param"] == "model"


def test_client_going_away_mid_stream_stops_the_upstream(family: Family) -> None:
    fake = family.fakes["openai"]
    before = fake.disconnects
    text = f"Long answer [[chunks=2000]] [[chunk_delay=0.01]] {marker()}"
    with requests.post(
        f"{family.gateway.base_url}/chat/completions",
        headers={"Authorization": f"Bearer {family.gateway.api_key}"},
        json={"model": "gpt-4o", "messages": [{"role": "user", "content": text}], "stream": True},
        stream=True,
        timeout=30,
    ) as response:
        lines = response.iter_lines()
        assert next(line for line in lines if line.startswith(b"data: "))
    deadline = time.monotonic() + 15
    while fake.disconnects == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fake.disconnects == before + 1


def test_cost_header_uses_the_catalog_prices(family: Family) -> None:
    raw = family.gateway.client().chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": f"Hi {marker()}"}]
    )
    completion = raw.parse()
    assert completion.usage is not None
    entry = CATALOG.models["gpt-4o-mini"]
    expected = entry.cost_usd(completion.usage.prompt_tokens, completion.usage.completion_tokens)
    assert float(raw.headers["x-visiongate-cost-usd"]) == pytest.approx(expected, abs=1e-8)
    assert expected > 0
