"""Azure OpenAI end to end: a gateway pointed at fake Azure resources that check Azure's
wire format (path, ``api-version``, ``api-key`` and no ``Authorization``, or an Entra ID
bearer token), in both URL styles, with Azure's content filter answers.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import openai
import pytest

from tests.fakes.azure_upstream import FakeAzure
from tests.fakes.openai_upstream import FakeOpenAI
from tests.support.background import BackgroundApp
from tests.support.gateway import GatewayProcess, run_gateway
from tests.support.images import data_url, make_image

pytestmark = pytest.mark.timeout(120)

KEY = "azure-key-" + uuid.uuid4().hex
TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOi-entra-" + uuid.uuid4().hex
PNG = data_url(make_image("PNG", (40, 30)), "image/png")
CONFIG = """
upstream_retries = 0

[providers.az-dated]
kind = "azure_openai"
base_url = "{dated}"
api_key_env = "AZ_KEY"
api_version = "2024-10-21"

[providers.az-v1]
kind = "azure_openai"
base_url = "{v1}"
api_key_env = "AZ_KEY"

[providers.az-entra]
kind = "azure_openai"
base_url = "{entra}"
api_key_env = "AZURE_OPENAI_AD_TOKEN"
api_version = "2024-10-21"
options = {{ auth = "bearer" }}

[providers.az-wrong]
kind = "azure_openai"
base_url = "{dated}"
api_key_env = "AZ_WRONG_KEY"
api_version = "2024-10-21"

[providers.plain]
kind = "openai"
base_url = "{plain}/v1"
api_key_env = "PLAIN_KEY"

[models."az-dated"]
provider = "az-dated"
upstream = "gpt-4o-prod"
like = "gpt-4o"

[models."az-v1"]
provider = "az-v1"
upstream = "gpt-4o-prod"
like = "gpt-4o"

[models."az-entra"]
provider = "az-entra"
upstream = "gpt-4o-prod"
like = "gpt-4o"

[models."az-wrong"]
provider = "az-wrong"
upstream = "gpt-4o-prod"
like = "gpt-4o"

[models."plain"]
provider = "plain"
like = "gpt-4o"

[routes."filtered"]
targets = ["az-dated"]
fallbacks = ["plain"]
"""


@dataclass
class Azure:
    gateway: GatewayProcess
    dated: FakeAzure
    v1: FakeAzure
    entra: FakeAzure
    plain: FakeOpenAI


@pytest.fixture(scope="module")
def azure() -> Iterator[Azure]:
    dated = FakeAzure(api_key=KEY)
    v1 = FakeAzure(api_key=KEY, api_version=None)
    entra = FakeAzure(api_key=None, bearer_token=TOKEN)
    plain = FakeOpenAI(api_key="sk-plain-" + uuid.uuid4().hex)
    fakes = {"dated": dated, "v1": v1, "entra": entra, "plain": plain}
    servers = {name: BackgroundApp(fake.app()).start() for name, fake in fakes.items()}
    env = {
        "AZ_KEY": KEY,
        "AZ_WRONG_KEY": "wrong-" + KEY,
        "AZURE_OPENAI_AD_TOKEN": TOKEN,
        "PLAIN_KEY": plain.api_key or "",
    }
    try:
        config = CONFIG.format(**{name: server.url for name, server in servers.items()})
        with run_gateway(env=env, config=config) as gateway:
            yield Azure(gateway, dated, v1, entra, plain)
    finally:
        for server in servers.values():
            server.stop()


def messages(text: str = "Describe it") -> list[dict[str, object]]:
    content = [{"type": "text", "text": text}, {"type": "image_url", "image_url": {"url": PNG}}]
    return [{"role": "user", "content": content}]


@pytest.mark.parametrize("model", ["az-dated", "az-v1", "az-entra"])
def test_both_url_styles_and_both_auths_answer(azure: Azure, model: str) -> None:
    fake = {"az-dated": azure.dated, "az-v1": azure.v1, "az-entra": azure.entra}[model]
    before = len(fake.requests)
    raw = azure.gateway.client().chat.completions.with_raw_response.create(
        model=model, messages=messages()
    )
    answer = raw.parse()
    assert answer.model == model and "1 image(s)" in (answer.choices[0].message.content or "")
    assert raw.headers["x-visiongate-provider"] == model
    assert raw.headers["x-visiongate-upstream-model"] == "gpt-4o-prod"
    sent = fake.requests[before]
    assert "authorization" not in sent.headers or model == "az-entra"
    if model == "az-v1":
        assert sent.path == "/openai/v1/chat/completions" and sent.body["model"] == "gpt-4o-prod"
    else:
        assert sent.path == "/openai/deployments/gpt-4o-prod/chat/completions"
        assert "model" not in sent.body


@pytest.mark.parametrize("model", ["az-dated", "az-v1"])
def test_streams(azure: Azure, model: str) -> None:
    stream = azure.gateway.client().chat.completions.create(
        model=model, messages=messages(), stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "gpt-4o-prod" in text and chunks[-1].usage is not None


def test_content_filter_refusal_is_openai_shaped_and_routes_fall_back(azure: Azure) -> None:
    client = azure.gateway.client()
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model="az-dated", messages=messages("x [[content_filter]]"))
    error = refused.value.body
    assert isinstance(error, dict) and error["code"] == "content_filter"
    assert "ResponsibleAIPolicyViolation" in error["message"]
    before = len(azure.plain.requests)
    raw = client.chat.completions.with_raw_response.create(
        model="filtered", messages=messages("x [[content_filter]]")
    )
    assert raw.headers["x-visiongate-provider"] == "plain"
    assert raw.headers["x-visiongate-attempts"] == "2"
    assert len(azure.plain.requests) == before + 1


def test_filtered_answer_keeps_its_finish_reason(azure: Azure) -> None:
    answer = azure.gateway.client().chat.completions.create(
        model="az-v1", messages=messages("x [[finish=content_filter]]")
    )
    assert answer.choices[0].finish_reason == "content_filter"


def test_a_refused_key_is_a_502_that_never_shows_it(azure: Azure) -> None:
    with pytest.raises(openai.APIStatusError) as failed:
        azure.gateway.client().chat.completions.create(model="az-wrong", messages=messages())
    assert failed.value.status_code == 502
    assert KEY not in str(failed.value.body) and KEY not in azure.gateway.log_text()
