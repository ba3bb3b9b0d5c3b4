"""A route over two API families: the image is fitted for each target from one fetch.

The first target (Anthropic's Messages API, which wants images under 1.15 MP) is
overloaded; the second (OpenAI's, which takes 2048 px) answers. The image comes from an
http URL on a loopback host that counts its downloads, and the gateway fetches URLs for
OpenAI too (``fetch_passthrough_urls``), so both targets need its bytes.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator

import pytest
import requests
from aiohttp import web

from tests.fakes.anthropic_upstream import AnthropicFake
from tests.fakes.common import dimensions
from tests.fakes.openai_upstream import FakeOpenAI
from tests.support.background import BackgroundApp
from tests.support.gateway import GatewayProcess, run_gateway
from tests.support.images import make_image

pytestmark = pytest.mark.timeout(120)

PHOTO = make_image("JPEG", (2000, 1500))
CONFIG = """
upstream_retries = 0
fetch_passthrough_urls = true
image_cache_bytes = 0  # no cache: the one fetch is the request's own memo

[providers.claude-eu]
kind = "anthropic"
base_url = "{anthropic}"
api_key_env = "CLAUDE_EU_KEY"

[providers.oa-eu]
kind = "openai"
base_url = "{openai}/v1"
api_key_env = "OA_EU_KEY"

[models."claude@eu"]
provider = "claude-eu"
like = "claude-3-5-sonnet-latest"

[models."gpt-4o@eu"]
provider = "oa-eu"
like = "gpt-4o"

[routes."seeing"]
targets = ["claude@eu", "gpt-4o@eu"]
strategy = "ordered"
retries = 0
"""


@pytest.fixture(scope="module")
def setup() -> Iterator[tuple[GatewayProcess, AnthropicFake, FakeOpenAI, list[str], str]]:
    downloads: list[str] = []

    async def photo(request: web.Request) -> web.Response:
        downloads.append(request.path)
        return web.Response(body=PHOTO, content_type="image/jpeg")

    host_app = web.Application()
    host_app.router.add_get("/{name}", photo)
    anthropic = AnthropicFake(api_key="sk-ant-" + uuid.uuid4().hex)
    openai_fake = FakeOpenAI(api_key="sk-oa-" + uuid.uuid4().hex)
    with (
        BackgroundApp(host_app) as host,
        BackgroundApp(anthropic.app()) as one,
        BackgroundApp(openai_fake.app()) as two,
    ):
        env = {"CLAUDE_EU_KEY": anthropic.api_key, "OA_EU_KEY": openai_fake.api_key or ""}
        config = CONFIG.format(anthropic=one.url, openai=two.url)
        with run_gateway(env=env, config=config) as gateway:
            yield gateway, anthropic, openai_fake, downloads, host.url


def test_each_target_gets_the_image_fitted_for_it_from_one_fetch(
    setup: tuple[GatewayProcess, AnthropicFake, FakeOpenAI, list[str], str],
) -> None:
    gateway, anthropic, openai_fake, downloads, host = setup
    anthropic.failures = [529]
    url = f"{host}/photo-{uuid.uuid4().hex}.jpg"  # a URL no cache has seen
    body = {
        "model": "seeing",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is it?"},
                    {"type": "image_url", "image_url": {"url": url}},
                ],
            }
        ],
    }
    response = requests.post(
        f"{gateway.base_url}/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {gateway.api_key}"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    assert response.headers["x-visiongate-provider"] == "oa-eu"
    assert response.headers["x-visiongate-attempts"] == "2"
    assert len(downloads) == 1  # one fetch served both targets
    block = anthropic.last.body["messages"][0]["content"]
    sent_to_claude = next(b for b in block if b["type"] == "image")["source"]["data"]
    width, height = dimensions(base64.b64decode(sent_to_claude)) or (0, 0)
    assert width * height <= 1_150_000 and width < 2000  # fitted for Anthropic
    sent_to_openai = openai_fake.last.image_urls[0]
    assert sent_to_openai.startswith("data:image/jpeg;base64,")
    original = base64.b64decode(sent_to_openai.split(",", 1)[1])
    assert dimensions(original) == (2000, 1500)  # untouched for OpenAI
    assert original == PHOTO
