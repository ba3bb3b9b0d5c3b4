"""The answer cache end to end: a real gateway (memory store), the official ``openai`` and
``anthropic`` SDKs, a wire-checking fake OpenAI upstream that counts the calls it gets,
and an image host on loopback.

Each test writes a text of its own into its requests, so no test can hit another's
entries.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import secrets
import sqlite3
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import openai
import pytest
import requests
from aiohttp import web
from PIL import Image

from tests.fakes.openai_upstream import FakeOpenAI
from tests.support.background import BackgroundApp
from tests.support.clients import anthropic_client, openai_client
from tests.support.gateway import GatewayProcess, run_gateway
from tests.support.images import data_url, make_image
from tests.support.pdfs import text_pdf
from tests.support.wire import sse_events

pytestmark = pytest.mark.timeout(180)

UPSTREAM_KEY = "sk-proj-answer-cache-" + secrets.token_hex(8)
KEY_A, KEY_B = "key-a-" + secrets.token_hex(8), "key-b-" + secrets.token_hex(8)
PHOTO = make_image("PNG", (80, 60), (40, 120, 200))
CONFIG = """
[models."gpt-4o"]
cache = { ttl_s = 600 }

[models."gpt-4o-mini"]
cache = { ttl_s = 600, shared = true }

[models."gpt-4-turbo"]
cache = { ttl_s = 600, cache_incomplete = true }

[routes."vision"]
targets = ["gpt-4o-2024-08-06", "gpt-4o-2024-05-13"]
strategy = "ordered"
cache = { ttl_s = 600 }
"""


def reencoded(data: bytes) -> bytes:
    """The image decoded and encoded again (PNG: the same bytes)."""
    out = io.BytesIO()
    Image.open(io.BytesIO(data)).save(out, "PNG")
    return out.getvalue()


def one_pixel_changed(data: bytes) -> bytes:
    image = Image.open(io.BytesIO(data)).convert("RGB")
    r, g, b = image.getpixel((0, 0))  # type: ignore[misc]
    image.putpixel((0, 0), (r ^ 1, g, b))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _images_app() -> web.Application:
    files = {"photo.png": PHOTO, "copy.png": reencoded(PHOTO)}
    app = web.Application()

    async def serve(request: web.Request) -> web.Response:
        return web.Response(body=files[request.match_info["name"]], content_type="image/png")

    app.router.add_get("/{name}", serve)
    return app


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    yield FakeOpenAI(api_key=UPSTREAM_KEY, accept_files=True)


@pytest.fixture(scope="module")
def images() -> Iterator[BackgroundApp]:
    with BackgroundApp(_images_app()) as srv:
        yield srv


@pytest.fixture(scope="module")
def gw(fake: FakeOpenAI) -> Iterator[GatewayProcess]:
    with BackgroundApp(fake.app()) as upstream:
        env = {
            "OPENAI_API_KEY": UPSTREAM_KEY,
            "OPENAI_BASE_URL": upstream.url + "/v1",
            "VISIONGATE_API_KEYS": f"{KEY_A},{KEY_B}",
            "VISIONGATE_UPSTREAM_RETRIES": "0",
            "VISIONGATE_USAGE_FLUSH_INTERVAL": "0.1",
        }
        with run_gateway(env=env, config=CONFIG) as gateway:
            yield gateway


@pytest.fixture(autouse=True)
def _fresh(fake: FakeOpenAI) -> Iterator[None]:
    fake.reset()
    words = fake.reply_words
    yield
    fake.reply_words = words


def tag() -> str:
    """A text no other request has sent."""
    return "case " + secrets.token_hex(6)


def ask(
    gw: GatewayProcess,
    text: str,
    *images: str,
    model: str = "gpt-4o",
    key: str = KEY_A,
    headers: dict[str, str] | None = None,
    **fields: Any,
) -> tuple[str, str | None, Any]:
    """(answer text, x-visiongate-cache, the parsed completion) of one whole request."""
    content: list[dict[str, Any]] = [{"type": "text", "text": text}]
    content += [{"type": "image_url", "image_url": {"url": url}} for url in images]
    client = openai_client(base_url=gw.base_url, api_key=key, max_retries=0, timeout=60)
    raw = client.chat.completions.with_raw_response.create(
        model=model,
        messages=[{"role": "user", "content": content}],
        extra_headers=headers,
        **fields,
    )
    completion = raw.parse()
    return (
        completion.choices[0].message.content or "",
        raw.headers.get("x-visiongate-cache"),
        completion,
    )


def post(gw: GatewayProcess, body: str, headers: dict[str, str] | None = None) -> requests.Response:
    return requests.post(
        f"{gw.base_url}/chat/completions",
        data=body,
        headers={"Authorization": f"Bearer {KEY_A}", "Content-Type": "application/json"}
        | (headers or {}),
        timeout=60,
    )


def test_one_image_by_url_data_url_and_another_url_is_one_entry(
    gw: GatewayProcess, fake: FakeOpenAI, images: BackgroundApp
) -> None:
    assert reencoded(PHOTO) == PHOTO  # the copy is the same bytes under another URL
    text = tag()
    first = ask(gw, text, f"{images.url}/photo.png")
    assert first[1] == "miss"
    assert fake.requests[-1].image_urls == [f"{images.url}/photo.png"]  # still passed through
    for url in (data_url(PHOTO, "image/png"), f"{images.url}/copy.png"):
        again = ask(gw, text, url)
        assert again[1] == "hit"
        assert again[0] == first[0]
    assert len(fake.requests) == 1

    changed = ask(gw, text, data_url(one_pixel_changed(PHOTO), "image/png"))
    assert changed[1] == "miss"
    assert len(fake.requests) == 2


def test_field_order_and_defaults_do_not_matter_but_temperature_does(
    gw: GatewayProcess, fake: FakeOpenAI
) -> None:
    messages = [{"role": "user", "content": [{"type": "text", "text": tag()}]}]
    one = json.dumps({"model": "gpt-4o", "messages": messages, "max_tokens": 50})
    other = json.dumps(
        {"temperature": 1, "max_tokens": 50, "n": 1, "messages": messages, "model": "gpt-4o"}
    )
    first, second = post(gw, one), post(gw, other)
    assert first.status_code == second.status_code == 200
    assert first.headers["x-visiongate-cache"] == "miss"
    assert second.headers["x-visiongate-cache"] == "hit"
    assert second.json()["choices"] == first.json()["choices"]
    colder = post(
        gw,
        json.dumps({"model": "gpt-4o", "messages": messages, "max_tokens": 50, "temperature": 0.2}),
    )
    assert colder.headers["x-visiongate-cache"] == "miss"
    assert len(fake.requests) == 2


def stream_chunks(gw: GatewayProcess, text: str, **fields: Any) -> tuple[list[Any], str | None]:
    client = openai_client(base_url=gw.base_url, api_key=KEY_A, max_retries=0, timeout=60)
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": text}],
        stream=True,
        stream_options={"include_usage": True},
        **fields,
    )
    return list(raw.parse()), raw.headers.get("x-visiongate-cache")


def test_a_streamed_hit_replays_the_streamed_miss_chunk_for_chunk(
    gw: GatewayProcess, fake: FakeOpenAI
) -> None:
    text = tag() + " [[chunks=14]]"
    missed, status = stream_chunks(gw, text)
    assert status == "miss"
    hit, status = stream_chunks(gw, text)
    assert status == "hit"
    assert len(fake.requests) == 1

    def contents(chunks: list[Any]) -> list[tuple[str | None, str | None]]:
        return [
            (c.choices[0].delta.content, c.choices[0].finish_reason) for c in chunks if c.choices
        ]

    assert contents(hit) == contents(missed)
    assert len([c for c in contents(missed) if c[0]]) == 14
    assert hit[-1].usage == missed[-1].usage  # the usage chunk, with the original usage
    assert hit[-1].usage is not None and hit[-1].usage.completion_tokens == 14

    whole = ask(gw, text)  # the same request, not streamed: the same entry
    assert whole[1] == "hit"
    assert whole[0] == "".join(c[0] or "" for c in contents(missed))
    assert whole[2].usage.completion_tokens == 14

    raw = requests.post(
        f"{gw.base_url}/chat/completions",
        json={"model": "gpt-4o", "messages": [{"role": "user", "content": text}], "stream": True},
        headers={"Authorization": f"Bearer {KEY_A}"},
        timeout=60,
    )
    assert raw.headers["x-visiongate-cache"] == "hit"
    assert sse_events([raw.content])[-1] == (None, "[DONE]")
    assert len(fake.requests) == 1


def test_a_whole_miss_answers_a_streamed_hit(gw: GatewayProcess, fake: FakeOpenAI) -> None:
    text = tag()
    whole = ask(gw, text)
    chunks, status = stream_chunks(gw, text)
    assert status == "hit"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == whole[0]
    assert chunks[-1].usage == whole[2].usage
    assert len(fake.requests) == 1


def test_no_cache_refreshes_the_entry_and_no_store_keeps_out(
    gw: GatewayProcess, fake: FakeOpenAI
) -> None:
    text = tag()
    old = ask(gw, text)
    fake.reply_words = 20  # the provider's answer changes from now on
    fresh = ask(gw, text, headers={"Cache-Control": "no-cache"})
    assert fresh[1] == "miss" and fresh[0] != old[0]
    assert ask(gw, text)[0:2] == (fresh[0], "hit")  # the entry was replaced
    assert len(fake.requests) == 2

    fake.reply_words = 30
    skipped = ask(gw, text, headers={"Cache-Control": "no-store"})
    assert skipped[1] == "bypass" and skipped[0] not in (old[0], fresh[0])
    assert ask(gw, text)[0:2] == (fresh[0], "hit")  # no-store neither read nor wrote
    assert len(fake.requests) == 3

    other = tag()
    ask(gw, other, headers={"Cache-Control": "no-store"})
    assert ask(gw, other)[1] == "miss"
    assert len(fake.requests) == 5


def test_max_age_opts_a_request_in_and_refuses_older_entries(
    gw: GatewayProcess, fake: FakeOpenAI
) -> None:
    text = tag()
    plain = ask(gw, text, model="gpt-4o-2024-08-06")
    assert plain[1] is None  # no cache table, no header: the cache is not involved
    opted = {"Cache-Control": "max-age=300"}
    assert ask(gw, text, model="gpt-4o-2024-08-06", headers=opted)[1] == "miss"
    assert ask(gw, text, model="gpt-4o-2024-08-06", headers=opted)[1] == "hit"
    assert ask(gw, text, model="gpt-4o-2024-08-06")[1] is None
    assert len(fake.requests) == 3

    cached = tag()
    assert ask(gw, cached)[1] == "miss"
    time.sleep(1.1)
    assert ask(gw, cached, headers={"Cache-Control": "max-age=1"})[1] == "miss"
    assert ask(gw, cached, headers={"Cache-Control": "max-age=60"})[1] == "hit"
    assert len(fake.requests) == 5


def test_entries_are_per_key_unless_shared(gw: GatewayProcess, fake: FakeOpenAI) -> None:
    text = tag()
    assert ask(gw, text, key=KEY_A)[1] == "miss"
    assert ask(gw, text, key=KEY_B)[1] == "miss"
    assert ask(gw, text, key=KEY_B)[1] == "hit"
    assert len(fake.requests) == 2
    assert ask(gw, text, model="gpt-4o-mini", key=KEY_A)[1] == "miss"
    assert ask(gw, text, model="gpt-4o-mini", key=KEY_B)[1] == "hit"
    assert len(fake.requests) == 3


def test_twenty_identical_requests_at_once_call_the_provider_once(
    gw: GatewayProcess, fake: FakeOpenAI
) -> None:
    text = tag() + " [[delay=0.5]]"
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda _: ask(gw, text), range(20)))
    assert len(fake.requests) == 1
    assert len({a[0] for a in answers}) == 1
    assert sorted(a[1] or "" for a in answers) == ["hit"] * 19 + ["miss"]


def test_a_failed_first_call_lets_the_waiters_call_themselves(
    gw: GatewayProcess, fake: FakeOpenAI
) -> None:
    # The fake refuses the first attempt of this exact body (429), answers the others.
    text = tag() + " [[rate_limit=1]] [[delay=0.5]]"

    def one(_: int) -> tuple[int, str | None]:
        try:
            return 200, ask(gw, text)[1]
        except openai.APIStatusError as exc:
            return exc.status_code, exc.response.headers.get("x-visiongate-cache")

    with ThreadPoolExecutor(5) as pool:
        results = list(pool.map(one, range(5)))
    assert sorted(status for status, _ in results) == [200, 200, 200, 200, 429]
    assert 2 <= len(fake.requests) <= 5  # the waiters called for themselves
    assert ask(gw, text)[1] == "hit"  # a success was kept; the error was not


def test_errors_and_cut_short_answers_are_not_kept(gw: GatewayProcess, fake: FakeOpenAI) -> None:
    failing = tag() + " [[status=500]]"
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            ask(gw, failing)
    assert len(fake.requests) == 2

    cut = tag() + " [[finish=length]]"
    assert ask(gw, cut)[1] == "miss"
    assert ask(gw, cut)[1] == "miss"
    assert len(fake.requests) == 4
    # gpt-4-turbo's table says cache_incomplete = true
    assert ask(gw, cut, model="gpt-4-turbo")[1] == "miss"
    assert ask(gw, cut, model="gpt-4-turbo")[1] == "hit"
    assert len(fake.requests) == 5


def test_a_hit_on_the_responses_and_messages_surfaces(gw: GatewayProcess, fake: FakeOpenAI) -> None:
    text = tag()
    ask(gw, text, max_tokens=300)  # the entry, from Chat Completions
    client = openai_client(base_url=gw.base_url, api_key=KEY_A, max_retries=0, timeout=60)
    raw = client.responses.with_raw_response.create(
        model="gpt-4o",
        input=[{"role": "user", "content": [{"type": "input_text", "text": text}]}],
        max_output_tokens=300,
    )
    assert raw.headers["x-visiongate-cache"] == "hit"
    response = raw.parse()
    assert response.status == "completed" and response.output_text

    claude = anthropic_client(base_url=gw.root, api_key=KEY_A, max_retries=0, timeout=60)
    with claude.messages.with_streaming_response.create(
        model="gpt-4o",
        max_tokens=300,  # the Messages API needs one; it is part of the key
        messages=[{"role": "user", "content": [{"type": "text", "text": text}]}],
        stream=True,
    ) as streamed:
        assert streamed.headers["x-visiongate-cache"] == "hit"
        events = sse_events(streamed.iter_bytes())
    deltas = [json.loads(data) for name, data in events if name == "content_block_delta"]
    assert "".join(d["delta"]["text"] for d in deltas) == response.output_text
    assert len(fake.requests) == 1


def test_a_hit_is_recorded_at_no_cost_with_what_it_saved(
    gw: GatewayProcess, fake: FakeOpenAI
) -> None:
    text = tag()
    client = openai_client(base_url=gw.base_url, api_key=KEY_A, max_retries=0, timeout=60)
    ids = []
    for _ in range(2):
        raw = client.chat.completions.with_raw_response.create(
            model="gpt-4o", messages=[{"role": "user", "content": text}]
        )
        raw.parse()
        ids.append(raw.headers["x-request-id"])
        assert float(raw.headers["x-visiongate-cost-usd"]) >= 0
    rows: dict[str, tuple[Any, ...]] = {}
    deadline = time.monotonic() + 10
    while len(rows) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
        with contextlib.closing(sqlite3.connect(gw.data_dir / "visiongate.db")) as db:
            found = db.execute(
                "SELECT request_id, cache, cost_usd, saved_usd, prompt_tokens FROM usage "
                "WHERE request_id IN (?, ?)",
                ids,
            ).fetchall()
        rows = {row[0]: row[1:] for row in found}
    miss, hit = rows[ids[0]], rows[ids[1]]
    assert miss[0] == "miss" and miss[1] > 0 and miss[2] == 0
    assert hit[0] == "hit" and hit[1] == 0 and hit[2] == pytest.approx(miss[1])
    assert hit[3] == miss[3]  # the original usage

    metrics = requests.get(f"{gw.root}/metrics", timeout=10).text
    assert 'visiongate_answer_cache_total{result="hit"}' in metrics
    saved = [
        line
        for line in metrics.splitlines()
        if line.startswith("visiongate_answer_cache_saved_usd_total")
    ]
    assert saved and float(saved[0].split()[-1]) > 0


def test_a_route_has_a_cache_table_of_its_own(gw: GatewayProcess, fake: FakeOpenAI) -> None:
    text = tag()
    assert ask(gw, text, data_url(PHOTO, "image/png"), model="vision")[1] == "miss"
    assert ask(gw, text, data_url(PHOTO, "image/png"), model="vision")[1] == "hit"
    assert len(fake.requests) == 1
    # Its targets have no table of their own: asked by name, they are not cached.
    assert ask(gw, text, data_url(PHOTO, "image/png"), model="gpt-4o-2024-08-06")[1] is None
    assert len(fake.requests) == 2


def test_a_pdf_is_keyed_by_its_bytes(gw: GatewayProcess, fake: FakeOpenAI) -> None:
    def pdf_part(data: bytes) -> dict[str, Any]:
        url = "data:application/pdf;base64," + base64.b64encode(data).decode()
        return {"type": "file", "file": {"file_data": url, "filename": "invoice.pdf"}}

    def ask_pdf(text: str, data: bytes) -> str | None:
        client = openai_client(base_url=gw.base_url, api_key=KEY_A, max_retries=0, timeout=60)
        raw = client.chat.completions.with_raw_response.create(
            model="gpt-4o",
            messages=[
                {"role": "user", "content": [{"type": "text", "text": text}, pdf_part(data)]}
            ],
        )
        raw.parse()
        return raw.headers.get("x-visiongate-cache")

    text = tag()
    assert ask_pdf(text, text_pdf(["Total: 42 EUR"])) == "miss"
    assert len(fake.requests[-1].files) == 1  # it went upstream as a PDF
    assert ask_pdf(text, text_pdf(["Total: 42 EUR"])) == "hit"
    assert ask_pdf(text, text_pdf(["Total: 43 EUR"])) == "miss"
    assert len(fake.requests) == 2
