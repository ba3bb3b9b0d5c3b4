"""The walking skeleton end to end: the original service's three documented requests,
through the official openai SDK, requests and curl, on both paths, streamed and not."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
import requests

from tests.conftest import OCR_WORDS
from tests.support.background import BackgroundApp
from tests.support.clients import openai_client
from tests.support.gateway import GatewayProcess
from tests.support.images import data_url, text_image

pytestmark = pytest.mark.timeout(120)


def _words(name: str) -> list[str]:
    return " ".join(OCR_WORDS[name]).split()


def _assert_contains_words(text: str, words: list[str]) -> None:
    upper = text.upper()
    for word in words:
        assert word.upper() in upper, f"{word!r} not in OCR answer {text!r}"


def _three_requests(image_host: BackgroundApp) -> dict[str, tuple[list[dict], list[list[str]]]]:
    sign_url = f"{image_host.url}/img/sign.png"
    local = data_url(text_image(OCR_WORDS["menu.png"]), "image/png")
    return {
        "url": (
            [
                {"type": "text", "text": "What's in this image?"},
                {"type": "image_url", "image_url": {"url": sign_url}},
            ],
            [_words("sign.png")],
        ),
        "base64": (
            [
                {"type": "text", "text": "What's in this image?"},
                {"type": "image_url", "image_url": {"url": local}},
            ],
            [_words("menu.png")],
        ),
        "two": (
            [
                {
                    "type": "text",
                    "text": "What are in these images? Is there any difference between them?",
                },
                {"type": "image_url", "image_url": {"url": sign_url}},
                {"type": "image_url", "image_url": {"url": local}},
            ],
            [_words("sign.png"), _words("menu.png")],
        ),
    }


@pytest.mark.parametrize("case", ["url", "base64", "two"])
@pytest.mark.parametrize("path", ["/v1", ""])
def test_documented_requests_with_openai_sdk(
    gateway: GatewayProcess, image_host: BackgroundApp, case: str, path: str
) -> None:
    content, expected = _three_requests(image_host)[case]
    client = openai_client(base_url=gateway.root + path, api_key=gateway.api_key, max_retries=0)
    completion = client.chat.completions.create(
        model="local/ocr", messages=[{"role": "user", "content": content}], max_tokens=300
    )
    assert completion.object == "chat.completion"
    assert completion.model == "local/ocr"
    assert completion.id.startswith("chatcmpl-")
    choice = completion.choices[0]
    assert choice.finish_reason == "stop"
    assert choice.message.role == "assistant"
    text = choice.message.content or ""
    for words in expected:
        _assert_contains_words(text, words)
    if len(expected) == 2:
        first, second = text.split("Image 2:")
        _assert_contains_words(first, expected[0])
        _assert_contains_words(second, expected[1])
    assert completion.usage is not None
    assert completion.usage.completion_tokens == len(text)
    assert (
        completion.usage.total_tokens
        == completion.usage.prompt_tokens + completion.usage.completion_tokens
    )


@pytest.mark.parametrize("case", ["url", "base64", "two"])
@pytest.mark.parametrize("path", ["/v1", ""])
def test_documented_requests_streamed(
    gateway: GatewayProcess, image_host: BackgroundApp, case: str, path: str
) -> None:
    content, expected = _three_requests(image_host)[case]
    client = openai_client(base_url=gateway.root + path, api_key=gateway.api_key, max_retries=0)
    stream = client.chat.completions.create(
        model="local/ocr",
        messages=[{"role": "user", "content": content}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert {c.id for c in chunks} == {chunks[0].id}
    assert all(c.object == "chat.completion.chunk" and c.model == "local/ocr" for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    for words in expected:
        _assert_contains_words(text, words)
    finishes = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finishes == ["stop"]
    usage_chunk = chunks[-1]
    assert usage_chunk.choices == [] and usage_chunk.usage is not None
    assert usage_chunk.usage.completion_tokens == len(text)
    assert all(c.usage is None for c in chunks[:-1])


def test_stream_without_include_usage_has_no_usage_chunk(gateway: GatewayProcess) -> None:
    image = data_url(text_image(["STREAM"]), "image/png")
    resp = requests.post(
        f"{gateway.base_url}/chat/completions",
        headers={"Authorization": f"Bearer {gateway.api_key}"},
        json={
            "model": "local/ocr",
            "stream": True,
            "messages": [
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": image}}]}
            ],
        },
        stream=True,
        timeout=60,
    )
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/event-stream")
    assert resp.headers["x-request-id"]
    events = [line for line in resp.iter_lines(decode_unicode=True) if line]
    assert events[-1] == "data: [DONE]"
    payloads = [json.loads(e.removeprefix("data: ")) for e in events[:-1]]
    assert all("usage" not in p for p in payloads)
    assert all(p["choices"] for p in payloads)


def test_requests_library_and_request_id(
    gateway: GatewayProcess, image_host: BackgroundApp
) -> None:
    resp = requests.post(
        f"{gateway.root}/chat/completions",
        headers={"Authorization": f"Bearer {gateway.api_key}", "x-request-id": "my-trace-1"},
        json={
            "model": "local/ocr",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What's in this image?"},
                        {
                            "type": "image_url",
                            "image_url": {"url": f"{image_host.url}/img/sign.png"},
                        },
                    ],
                }
            ],
        },
        timeout=60,
    )
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-request-id"] == "my-trace-1"
    body = resp.json()
    assert body["id"] == "chatcmpl-my-trace-1"
    _assert_contains_words(body["choices"][0]["message"]["content"], _words("sign.png"))


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl(gateway: GatewayProcess) -> None:
    image = data_url(text_image(["CURL WORKS"]), "image/png")
    body = json.dumps(
        {
            "model": "local/ocr",
            "messages": [
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": image}}]}
            ],
        }
    )
    out = subprocess.run(
        [
            "curl",
            "-sS",
            f"{gateway.base_url}/chat/completions",
            "-H",
            f"Authorization: Bearer {gateway.api_key}",
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            "@-",
        ],
        input=body.encode(),
        capture_output=True,
        timeout=60,
        check=True,
    )
    answer = json.loads(out.stdout)
    _assert_contains_words(answer["choices"][0]["message"]["content"], ["CURL", "WORKS"])
