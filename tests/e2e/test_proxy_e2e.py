"""Provider calls through a corporate proxy, end to end: HTTP_PROXY with credentials is
used for the provider, the credentials never reach the log, and image fetches stay direct
unless VISIONGATE_IMAGE_PROXY says otherwise."""

from __future__ import annotations

import pytest

from tests.fakes.openai_upstream import FakeOpenAI
from tests.support.background import BackgroundApp
from tests.support.gateway import run_gateway
from tests.support.proxy import TestProxy

pytestmark = pytest.mark.timeout(120)

UPSTREAM_KEY = "sk-fake-upstream-0123456789"
PASSWORD = "proxy-pass-9f8e7d"


def _ask(gw, image_url: str) -> str:  # type: ignore[no-untyped-def]
    completion = gw.client().chat.completions.create(
        model="gpt-4o",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is this?"},
                    {"type": "image_url", "image_url": {"url": image_url}},
                ],
            }
        ],
    )
    return completion.choices[0].message.content or ""


@pytest.mark.parametrize("image_proxy", [False, True])
def test_provider_calls_use_the_proxy_and_images_stay_direct_unless_told(
    image_host: BackgroundApp, image_proxy: bool
) -> None:
    fake = FakeOpenAI(api_key=UPSTREAM_KEY)
    with (
        TestProxy(credentials=("corp", PASSWORD)) as proxy,
        BackgroundApp(fake.app()) as upstream,
    ):
        env = {
            "OPENAI_BASE_URL": f"{upstream.url}/v1",
            "OPENAI_API_KEY": UPSTREAM_KEY,
            "HTTP_PROXY": proxy.url_with_credentials(),
            "VISIONGATE_FETCH_PASSTHROUGH_URLS": "1",  # the gateway fetches the image itself
        }
        if image_proxy:
            env["VISIONGATE_IMAGE_PROXY"] = proxy.url_with_credentials()
        with run_gateway(env=env) as gw:
            image = f"{image_host.url}/img/red.jpg"
            assert _ask(gw, image)
            log = gw.log_text()
        targets = [(s.method, s.target) for s in proxy.seen]
        assert ("POST", f"{upstream.url}/v1/chat/completions") in targets
        assert (("GET", image) in targets) == image_proxy
        assert all(s.authorization for s in proxy.seen)
        assert len(fake.requests) == 1
    assert PASSWORD not in log
