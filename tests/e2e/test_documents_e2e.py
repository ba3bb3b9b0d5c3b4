"""PDFs through a real gateway, the official openai SDK and fake upstreams.

One gateway serves the module, pointed at fake OpenAI, Together, Anthropic and Gemini
upstreams that check each wire format (a ``file`` part, a ``document`` block, inline
``application/pdf``) and record what arrived, plus a config-file model on Together whose
profile takes many images. The PDFs are written by the tests (tests/support/pdfs.py).
"""

from __future__ import annotations

import base64
import contextlib
import io
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import anthropic
import openai
import pypdfium2 as pdfium
import pytest
import requests
from aiohttp import web
from PIL import Image

from tests.fakes.anthropic_upstream import AnthropicFake
from tests.fakes.gemini_upstream import GeminiFake
from tests.fakes.openai_upstream import FakeOpenAI
from tests.support.background import BackgroundApp
from tests.support.clients import anthropic_client
from tests.support.gateway import GatewayProcess, run_gateway
from tests.support.pdfs import (
    empty_pdf,
    encrypted_pdf,
    many_pages_pdf,
    pdf,
    scan_jpeg,
    text_pdf,
)

pytestmark = pytest.mark.timeout(180)

THREE_PAGES = text_pdf(
    ["Invoice 4711", "Total due: 120 EUR"],
    ["Second page", "Delivery address Hamburg"],
    ["Third page", "Thank you"],
)
PAGES_MODEL = "together/pages"
CONFIG = """
[models."together/pages"]
provider = "together"
upstream = "Qwen/Qwen2-VL-72B-Instruct"
image_profile = "openai_compatible"
"""
LLAMA = "meta-llama/Llama-3.2-11B-Vision-Instruct-Turbo"
FILE_PARAM = "messages[0].content[1].file.file_data"


def data_url(data: bytes) -> str:
    return "data:application/pdf;base64," + base64.b64encode(data).decode()


def file_part(data: bytes, filename: str = "a.pdf", **extra: Any) -> dict[str, Any]:
    return {"type": "file", "file": {"file_data": data_url(data), "filename": filename, **extra}}


def ask(question: str, *parts: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"type": "text", "text": question}, *parts]}]


@dataclass
class World:
    gateway: GatewayProcess
    openai: FakeOpenAI
    together: FakeOpenAI
    anthropic: AnthropicFake
    gemini: GeminiFake
    pdf_host: str

    def reset(self) -> None:
        for fake in (self.openai, self.together):
            fake.reset()
        self.anthropic.requests.clear()
        self.gemini.requests.clear()


def _pdf_host_app() -> web.Application:
    app = web.Application()

    async def serve(request: web.Request) -> web.Response:
        return web.Response(body=THREE_PAGES, content_type="application/pdf")

    app.router.add_get("/invoice.pdf", serve)
    return app


def _env(servers: dict[str, BackgroundApp], fakes: dict[str, Any]) -> dict[str, str]:
    return {
        "OPENAI_API_KEY": fakes["openai"].api_key,
        "OPENAI_BASE_URL": servers["openai"].url + "/v1",
        "TOGETHER_API_KEY": fakes["together"].api_key,
        "TOGETHER_BASE_URL": servers["together"].url + "/v1",
        "ANTHROPIC_API_KEY": fakes["anthropic"].api_key,
        "ANTHROPIC_BASE_URL": servers["anthropic"].url,
        "GEMINI_API_KEY": fakes["gemini"].api_key,
        "GEMINI_BASE_URL": servers["gemini"].url,
    }


@pytest.fixture(scope="module")
def upstreams() -> Iterator[tuple[dict[str, Any], dict[str, BackgroundApp]]]:
    fakes: dict[str, Any] = {
        "openai": FakeOpenAI(api_key="sk-docs-openai-1234567890", accept_files=True),
        "together": FakeOpenAI(api_key="tgp-docs-together-123456"),
        "anthropic": AnthropicFake(),
        "gemini": GeminiFake(),
        "host": None,
    }
    apps = {name: fake.app() for name, fake in fakes.items() if fake is not None}
    apps["host"] = _pdf_host_app()
    servers = {name: BackgroundApp(app).start() for name, app in apps.items()}
    try:
        yield fakes, servers
    finally:
        for server in servers.values():
            server.stop()


@pytest.fixture(scope="module")
def world(upstreams: tuple[dict[str, Any], dict[str, BackgroundApp]]) -> Iterator[World]:
    fakes, servers = upstreams
    with run_gateway(env=_env(servers, fakes), config=CONFIG) as gw:
        yield World(
            gw,
            fakes["openai"],
            fakes["together"],
            fakes["anthropic"],
            fakes["gemini"],
            servers["host"].url,
        )


@pytest.fixture(autouse=True)
def _fresh(request: pytest.FixtureRequest) -> None:
    if "world" in request.fixturenames:
        request.getfixturevalue("world").reset()


def rid() -> str:
    return f"doc-{uuid.uuid4().hex[:12]}"


def usage_row(gw: GatewayProcess, request_id: str) -> dict[str, Any]:
    """The request's usage record, once the writer has flushed it (about a second)."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with contextlib.closing(sqlite3.connect(gw.data_dir / "visiongate.db")) as db:
            db.row_factory = sqlite3.Row
            rows = db.execute("SELECT * FROM usage WHERE request_id = ?", (request_id,)).fetchall()
        if rows:
            assert len(rows) == 1
            return dict(rows[0])
        time.sleep(0.1)
    raise AssertionError(f"no usage record for {request_id}")


def pdf_pages_text(data: bytes) -> list[str]:
    doc = pdfium.PdfDocument(data)
    try:
        return [doc[i].get_textpage().get_text_range() for i in range(len(doc))]
    finally:
        doc.close()


def size_of(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size


def openai_parts(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for m in body["messages"] if isinstance(m["content"], list) for p in m["content"]]


# ---------------------------------------------------------------- native delivery


def test_openai_gets_the_pdf_as_a_file_part_byte_for_byte(world: World) -> None:
    request_id = rid()
    resp = world.gateway.client().chat.completions.create(
        model="gpt-4o",
        messages=ask("What is the total?", file_part(THREE_PAGES, "invoice.pdf")),
        extra_headers={"x-request-id": request_id},
    )
    assert resp.choices[0].message.content
    (sent,) = world.openai.last.files
    assert sent["filename"] == "invoice.pdf"
    assert sent["file_data"] == data_url(THREE_PAGES)  # the client's own data URL
    row = usage_row(world.gateway, request_id)
    assert (row["documents"], row["document_pages"], row["document_bytes"]) == (
        1,
        3,
        len(THREE_PAGES),
    )
    assert row["status"] == 200 and row["images"] == 0


def test_anthropic_gets_a_document_block_byte_for_byte(world: World) -> None:
    world.gateway.client().chat.completions.create(
        model="claude-3-5-sonnet-20241022", messages=ask("Summarise", file_part(THREE_PAGES))
    )
    assert not world.anthropic.violations
    blocks = world.anthropic.last.body["messages"][0]["content"]
    documents = [b for b in blocks if b["type"] == "document"]
    assert len(documents) == 1
    source = documents[0]["source"]
    assert (source["type"], source["media_type"]) == ("base64", "application/pdf")
    assert base64.b64decode(source["data"]) == THREE_PAGES
    assert not [b for b in blocks if b["type"] == "image"]


def test_gemini_gets_the_pdf_inline_byte_for_byte(world: World) -> None:
    world.gateway.client().chat.completions.create(
        model="gemini-2.0-flash-exp", messages=ask("Summarise", file_part(THREE_PAGES))
    )
    assert not world.gemini.violations
    parts = world.gemini.last.body["contents"][0]["parts"]
    inline = [p["inlineData"] for p in parts if "inlineData" in p]
    assert len(inline) == 1 and inline[0]["mimeType"] == "application/pdf"
    assert base64.b64decode(inline[0]["data"]) == THREE_PAGES


def test_a_large_pdf_goes_through_the_cut_body_path_unchanged(world: World) -> None:
    noise = Image.effect_noise((700, 500), 80).convert("RGB")  # does not compress
    buf = io.BytesIO()
    noise.save(buf, "JPEG", quality=95)
    large = pdf([["Cover page"], buf.getvalue(), buf.getvalue()])  # past api/cut.py's 64 KB
    assert len(large) > 100_000
    world.gateway.client().chat.completions.create(
        model="gpt-4o", messages=ask("Read", file_part(large, "scan.pdf"))
    )
    (sent,) = world.openai.last.files
    assert sent["file_data"] == data_url(large)


def test_a_pages_range_sends_a_pdf_of_only_those_pages(world: World) -> None:
    world.gateway.client().chat.completions.create(
        model="gpt-4o", messages=ask("Read", file_part(THREE_PAGES, pages="2-3"))
    )
    (sent,) = world.openai.last.files
    got = base64.b64decode(sent["file_data"].split(",", 1)[1])
    texts = pdf_pages_text(got)
    assert len(texts) == 2
    assert "Delivery address Hamburg" in texts[0] and "Thank you" in texts[1]


def test_a_file_url_is_fetched_and_sent_inline(world: World) -> None:
    part = {"type": "file", "file": {"file_url": f"{world.pdf_host}/invoice.pdf"}}
    world.gateway.client().chat.completions.create(model="gpt-4o", messages=ask("Read", part))
    (sent,) = world.openai.last.files
    assert base64.b64decode(sent["file_data"].split(",", 1)[1]) == THREE_PAGES
    assert sent["filename"] == "document.pdf"


# ---------------------------------------------------------------- rendered delivery


def test_a_rendering_model_gets_each_page_as_an_image_and_its_text(world: World) -> None:
    request_id = rid()
    world.gateway.client().chat.completions.create(
        model=PAGES_MODEL,
        messages=ask("Read", file_part(THREE_PAGES, "invoice.pdf")),
        extra_headers={"x-request-id": request_id},
    )
    parts = openai_parts(world.together.last.body)
    assert [p["type"] for p in parts] == ["text"] + ["image_url", "text"] * 3
    assert "Total due: 120 EUR" in parts[2]["text"] and "page 1 of invoice.pdf" in parts[2]["text"]
    assert "Delivery address Hamburg" in parts[4]["text"]
    assert "Thank you" in parts[6]["text"]
    for image in (parts[1], parts[3], parts[5]):
        url = image["image_url"]["url"]
        assert url.startswith("data:image/jpeg;base64,")
        width, height = size_of(base64.b64decode(url.split(",", 1)[1]))
        # A letter page at the openai_compatible profile's 2048 px long edge, capped at 200 dpi.
        assert (width, height) == (1700, 2200) or max(width, height) <= 2048
        assert max(width, height) <= 2200 and height > width
    row = usage_row(world.gateway, request_id)
    assert (row["documents"], row["document_pages"], row["images"]) == (1, 3, 3)


def test_a_claude_model_without_pdf_support_gets_fitted_page_images(world: World) -> None:
    world.gateway.client().chat.completions.create(
        model="claude-3-haiku-20240307", messages=ask("Read", file_part(THREE_PAGES))
    )
    assert not world.anthropic.violations
    blocks = world.anthropic.last.body["messages"][0]["content"]
    images = [b for b in blocks if b["type"] == "image"]
    assert len(images) == 3 and not [b for b in blocks if b["type"] == "document"]
    for block in images:
        width, height = size_of(base64.b64decode(block["source"]["data"]))
        assert max(width, height) <= 1568 and width * height <= 1_150_000


def test_llama_takes_one_image_so_three_pages_are_refused_before_any_call(world: World) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        world.gateway.client().chat.completions.create(
            model=LLAMA, messages=ask("Read", file_part(THREE_PAGES))
        )
    error = info.value.body
    assert error["code"] == "too_many_images" and error["param"] == "messages"
    assert "3 page(s)" in error["message"] and "at most 1 image" in error["message"]
    assert '"pages"' in error["message"]
    assert world.together.requests == []


def test_llama_gets_the_one_page_picked(world: World) -> None:
    world.gateway.client().chat.completions.create(
        model=LLAMA, messages=ask("Read", file_part(THREE_PAGES, pages="2"))
    )
    parts = openai_parts(world.together.last.body)
    assert [p["type"] for p in parts] == ["text", "image_url", "text"]
    assert "Delivery address Hamburg" in parts[2]["text"] and "page 2" in parts[2]["text"]
    image = base64.b64decode(parts[1]["image_url"]["url"].split(",", 1)[1])
    assert max(size_of(image)) <= 1120  # the llama_vision profile's edge


def test_documents_render_setting_renders_for_native_models_too(
    upstreams: tuple[dict[str, Any], dict[str, BackgroundApp]],
) -> None:
    fakes, servers = upstreams
    env = {**_env(servers, fakes), "VISIONGATE_DOCUMENTS": "render"}
    with run_gateway(env=env) as gw:
        gw.client().chat.completions.create(
            model="gpt-4o", messages=ask("Read", file_part(THREE_PAGES, pages="1"))
        )
    body = fakes["openai"].last.body
    kinds = [p["type"] for p in openai_parts(body)]
    assert kinds == ["text", "image_url", "text"]


# ---------------------------------------------------------------- local models


def test_local_ocr_returns_the_text_layer_exactly(gateway: GatewayProcess) -> None:
    resp = gateway.client().chat.completions.create(
        model="local/ocr", messages=ask("Read", file_part(THREE_PAGES))
    )
    assert resp.choices[0].message.content == (
        "Page 1:\nInvoice 4711\nTotal due: 120 EUR\n\n"
        "Page 2:\nSecond page\nDelivery address Hamburg\n\n"
        "Page 3:\nThird page\nThank you"
    )


def test_local_ocr_reads_scanned_pages_with_ocr(gateway: GatewayProcess) -> None:
    mixed = pdf([["Typed words here"], scan_jpeg(["OPEN DAILY"])])
    resp = gateway.client().chat.completions.create(
        model="local/ocr", messages=ask("Read", file_part(mixed, pages="1-2"))
    )
    text = resp.choices[0].message.content
    assert text.startswith("Page 1:\nTyped words here\n\nPage 2:\n")
    assert "OPEN DAILY" in text.split("Page 2:\n", 1)[1].upper()
    assert resp.usage.prompt_tokens > 0  # the OCR of the scan counts its text regions


def test_local_ocr_streams_the_same_text(gateway: GatewayProcess) -> None:
    client = gateway.client()
    messages = ask("Read", file_part(THREE_PAGES, pages="3"))
    whole = client.chat.completions.create(model="local/ocr", messages=messages)
    stream = client.chat.completions.create(model="local/ocr", messages=messages, stream=True)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text == whole.choices[0].message.content == "Page 3:\nThird page\nThank you"


# ---------------------------------------------------------------- bad input


def _refused(gw: GatewayProcess, part: dict[str, Any], model: str = "gpt-4o") -> dict[str, Any]:
    request_id = rid()
    r = requests.post(
        f"{gw.base_url}/chat/completions",
        json={"model": model, "messages": ask("Read", part)},
        headers={"Authorization": f"Bearer {gw.api_key}", "x-request-id": request_id},
        timeout=60,
    )
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    row = usage_row(gw, request_id)
    assert row["status"] == 400 and row["error_code"] == error["code"]
    return error


BAD_FILES: list[tuple[str, Callable[[], bytes], str, str]] = [
    ("encrypted", encrypted_pdf, "invalid_document", "password"),
    ("truncated", lambda: THREE_PAGES[: len(THREE_PAGES) // 2], "invalid_document", "damaged"),
    ("empty", empty_pdf, "invalid_document", "no pages"),
    ("not a pdf", lambda: b"just some bytes \x00\x01\x02" * 10, "invalid_document", "not a PDF"),
    ("docx", lambda: b"PK\x03\x04" + b"\x00" * 60, "unsupported_content", "office document"),
    ("html", lambda: b"<!DOCTYPE html><html><body>hi</body></html>", "unsupported_content", "HTML"),
    ("thousands", lambda: many_pages_pdf(3000), "document_too_large", "3000 page(s)"),
]


@pytest.mark.parametrize(
    ("name", "make", "code", "words"), BAD_FILES, ids=[b[0] for b in BAD_FILES]
)
def test_bad_files_are_a_400_naming_the_part(
    world: World, name: str, make: Callable[[], bytes], code: str, words: str
) -> None:
    error = _refused(world.gateway, file_part(make()))
    assert error["code"] == code, error
    assert error["param"] == FILE_PARAM
    assert words in error["message"]
    assert world.openai.requests == []


def test_a_page_too_large_to_draw_is_refused_for_a_rendering_model(world: World) -> None:
    huge = pdf([["a billboard"]], size=(14400, 14400))
    error = _refused(world.gateway, file_part(huge), model=PAGES_MODEL)
    assert error["code"] == "document_too_large"
    assert error["param"] == "messages[0].content[1].file.pages"
    assert "Page 1" in error["message"]


def test_thousands_of_pages_pass_with_a_pages_range(world: World) -> None:
    world.gateway.client().chat.completions.create(
        model="gpt-4o", messages=ask("Read", file_part(many_pages_pdf(3000), pages="10-12"))
    )
    (sent,) = world.openai.last.files
    assert len(pdf_pages_text(base64.b64decode(sent["file_data"].split(",", 1)[1]))) == 3


def test_file_id_and_bad_pages_are_400s(world: World) -> None:
    error = _refused(world.gateway, {"type": "file", "file": {"file_id": "file-abc123"}})
    assert error["code"] == "unsupported_parameter"
    assert error["param"] == "messages[0].content[1].file.file_id"
    assert "file_data" in error["message"]
    error = _refused(world.gateway, file_part(THREE_PAGES, pages="3-1"))
    assert error["param"] == "messages[0].content[1].file.pages"
    error = _refused(world.gateway, file_part(THREE_PAGES, pages="2-9"))
    assert error["param"] == "messages[0].content[1].file.pages"
    assert "3 page(s)" in error["message"]


def test_limits_from_the_environment(
    upstreams: tuple[dict[str, Any], dict[str, BackgroundApp]],
) -> None:
    fakes, servers = upstreams
    env = {
        **_env(servers, fakes),
        "VISIONGATE_MAX_DOCUMENT_BYTES": "2000",
        "VISIONGATE_DOCUMENT_RENDER_TIMEOUT": "0.001",
    }
    with run_gateway(env=env) as gw:
        big = text_pdf(*[[f"line {i}" for i in range(40)]] * 3)
        assert len(big) > 2000
        error = _refused(gw, file_part(big))
        assert error["code"] == "document_too_large" and "2000 bytes" in error["message"]
        error = _refused(gw, file_part(THREE_PAGES))
        assert error["code"] == "document_too_large"
        assert "VISIONGATE_DOCUMENT_RENDER_TIMEOUT" in error["message"]
        assert requests.get(f"{gw.root}/healthz", timeout=5).status_code == 200


def test_the_server_stays_up_after_every_bad_file(world: World) -> None:
    resp = world.gateway.client().chat.completions.create(
        model="gpt-4o", messages=ask("Read", file_part(THREE_PAGES, pages="1"))
    )
    assert resp.choices[0].message.content
    assert world.gateway.proc.poll() is None


# ---------------------------------------------------------------- the other surfaces


def messages_client(gw: GatewayProcess) -> anthropic.Anthropic:
    return anthropic_client(base_url=gw.root, api_key=gw.api_key, max_retries=0, timeout=60)


def document_block(data: bytes, **extra: Any) -> dict[str, Any]:
    source = {"type": "base64", "media_type": "application/pdf", "data": b64(data)}
    return {"type": "document", "source": source, **extra}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_responses_input_file_reaches_openai_as_its_file_part(world: World) -> None:
    response = world.gateway.client().responses.create(
        model="gpt-4o",
        input=[
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "What is the total?"},
                    {
                        "type": "input_file",
                        "file_data": data_url(THREE_PAGES),
                        "filename": "invoice.pdf",
                    },
                ],
            }
        ],
    )
    assert response.output_text
    (sent,) = world.openai.last.files
    assert sent == {"filename": "invoice.pdf", "file_data": data_url(THREE_PAGES)}


def test_responses_input_file_by_url_is_rendered_for_together(world: World) -> None:
    world.gateway.client().responses.create(
        model=PAGES_MODEL,
        input=[
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "Read"},
                    {"type": "input_file", "file_url": f"{world.pdf_host}/invoice.pdf"},
                ],
            }
        ],
    )
    parts = openai_parts(world.together.last.body)
    assert [p["type"] for p in parts].count("image_url") == 3
    assert any("Delivery address Hamburg" in p.get("text", "") for p in parts)


def test_responses_bad_file_is_a_400_in_its_envelope(world: World) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        world.gateway.client().responses.create(
            model="gpt-4o",
            input=[
                {
                    "role": "user",
                    "content": [{"type": "input_file", "file_data": data_url(encrypted_pdf())}],
                }
            ],
        )
    error = info.value.body
    assert error["code"] == "invalid_document"
    assert error["param"] == "input[0].content[0].file_data"
    assert world.openai.requests == []


def test_messages_document_block_reaches_claude_byte_for_byte(world: World) -> None:
    message = messages_client(world.gateway).messages.create(
        model="claude-3-5-sonnet-20241022",
        max_tokens=50,
        messages=[
            {
                "role": "user",
                "content": [
                    document_block(THREE_PAGES, cache_control={"type": "ephemeral"}),
                    {"type": "text", "text": "What is the total?"},
                ],
            }
        ],
    )
    assert message.content[0].text
    assert not world.anthropic.violations
    block = world.anthropic.last.body["messages"][0]["content"][0]
    assert block["type"] == "document" and block["cache_control"] == {"type": "ephemeral"}
    assert block["source"]["data"] == b64(THREE_PAGES)  # the client's base64, as it came


def test_messages_document_with_pages_goes_to_gemini_and_local_ocr(world: World) -> None:
    client = messages_client(world.gateway)
    client.messages.create(
        model="gemini-1.5-pro",
        max_tokens=50,
        messages=[{"role": "user", "content": [document_block(THREE_PAGES, pages="3")]}],
    )
    parts = world.gemini.last.body["contents"][0]["parts"]
    (inline,) = [p["inlineData"] for p in parts if "inlineData" in p]
    assert pdf_pages_text(base64.b64decode(inline["data"])) == ["Third page\r\nThank you"]
    read = client.messages.create(
        model="local/ocr",
        max_tokens=500,
        messages=[{"role": "user", "content": [document_block(THREE_PAGES, pages="1")]}],
    )
    assert read.content[0].text == "Page 1:\nInvoice 4711\nTotal due: 120 EUR"


def test_messages_document_by_url_in_a_tool_result_is_rendered(world: World) -> None:
    tool_turns = [
        {"role": "user", "content": "Fetch the invoice."},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "t1", "name": "fetch", "input": {}}],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "t1",
                    "content": [
                        {
                            "type": "document",
                            "source": {"type": "url", "url": f"{world.pdf_host}/invoice.pdf"},
                            "pages": "1-2",
                        }
                    ],
                }
            ],
        },
    ]
    messages_client(world.gateway).messages.create(
        model="claude-3-haiku-20240307",
        max_tokens=50,
        tools=[{"name": "fetch", "input_schema": {"type": "object", "properties": {}}}],
        messages=tool_turns,
    )
    assert not world.anthropic.violations
    result = world.anthropic.last.body["messages"][2]["content"][0]
    assert result["type"] == "tool_result"
    kinds = [block["type"] for block in result["content"]]
    assert kinds == ["image", "text", "image", "text"]


TEXT_SOURCE = {"type": "text", "media_type": "text/plain", "data": "x"}


def test_messages_bad_documents_are_400s_naming_the_block(world: World) -> None:
    client = messages_client(world.gateway)
    cases = [
        (document_block(b"PK\x03\x04" + b"\x00" * 40), "unsupported_content"),
        (document_block(THREE_PAGES, citations={"enabled": True}), "unsupported_parameter"),
        (
            {
                "type": "document",
                "source": {"type": "text", "media_type": "text/plain", "data": "x"},
            },
            "unsupported_content",
        ),
        (  # characters past latin-1 in the base64: once a 500 (found by the schema fuzzer)
            {
                "type": "document",
                "source": {"type": "base64", "media_type": "application/pdf", "data": "\u20acJVBE"},
            },
            "invalid_document",
        ),
    ]
    for block, code in cases:
        with pytest.raises(anthropic.BadRequestError) as info:
            client.messages.create(
                model="claude-3-5-sonnet-20241022",
                max_tokens=50,
                messages=[{"role": "user", "content": [block]}],
            )
        error = info.value.body["error"]  # type: ignore[index]
        assert error["code"] == code and error["param"].startswith("messages[0].content[0]")
    assert world.anthropic.requests == []


def test_claude_gets_a_pdf_url_as_a_url_source_unless_pages_are_picked(world: World) -> None:
    url = f"{world.pdf_host}/invoice.pdf"
    client = world.gateway.client()
    client.chat.completions.create(
        model="claude-3-5-sonnet-20241022",
        messages=ask("Read", {"type": "file", "file": {"file_url": url}}),
    )
    block = world.anthropic.last.body["messages"][0]["content"][1]
    assert block == {"type": "document", "source": {"type": "url", "url": url}}
    client.chat.completions.create(
        model="claude-3-5-sonnet-20241022",
        messages=ask("Read", {"type": "file", "file": {"file_url": url, "pages": "2"}}),
    )
    block = world.anthropic.last.body["messages"][0]["content"][1]
    assert block["source"]["type"] == "base64"  # picked pages: fetched, cut, inlined
    sent = base64.b64decode(block["source"]["data"])
    assert pdf_pages_text(sent) == ["Second page\r\nDelivery address Hamburg"]
    assert not world.anthropic.violations


# ---------------------------------------------------------------- fallbacks


def test_too_many_pages_for_the_model_falls_back_to_one_that_reads_pdfs(world: World) -> None:
    resp = world.gateway.client().chat.completions.create(
        model=LLAMA,
        messages=ask("Read", file_part(THREE_PAGES)),
        extra_body={"fallbacks": ["gpt-4o"]},
    )
    assert resp.choices[0].message.content
    assert world.together.requests == []  # passed over before any call
    (sent,) = world.openai.last.files
    assert sent["file_data"] == data_url(THREE_PAGES)


def test_a_failed_rendering_model_falls_back_with_the_pdf_as_sent(world: World) -> None:
    world.anthropic.failures = [500] * 5  # every call to Claude fails, retries included
    request_id = rid()
    world.gateway.client().chat.completions.create(
        model="claude-3-haiku-20240307",
        messages=ask("Read", file_part(THREE_PAGES, pages="1-2")),
        extra_body={"fallbacks": ["gemini-1.5-pro"]},
        extra_headers={"x-request-id": request_id},
    )
    world.anthropic.failures.clear()
    rendered = world.anthropic.requests[0].body["messages"][0]["content"]
    assert [b["type"] for b in rendered] == ["text", "image", "text", "image", "text"]
    parts = world.gemini.last.body["contents"][0]["parts"]
    (inline,) = [p["inlineData"] for p in parts if "inlineData" in p]
    assert inline["mimeType"] == "application/pdf"  # the document again, not its pages
    assert len(pdf_pages_text(base64.b64decode(inline["data"]))) == 2
    row = usage_row(world.gateway, request_id)
    assert (row["documents"], row["document_pages"], row["images"]) == (1, 2, 0)
    assert row["fallback"] == "gemini-1.5-pro"
