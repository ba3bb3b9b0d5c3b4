"""Large image bodies through a real server: the data URLs the edge cuts out of the body
unparsed (api/cut.py) must reach OpenAI, Anthropic and Gemini exactly as the client sent
them, and every body the fast path cannot take must still be answered as before."""

from __future__ import annotations

import base64
import io
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import openai
import pytest
from PIL import Image

from tests.fakes.anthropic_upstream import AnthropicFake
from tests.fakes.gemini_upstream import GeminiFake
from tests.fakes.openai_upstream import FakeOpenAI
from tests.support.background import BackgroundApp
from tests.support.gateway import GatewayProcess, run_gateway

pytestmark = pytest.mark.timeout(120)

MODELS = {"openai": "gpt-4o", "anthropic": "claude-3-5-sonnet-latest", "google": "gemini-1.5-pro"}


def _photo(seed: int, size: tuple[int, int] = (640, 480)) -> bytes:
    """A JPEG that needs no change for any provider, large enough to be cut (~100 KB)."""
    image = Image.effect_noise(size, 40 + seed).convert("RGB")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


PHOTOS = [_photo(1), _photo(2)]
URLS = ["data:image/jpeg;base64," + base64.b64encode(p).decode() for p in PHOTOS]


@dataclass
class Setup:
    gateway: GatewayProcess
    openai: FakeOpenAI
    anthropic: AnthropicFake
    gemini: GeminiFake

    def post(self, body: bytes) -> tuple[int, Any]:
        """A raw POST, for bodies the SDK would not write; (status, JSON answer)."""
        request = urllib.request.Request(
            f"{self.gateway.base_url}/chat/completions",
            data=body,
            headers={
                "Authorization": f"Bearer {self.gateway.api_key}",
                "Content-Type": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())


@pytest.fixture(scope="module")
def setup() -> Iterator[Setup]:
    fakes = (FakeOpenAI(api_key="sk-openai-up"), AnthropicFake(), GeminiFake())
    with (
        BackgroundApp(fakes[0].app()) as o,
        BackgroundApp(fakes[1].app()) as a,
        BackgroundApp(fakes[2].app()) as g,
    ):
        env = {
            "OPENAI_API_KEY": "sk-openai-up",
            "OPENAI_BASE_URL": o.url + "/v1",
            "ANTHROPIC_API_KEY": fakes[1].api_key,
            "ANTHROPIC_BASE_URL": a.url,
            "GEMINI_API_KEY": fakes[2].api_key,
            "GEMINI_BASE_URL": g.url,
        }
        with run_gateway(env=env) as gateway:
            yield Setup(gateway, *fakes)


def _images_received(provider: str, body: Any) -> list[str]:
    """The images in an upstream request body, each as a data URL."""
    if provider == "openai":
        return [
            part["image_url"]["url"]
            for message in body["messages"]
            if isinstance(message["content"], list)
            for part in message["content"]
            if part["type"] == "image_url"
        ]
    if provider == "anthropic":
        return [
            f"data:{block['source']['media_type']};base64,{block['source']['data']}"
            for message in body["messages"]
            for block in message["content"]
            if block["type"] == "image"
        ]
    return [
        f"data:{part['inlineData']['mimeType']};base64,{part['inlineData']['data']}"
        for content in body["contents"]
        for part in content["parts"]
        if "inlineData" in part
    ]


def _fake(setup: Setup, provider: str) -> Any:
    return {"openai": setup.openai, "anthropic": setup.anthropic, "google": setup.gemini}[provider]


@pytest.mark.parametrize("provider", sorted(MODELS))
@pytest.mark.parametrize("stream", [False, True])
def test_large_data_urls_reach_every_provider_byte_for_byte(
    setup: Setup, provider: str, stream: bool
) -> None:
    client = setup.gateway.client()
    content: list[Any] = [{"type": "text", "text": "Compare the two photos."}]
    content += [{"type": "image_url", "image_url": {"url": url}} for url in URLS]
    messages: Any = [{"role": "user", "content": content}]
    before = len(_fake(setup, provider).requests)
    if stream:
        chunks = list(
            client.chat.completions.create(
                model=MODELS[provider], messages=messages, max_tokens=20, stream=True
            )
        )
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    else:
        completion = client.chat.completions.create(
            model=MODELS[provider], messages=messages, max_tokens=20
        )
        text = completion.choices[0].message.content or ""
    assert text
    received = _fake(setup, provider).requests[before:]
    assert len(received) == 1
    assert not getattr(received[0], "violations", [])  # the fakes that check record them
    assert _images_received(provider, received[0].body) == URLS


def test_a_data_url_in_a_text_part_stays_text(setup: Setup) -> None:
    quoted = URLS[0]
    content = [
        {"type": "text", "text": quoted},
        {"type": "image_url", "image_url": {"url": URLS[1]}},
    ]
    setup.gateway.client().chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": content}], max_tokens=20
    )
    sent = setup.openai.last.body["messages"][0]["content"]
    assert sent[0] == {"type": "text", "text": quoted}
    assert sent[1]["image_url"]["url"] == URLS[1]


def test_json_escaped_slashes_in_a_data_url_are_read_as_json_says(setup: Setup) -> None:
    body = {
        "model": "gpt-4o",
        "messages": [
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": URLS[0]}}]}
        ],
    }
    raw = json.dumps(body).replace("/", "\\/").encode()  # as PHP's json_encode writes it
    status, answer = setup.post(raw)
    assert status == 200, answer
    assert setup.openai.last.image_urls == [URLS[0]]


def test_bad_base64_in_a_large_data_url_names_its_part(setup: Setup) -> None:
    broken = URLS[0][:5000] + "%%%" + URLS[0][5003:]
    content = [
        {"type": "text", "text": "?"},
        {"type": "image_url", "image_url": {"url": URLS[1]}},
        {"type": "image_url", "image_url": {"url": broken}},
    ]
    with pytest.raises(openai.BadRequestError) as caught:
        setup.gateway.client().chat.completions.create(
            model="claude-3-5-sonnet-latest", messages=[{"role": "user", "content": content}]
        )
    error = caught.value.body
    assert isinstance(error, dict) and error["code"] == "invalid_image_url"
    assert error["param"] == "messages[0].content[2].image_url.url"


def test_a_raw_line_break_in_a_large_data_url_is_a_clear_400(setup: Setup) -> None:
    wrapped = URLS[0][:3000] + "\n" + URLS[0][3000:]  # raw in the JSON: not valid JSON
    raw = (
        b'{"model":"gpt-4o","messages":[{"role":"user","content":[{"type":"image_url",'
        b'"image_url":{"url":"' + wrapped.encode() + b'"}}]}]}'
    )
    status, answer = setup.post(raw)
    assert status == 400
    error = answer["error"]
    assert error["type"] == "invalid_request_error" and "control character" in error["message"]
    assert setup.post(b'{"model": "gpt-4o"')[0] == 400  # and the server is still up
