"""In-process vision-language models through a real server and the official openai SDK.

A tiny random SmolVLM-architecture model is built on the spot and registered exactly as an
operator would: ``VISIONGATE_LOCAL_MODELS`` for ``local/tiny``, and a ``[models."..."]``
override in the config file pointing a Llama 3.2 Vision id at the same weights. Expected
answers and token counts come from transformers called directly in the test process.
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
import requests

from tests.support.background import BackgroundApp
from tests.support.clients import anthropic_client
from tests.support.gateway import GatewayProcess, run_gateway
from tests.support.images import data_url, make_image
from tests.unit.local.fake_hub import fake_hub_app, repo_files

pytest.importorskip("torch", reason="the local extra (torch) is not installed")
pytest.importorskip("transformers", reason="the local extra (transformers) is not installed")

pytestmark = pytest.mark.timeout(300)

LLAMA = "meta-llama/Llama-3.2-11B-Vision-Instruct-Turbo"
_FIRST_LOAD_TIMEOUT = 240  # importing torch + transformers on a busy 2-core runner


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.support.tiny_vlm import build_tiny_vlm

    return build_tiny_vlm(tmp_path_factory.mktemp("e2e-tiny-vlm") / "model")


@pytest.fixture(scope="module")
def reference(tiny_dir: Path) -> Any:
    from transformers import AutoModelForImageTextToText, AutoProcessor

    return AutoProcessor.from_pretrained(tiny_dir), AutoModelForImageTextToText.from_pretrained(
        tiny_dir
    ).eval()


@pytest.fixture(scope="module")
def vlm_gateway(tiny_dir: Path) -> Iterator[GatewayProcess]:
    config = (
        f'[models."{LLAMA}"]\nprovider = "local"\nupstream = "{tiny_dir}"\n'
        'image_profile = "local"\noptions = { engine = "transformers" }\n'
        'price_input = 0.0\nprice_output = 0.0\nretired = ""\n'
    )
    env = {
        "VISIONGATE_LOCAL_MODELS": json.dumps(
            {"local/tiny": {"source": str(tiny_dir), "max_output_tokens": 4000}}
        ),
        "VISIONGATE_LOCAL_CONCURRENCY": "1",
        "VISIONGATE_LOCAL_QUEUE_SIZE": "1",
        "HF_HUB_OFFLINE": "1",
    }
    with run_gateway(env=env, config=config) as gw:
        # The first request loads the model (and imports torch): give it time, once.
        gw.client(timeout=_FIRST_LOAD_TIMEOUT).chat.completions.create(
            model="local/tiny", messages=[{"role": "user", "content": "warm up"}], max_tokens=1
        )
        yield gw


def _expected(reference: Any, content: list[dict[str, Any]], images: list[bytes], n: int) -> Any:
    """(prompt tokens, answer text) from the processor and greedy ``generate`` directly."""
    import torch
    from PIL import Image

    processor, model = reference
    prompt = processor.apply_chat_template(
        [{"role": "user", "content": content}], add_generation_prompt=True, tokenize=False
    )
    pil = [Image.open(io.BytesIO(b)).convert("RGB") for b in images]
    inputs = processor(
        text=prompt, images=pil or None, add_special_tokens=False, return_tensors="pt"
    )
    with torch.inference_mode():
        out = model.generate(**inputs, max_new_tokens=n, do_sample=False)
    prompt_len = inputs["input_ids"].shape[1]
    return prompt_len, processor.tokenizer.decode(out[0, prompt_len:], skip_special_tokens=True)


def _model_card(gw: GatewayProcess, model_id: str) -> dict[str, Any]:
    r = requests.get(
        f"{gw.base_url}/models/{model_id}",
        headers={"Authorization": f"Bearer {gw.api_key}"},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    return r.json()


def test_models_list_shows_local_models_with_load_state(vlm_gateway: GatewayProcess) -> None:
    tiny = _model_card(vlm_gateway, "local/tiny")
    assert tiny["available"] is True
    assert tiny["status"]["state"] == "ready" and tiny["status"]["weights_present"] is True
    smol = _model_card(vlm_gateway, "local/smolvlm")  # weights not on this machine, offline
    assert smol["status"]["source"] == "HuggingFaceTB/SmolVLM-256M-Instruct"
    assert smol["status"]["weights_present"] is False and smol["available"] is False
    assert smol["status"]["state"] == "not_loaded"


def test_images_by_data_url_and_http_url_with_exact_usage(
    vlm_gateway: GatewayProcess, reference: Any, image_host: BackgroundApp
) -> None:
    first = make_image("PNG", (64, 48), (10, 120, 200))
    hosted = requests.get(f"{image_host.url}/img/red.jpg", timeout=10).content
    content = [
        {"type": "text", "text": "What differs between these?"},
        {"type": "image_url", "image_url": {"url": data_url(first, "image/png")}},
        {"type": "image_url", "image_url": {"url": f"{image_host.url}/img/red.jpg"}},
    ]
    resp = vlm_gateway.client().chat.completions.create(
        model="local/tiny", messages=[{"role": "user", "content": content}], max_tokens=12
    )
    placeholders = [content[0], {"type": "image"}, {"type": "image"}]
    prompt_tokens, text = _expected(reference, placeholders, [first, hosted], 12)
    assert resp.model == "local/tiny"
    assert resp.choices[0].message.content == text
    assert resp.choices[0].finish_reason == "length"
    assert resp.usage.prompt_tokens == prompt_tokens
    assert resp.usage.completion_tokens == 12


def test_stream_matches_whole_answer_and_reports_usage(vlm_gateway: GatewayProcess) -> None:
    client = vlm_gateway.client()
    image = data_url(make_image(), "image/jpeg")
    messages = [
        {"role": "system", "content": "Be brief."},
        {
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": image}},
                {"type": "text", "text": "Describe it."},
            ],
        },
    ]
    whole = client.chat.completions.create(
        model="local/tiny", messages=messages, max_tokens=20, temperature=0
    )
    chunks = list(
        client.chat.completions.create(
            model="local/tiny",
            messages=messages,
            max_tokens=20,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    pieces = [
        c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
    ]
    assert len(pieces) > 1
    assert "".join(pieces) == whole.choices[0].message.content
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    assert chunks[-1].choices == []
    assert chunks[-1].usage.prompt_tokens == whole.usage.prompt_tokens
    assert chunks[-1].usage.completion_tokens == 20


def test_stop_and_seed_through_the_sdk(vlm_gateway: GatewayProcess, reference: Any) -> None:
    client = vlm_gateway.client()
    question = [{"type": "text", "text": "Say something."}]
    _, full = _expected(reference, question, [], 30)
    stop = next(
        full[i : i + 2]
        for i in range(3, len(full) - 2)
        if full[i : i + 2].isascii() and full[i : i + 2].isprintable()
    )
    resp = client.chat.completions.create(
        model="local/tiny",
        messages=[{"role": "user", "content": question}],
        max_tokens=30,
        stop=[stop],
    )
    assert resp.choices[0].message.content == full[: full.index(stop)]
    assert resp.choices[0].finish_reason == "stop"

    def sampled(seed: int) -> str | None:
        r = client.chat.completions.create(
            model="local/tiny",
            messages=[{"role": "user", "content": question}],
            max_tokens=12,
            temperature=1.0,
            seed=seed,
        )
        return r.choices[0].message.content

    assert sampled(3) == sampled(3) != sampled(4)


def test_llama_id_pointed_at_local_weights(vlm_gateway: GatewayProcess, reference: Any) -> None:
    card = _model_card(vlm_gateway, LLAMA)
    assert card["provider"] == "local" and card["available"] is True
    assert "retired" not in card
    image = make_image("PNG", (64, 48))
    content = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": data_url(image, "image/png")}},
    ]
    resp = vlm_gateway.client(timeout=_FIRST_LOAD_TIMEOUT).chat.completions.create(
        model=LLAMA, messages=[{"role": "user", "content": content}], max_tokens=8
    )
    _, text = _expected(reference, [content[0], {"type": "image"}], [image], 8)
    assert resp.choices[0].message.content == text


def test_image_placeholder_in_text_is_a_400(vlm_gateway: GatewayProcess) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        vlm_gateway.client().chat.completions.create(
            model="local/tiny",
            messages=[{"role": "user", "content": "what does <image> mean in HTML?"}],
            max_tokens=4,
        )
    body = info.value.body
    assert isinstance(body, dict) and body["param"] == "messages[0].content[0]"


def _wait_for(predicate: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


def test_full_queue_is_503_and_a_disconnect_cancels_generation(
    vlm_gateway: GatewayProcess,
) -> None:
    client = vlm_gateway.client()
    long = client.chat.completions.create(
        model="local/tiny",
        messages=[{"role": "user", "content": "Talk for a long time."}],
        max_tokens=3999,
        temperature=0,
        stream=True,
    )
    chunks = iter(long)
    while not next(chunks).choices[0].delta.content:
        pass  # generation is running and holds the only slot

    queued: dict[str, Any] = {}

    def waiting_request() -> None:
        queued["resp"] = client.chat.completions.create(
            model="local/tiny", messages=[{"role": "user", "content": "short"}], max_tokens=3
        )

    waiter = threading.Thread(target=waiting_request, daemon=True)
    waiter.start()
    _wait_for(lambda: _model_card(vlm_gateway, "local/tiny")["status"]["queue"]["waiting"] == 1)

    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(
            model="local/tiny", messages=[{"role": "user", "content": "one more"}], max_tokens=3
        )
    assert info.value.status_code == 503
    assert info.value.response.headers["retry-after"].isdigit()
    assert isinstance(info.value.body, dict) and info.value.body["code"] == "overloaded"
    assert requests.get(f"{vlm_gateway.root}/healthz", timeout=10).status_code == 200

    long.close()  # the client goes away mid-answer
    waiter.join(timeout=120)
    assert queued["resp"].usage.completion_tokens == 3
    _wait_for(lambda: "local generation cancelled" in vlm_gateway.log_text())
    cancelled = [
        json.loads(line)
        for line in vlm_gateway.log_text().splitlines()
        if "local generation cancelled" in line
    ]
    assert cancelled and cancelled[-1]["tokens"] < 3999
    assert _model_card(vlm_gateway, "local/tiny")["status"]["queue"] == {
        "running": 0,
        "waiting": 0,
    }


def test_first_use_downloads_from_the_hub_with_visible_progress(
    tiny_dir: Path, tmp_path: Path
) -> None:
    """A hub-id source not in the cache is fetched on first use (from a fake hub on
    127.0.0.1); the weights are held back until the test has seen the download's progress."""
    repo = "tiny-org/tiny-vlm"
    gate = threading.Event()
    fetched: list[str] = []
    env = {
        "HF_ENDPOINT": "",
        "HF_HOME": str(tmp_path / "hf"),
        "HF_HUB_OFFLINE": "",
        "VISIONGATE_LOCAL_MODELS": json.dumps({"local/hub-tiny": repo}),
    }
    with BackgroundApp(fake_hub_app(repo, repo_files(tiny_dir), fetched, gate)) as hub:
        env["HF_ENDPOINT"] = hub.url
        with run_gateway(env=env) as gw:
            before = _model_card(gw, "local/hub-tiny")
            assert before["available"] is True  # fetchable
            assert before["status"]["weights_present"] is False
            answer: dict[str, Any] = {}

            def ask() -> None:
                answer["resp"] = gw.client(timeout=_FIRST_LOAD_TIMEOUT).chat.completions.create(
                    model="local/hub-tiny",
                    messages=[{"role": "user", "content": "hello"}],
                    max_tokens=3,
                )

            asker = threading.Thread(target=ask, daemon=True)
            asker.start()
            try:

                def all_but_the_weights() -> bool:
                    progress = _model_card(gw, "local/hub-tiny")["status"]["progress"] or {}
                    total = progress.get("files_total", 0)
                    return total > 1 and progress.get("files_done") == total - 1

                _wait_for(all_but_the_weights, timeout=_FIRST_LOAD_TIMEOUT)
                during = _model_card(gw, "local/hub-tiny")["status"]
                assert during["state"] == "loading"
                assert during["progress"]["phase"] == "downloading"
            finally:
                gate.set()
            asker.join(timeout=_FIRST_LOAD_TIMEOUT)
            assert answer["resp"].usage.completion_tokens == 3
            after = _model_card(gw, "local/hub-tiny")["status"]
            assert after["state"] == "ready" and after["weights_present"] is True
            assert "downloading local model weights" in gw.log_text()
    assert "model.safetensors" in fetched and "onnx/model.onnx" not in fetched


def test_the_responses_and_messages_surfaces_reach_the_local_vlm(
    vlm_gateway: GatewayProcess, reference: Any
) -> None:
    """The same question by the Responses API and by the Messages API: the same greedy
    answer the model gives when called directly, and its exact token counts."""

    image = make_image("PNG", (64, 48), (10, 120, 200))
    url = data_url(image, "image/png")
    prompt_tokens, text = _expected(
        reference, [{"type": "text", "text": "What is this?"}, {"type": "image"}], [image], 10
    )
    response = vlm_gateway.client().responses.create(
        model="local/tiny",
        input=[
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "What is this?"},
                    {"type": "input_image", "image_url": url},
                ],
            }
        ],
        max_output_tokens=10,
    )
    assert response.output_text == text and response.status == "incomplete"
    assert response.usage is not None and response.usage.input_tokens == prompt_tokens
    client = anthropic_client(
        base_url=vlm_gateway.root, api_key=vlm_gateway.api_key, max_retries=0, timeout=120
    )
    b64 = url.split(",", 1)[1]
    message = client.messages.create(
        model="local/tiny",
        max_tokens=10,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": b64},
                    },
                ],
            }
        ],
    )
    assert message.content[0].text == text and message.stop_reason == "max_tokens"
    assert message.usage.input_tokens == prompt_tokens and message.usage.output_tokens == 10


def test_a_pdf_reaches_a_local_vlm_as_its_rendered_pages(
    vlm_gateway: GatewayProcess, reference: Any
) -> None:
    import base64

    from tests.support.pdfs import text_pdf
    from visiongate.documents.pdfium import Job, RenderTarget, read_pdf

    document = text_pdf(["Invoice 4711"], ["Total 120 EUR"])
    file_data = "data:application/pdf;base64," + base64.b64encode(document).decode()
    content = [
        {"type": "text", "text": "What is the total?"},
        {"type": "file", "file": {"file_data": file_data, "filename": "inv.pdf", "pages": "2"}},
    ]
    resp = vlm_gateway.client().chat.completions.create(
        model="local/tiny", messages=[{"role": "user", "content": content}], max_tokens=8
    )
    # The page as the gateway draws it for the local profile (2048 px edge, 200 dpi cap).
    target = RenderTarget(max_edge=2048)
    (page,) = read_pdf(Job(document, "render", ((2, 2),), target, 100, 100_000_000)).pages
    assert page.image is not None
    expected = [
        content[0],
        {"type": "image"},
        {"type": "text", "text": "Text of page 2 of inv.pdf:\nTotal 120 EUR"},
    ]
    prompt_tokens, text = _expected(reference, expected, [page.image], 8)
    assert resp.usage.prompt_tokens == prompt_tokens
    assert resp.choices[0].message.content == text
