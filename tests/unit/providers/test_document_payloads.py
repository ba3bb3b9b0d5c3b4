"""A native PDF in each provider's own form, checked by the fakes' rule checkers (what the
real APIs would refuse), and a document that reached an adapter unprepared is a bug."""

from __future__ import annotations

import base64

import pytest

from tests.fakes.anthropic_upstream import check_messages_request
from tests.fakes.gemini_upstream import check_generate_request
from tests.fakes.openai_checks import RequestChecker
from tests.fakes.openai_upstream import FakeOpenAI
from tests.support.pdfs import text_pdf
from tests.support.wire import on_the_wire
from visiongate.core.catalog import load_catalog
from visiongate.core.messages import ChatRequest, DocumentPart, Message, TextPart
from visiongate.errors import GatewayError, InvalidRequest
from visiongate.providers.anthropic import to_anthropic_payload
from visiongate.providers.gemini import to_gemini_payload
from visiongate.providers.openai import to_openai_payload

CATALOG = load_catalog(environ={})
PDF = text_pdf(["hello"])
B64 = base64.b64encode(PDF).decode()


def document(*, client_url: bool = True, native: bool = True) -> DocumentPart:
    url = "data:application/pdf;base64," + B64 if client_url else None
    part = DocumentPart("messages[0].content[1].file.file_data", url=url, filename="a.pdf")
    part.data, part.b64 = PDF, B64
    part.native, part.page_count = native, 1
    return part


def request(part: DocumentPart, role: str = "user") -> ChatRequest:
    return ChatRequest(model="m", messages=[Message(role, [TextPart("Read"), part])])  # type: ignore[arg-type]


def test_openai_file_part_reuses_the_clients_data_url() -> None:
    part = document()
    payload = to_openai_payload(request(part), CATALOG.models["gpt-4o"])
    file = payload["messages"][0]["content"][1]
    assert file == {"type": "file", "file": {"filename": "a.pdf", "file_data": part.url}}
    assert file["file"]["file_data"] is part.url  # not rebuilt
    RequestChecker(FakeOpenAI(accept_files=True)).body(on_the_wire(payload))


def test_openai_file_part_for_a_new_pdf_builds_its_data_url() -> None:
    part = document(client_url=False)
    part.b64 = None  # e.g. a PDF of picked pages: encoded here, once
    payload = on_the_wire(to_openai_payload(request(part), CATALOG.models["gpt-4o"]))
    data = payload["messages"][0]["content"][1]["file"]["file_data"]
    assert data == "data:application/pdf;base64," + B64


def test_anthropic_document_block() -> None:
    payload = on_the_wire(
        to_anthropic_payload(request(document()), CATALOG.models["claude-3-5-sonnet-20241022"])
    )
    block = payload["messages"][0]["content"][1]
    assert block == {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": B64},
    }
    assert check_messages_request({"anthropic-version": "2023-06-01"}, payload) == []


def test_gemini_inline_pdf() -> None:
    payload = on_the_wire(to_gemini_payload(request(document()), CATALOG.models["gemini-1.5-pro"]))
    part = payload["contents"][0]["parts"][1]
    assert part == {"inlineData": {"mimeType": "application/pdf", "data": B64}}
    assert check_generate_request(payload) == []


def test_a_document_not_prepared_for_native_delivery_is_a_server_bug() -> None:
    part = document(native=False)
    with pytest.raises(GatewayError):
        to_openai_payload(request(part), CATALOG.models["gpt-4o"])
    with pytest.raises(GatewayError):
        to_anthropic_payload(request(part), CATALOG.models["claude-3-5-sonnet-20241022"])
    with pytest.raises(GatewayError):
        to_gemini_payload(request(part), CATALOG.models["gemini-1.5-pro"])


def test_openai_refuses_a_document_outside_user_messages() -> None:
    with pytest.raises(InvalidRequest) as info:
        to_openai_payload(request(document(), role="system"), CATALOG.models["gpt-4o"])
    assert info.value.code == "unsupported_content"


def test_anthropic_url_source_for_a_document_left_to_the_provider() -> None:
    part = DocumentPart("messages[0].content[1].file.file_url", url="https://x.test/a.pdf")
    part.native = True  # the document pipeline left it unread (Provider.accepts_pdf_urls)
    payload = to_anthropic_payload(request(part), CATALOG.models["claude-3-5-sonnet-20241022"])
    block = payload["messages"][0]["content"][1]
    assert block == {"type": "document", "source": {"type": "url", "url": "https://x.test/a.pdf"}}
    with pytest.raises(GatewayError):  # OpenAI's Chat Completions takes no PDF URL
        to_openai_payload(request(part), CATALOG.models["gpt-4o"])
