"""The transformers engine on a tiny random Idefics3 (SmolVLM) model, loaded from disk
through the same local_models path users configure. Expected values come from the
processor and ``model.generate`` called directly."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

from tests.support.images import make_image
from tests.support.tiny_vlm import IMAGE_SEQ_LEN
from visiongate.core.messages import ChatRequest, ImagePart, Message, StreamDelta, TextPart
from visiongate.errors import ImageError, InvalidRequest, ModelNotFound, Overloaded

pytest.importorskip("torch", reason="the local extra (torch) is not installed")
pytest.importorskip("transformers", reason="the local extra (transformers) is not installed")

pytestmark = pytest.mark.timeout(120)

_COLORS = [(200, 30, 30), (30, 200, 30), (30, 30, 200)]
# A 64x48 image becomes 2x2 tiles of 32 px plus a global view, IMAGE_SEQ_LEN tokens each.
_IMAGE_TOKENS = 5 * IMAGE_SEQ_LEN


def _images(n: int) -> list[bytes]:
    return [make_image("PNG", (64, 48), _COLORS[i % 3]) for i in range(n)]


def _request(
    question: str = "What is in the picture?", images: list[bytes] | None = None, **fields: Any
) -> ChatRequest:
    parts: list[Any] = [TextPart(question)]
    for i, data in enumerate(images or []):
        parts.append(
            ImagePart(
                param=f"messages[1].content[{i + 1}].image_url.url",
                data=data,
                media_type="image/png",
                width=64,
                height=48,
            )
        )
    messages = [Message("system", [TextPart("Answer briefly.")]), Message("user", parts)]
    fields.setdefault("temperature", 0)
    return ChatRequest(model="local/tiny", messages=messages, **fields)


def _conversation(question: str, n_images: int) -> list[dict[str, Any]]:
    content = [{"type": "text", "text": question}] + [{"type": "image"}] * n_images
    return [
        {"role": "system", "content": [{"type": "text", "text": "Answer briefly."}]},
        {"role": "user", "content": content},
    ]


def _pil(data: bytes) -> Any:
    import io

    from PIL import Image

    return Image.open(io.BytesIO(data)).convert("RGB")


async def _collect(stream: Any) -> list[StreamDelta]:
    return [delta async for delta in stream]


@pytest.mark.parametrize("n_images", [0, 1, 2, 3])
async def test_answers_match_transformers_generate_with_exact_usage(
    make_engine: Any, reference: Any, n_images: int
) -> None:
    engine = make_engine()
    images = _images(n_images)
    response = await engine.complete(_request(images=images, max_tokens=12))

    inputs = reference.inputs(
        _conversation("What is in the picture?", n_images), [_pil(b) for b in images]
    )
    expected_ids = reference.greedy(inputs, 12)
    choice = response.choices[0]
    assert choice.content == reference.decode(expected_ids)
    assert choice.finish_reason == "length"
    usage = response.usage
    assert usage.prompt_tokens == inputs["input_ids"].shape[1]
    assert usage.completion_tokens == len(expected_ids) == 12
    assert usage.image_tokens == n_images * _IMAGE_TOKENS
    assert not usage.estimated


async def test_stream_yields_role_then_text_then_finish_with_usage(make_engine: Any) -> None:
    engine = make_engine()
    request = _request(images=_images(2), max_tokens=24)
    whole = await engine.complete(request)
    deltas = await _collect(engine.stream(request))

    assert deltas[0].role == "assistant"
    text = [d.content for d in deltas[1:-1]]
    assert len(text) > 1 and all(text)
    assert "".join(text) == whole.choices[0].content
    last = deltas[-1]
    assert last.finish_reason == "length" and last.content is None
    assert last.usage == whole.usage


async def test_stop_sequence_ends_generation_and_is_trimmed(
    make_engine: Any, reference: Any
) -> None:
    inputs = reference.inputs(_conversation("Stop me", 0), [])
    ids = reference.greedy(inputs, 40)
    full = reference.decode(ids)
    # a two-character stop string taken from the middle of the greedy answer
    start = next(
        i
        for i in range(4, len(full) - 2)
        if full[i : i + 2].isascii() and full[i : i + 2].isprintable()
    )
    stop = full[start : start + 2]
    cut = full.index(stop)
    tokens = next(t for t in range(1, len(ids) + 1) if stop in reference.decode(ids[:t]))

    engine = make_engine()
    response = await engine.complete(_request("Stop me", stop=[stop, "never-there"], max_tokens=40))
    assert response.choices[0].content == full[:cut]
    assert response.choices[0].finish_reason == "stop"
    assert response.usage.completion_tokens == tokens < 40

    deltas = await _collect(engine.stream(_request("Stop me", stop=[stop], max_tokens=40)))
    assert "".join(d.content or "" for d in deltas) == full[:cut]
    assert deltas[-1].finish_reason == "stop"


async def test_max_tokens_bounds_and_context_window(make_engine: Any) -> None:
    engine = make_engine(table={"max_output_tokens": 50, "context_window": 60})
    short = await engine.complete(_request(max_tokens=3))
    assert short.usage.completion_tokens == 3 and short.choices[0].finish_reason == "length"

    with pytest.raises(InvalidRequest) as info:
        await engine.complete(_request(max_tokens=51))
    assert info.value.param == "max_tokens" and info.value.status == 400

    # one image alone takes more than the 60-token context
    with pytest.raises(InvalidRequest) as info:
        await engine.complete(_request(images=_images(3)))
    assert info.value.code == "context_length_exceeded" and info.value.param == "messages"

    # without max_tokens the answer is cut where the context ends
    prompt = (await engine.complete(_request(max_tokens=1))).usage.prompt_tokens
    capped = await engine.complete(_request())
    assert capped.usage.completion_tokens == 60 - prompt
    assert capped.choices[0].finish_reason == "length"


async def test_seed_makes_sampling_reproducible_even_when_requests_overlap(
    make_engine: Any,
) -> None:
    engine = make_engine(local_concurrency=2)

    def sampled(seed: int) -> ChatRequest:
        return _request(temperature=1.0, top_p=0.9, seed=seed, max_tokens=20)

    alone = (await engine.complete(sampled(7))).choices[0].content
    together = await asyncio.gather(
        engine.complete(sampled(7)), engine.complete(sampled(8)), engine.complete(sampled(7))
    )
    contents = [r.choices[0].content for r in together]
    assert contents[0] == contents[2] == alone
    assert contents[1] != alone
    greedy = (await engine.complete(_request(max_tokens=20))).choices[0].content
    assert alone != greedy


async def test_penalties_change_the_greedy_answer(make_engine: Any) -> None:
    engine = make_engine()
    plain = await engine.complete(_request(max_tokens=30))
    penalised = await engine.complete(
        _request(max_tokens=30, presence_penalty=2.0, frequency_penalty=2.0)
    )
    assert penalised.usage.completion_tokens == 30
    assert penalised.choices[0].content != plain.choices[0].content


async def test_two_concurrent_requests_both_finish(make_engine: Any) -> None:
    for concurrency in (1, 2):
        engine = make_engine(local_concurrency=concurrency, local_queue_size=1)
        sequential = [
            (await engine.complete(_request(q, max_tokens=16))).choices[0].content
            for q in ("first?", "second?")
        ]
        both = await asyncio.wait_for(
            asyncio.gather(
                engine.complete(_request("first?", max_tokens=16)),
                engine.complete(_request("second?", images=_images(1), max_tokens=16)),
            ),
            60,
        )
        assert both[0].choices[0].content == sequential[0]
        assert all(r.usage.completion_tokens == 16 for r in both)
        assert engine.status()["queue"] == {"running": 0, "waiting": 0}


async def _first_text(stream: Any) -> None:
    """Advance a stream until its first text piece: generation is running."""
    async for delta in stream:
        if delta.content:
            return


async def test_full_queue_gives_503_and_the_engine_recovers(make_engine: Any) -> None:
    engine = make_engine(local_concurrency=1, local_queue_size=1)
    running = engine.stream(_request(max_tokens=3000))
    await asyncio.wait_for(_first_text(running), 60)
    waiting = asyncio.create_task(engine.complete(_request(max_tokens=4)))
    for _ in range(100):
        if engine.status()["queue"]["waiting"] == 1:
            break
        await asyncio.sleep(0.01)
    assert engine.status()["queue"] == {"running": 1, "waiting": 1}

    with pytest.raises(Overloaded) as info:
        await _collect(engine.stream(_request(max_tokens=4)))
    assert info.value.status == 503 and info.value.code == "overloaded"
    assert int(info.value.headers["Retry-After"]) >= 1

    await running.aclose()  # the client of the long answer goes away
    queued = await asyncio.wait_for(waiting, 60)
    assert queued.usage.completion_tokens == 4
    after = await engine.complete(_request(max_tokens=2))
    assert after.usage.completion_tokens == 2


async def test_disconnect_cancels_the_generation(
    make_engine: Any, caplog: pytest.LogCaptureFixture
) -> None:
    engine = make_engine()
    stream = engine.stream(_request(max_tokens=3000))
    seen = 0
    async for delta in stream:
        seen += bool(delta.content)
        if seen == 3:
            break
    with caplog.at_level(logging.INFO, logger="visiongate.local.vlm"):
        await stream.aclose()
        for _ in range(1000):
            if engine.status()["queue"]["running"] == 0:
                break
            await asyncio.sleep(0.01)
    assert engine.status()["queue"]["running"] == 0
    cancelled = [r for r in caplog.records if r.getMessage() == "local generation cancelled"]
    assert len(cancelled) == 1 and cancelled[0].tokens < 3000
    assert (await engine.complete(_request(max_tokens=2))).usage.completion_tokens == 2


async def test_status_and_availability(make_engine: Any, tiny_dir: Path) -> None:
    engine = make_engine()
    status = engine.status()
    assert status["state"] == "not_loaded" and status["weights_present"] is True
    assert status["source"] == str(tiny_dir)
    assert engine.available()
    await engine.complete(_request(max_tokens=1))
    status = engine.status()
    assert status["state"] == "ready" and status["device"] == "cpu"
    assert status["dtype"] == "float32"


async def test_missing_directory_is_unavailable_and_a_clear_404(
    make_engine: Any, tmp_path: Path
) -> None:
    engine = make_engine(table={"source": str(tmp_path / "nowhere")})
    assert not engine.available()
    assert engine.status()["weights_present"] is False
    with pytest.raises(ModelNotFound) as info:
        await engine.complete(_request(max_tokens=1))
    assert "nowhere" in info.value.message and info.value.param == "model"
    assert engine.status()["state"] == "error"


async def test_bad_inputs_are_400s_before_any_delta(make_engine: Any) -> None:
    engine = make_engine()
    bad = _request(images=[b"\x89PNG\r\n\x1a\n broken"])
    with pytest.raises(ImageError) as info:
        await anext(engine.stream(bad))
    assert info.value.param == "messages[1].content[1].image_url.url"

    with pytest.raises(InvalidRequest) as info:
        await engine.complete(_request("a literal <image> tag", images=_images(1)))
    assert info.value.param == "messages[1].content[0]"
    assert engine.status()["queue"] == {"running": 0, "waiting": 0}


async def test_a_llama_catalog_id_served_from_local_weights(
    make_engine: Any, reference: Any
) -> None:
    llama = "meta-llama/Llama-3.2-11B-Vision-Instruct-Turbo"
    engine = make_engine(model_id=llama)
    assert engine.model.provider == "local"
    request = _request(images=_images(1), max_tokens=8)
    request.model = llama
    response = await engine.complete(request)
    inputs = reference.inputs(_conversation("What is in the picture?", 1), [_pil(_images(1)[0])])
    assert response.choices[0].content == reference.decode(reference.greedy(inputs, 8))
