"""``local/ocr`` reading documents: the text layer where a page has one, OCR where not.

A PDF made by software carries its words exactly; reading them back with OCR could only
lose some. So the answer for each page is its text layer when it has one, and the OCR of
the rendered page when it has none (a scan), page by page under ``Page N`` headings, with
the request's images read in their place among the documents, as the engine reads them.

The OCR engine is called through its own interface, one single-image request per scanned
page or image (``engine.complete``), so its queue, its concurrency limit and its usage
count apply to pages as to any image.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

from visiongate.core.messages import (
    ChatRequest,
    ChatResponse,
    Choice,
    DocumentPart,
    ImagePart,
    Message,
    StreamDelta,
    Usage,
)

__all__ = ["read_documents", "stream_documents"]

Complete = Callable[[ChatRequest], Awaitable[ChatResponse]]


async def read_documents(request: ChatRequest, complete: Complete) -> ChatResponse:
    """The text of every document page and image of ``request``, in request order."""
    sections: list[str] = []
    usage = Usage()
    named = len(request.documents) > 1
    image_number = 0
    for message in request.messages:
        for part in message.parts:
            if isinstance(part, DocumentPart):
                label = f"{part.filename or 'Document'}, page" if named else "Page"
                for number, page in part.text_pages or ():
                    text = page if isinstance(page, str) else await _ocr(page, complete, usage)
                    sections.append(f"{label} {number}:\n{text}")
            elif isinstance(part, ImagePart):
                image_number += 1
                text = await _ocr(part, complete, usage)
                sections.append(f"Image {image_number}:\n{text}")
    text = "\n\n".join(sections)
    if request.max_tokens is not None and len(text) > request.max_tokens:
        text, finish = text[: request.max_tokens], "length"
    else:
        finish = "stop"
    usage.completion_tokens = len(text)
    return ChatResponse(
        choices=[Choice(content=text, finish_reason=finish)],  # type: ignore[arg-type]
        usage=usage,
        upstream_model="rapidocr-pp-ocrv6",
    )


async def stream_documents(request: ChatRequest, complete: Complete) -> AsyncIterator[StreamDelta]:
    """:func:`read_documents` as a stream, a line per delta (as the engine streams)."""
    yield StreamDelta(role="assistant", content="")
    response = await read_documents(request, complete)
    choice = response.choices[0]
    for i, line in enumerate((choice.content or "").split("\n")):
        yield StreamDelta(content=line if i == 0 else "\n" + line)
    yield StreamDelta(finish_reason=choice.finish_reason, usage=response.usage)


async def _ocr(image: ImagePart, complete: Complete, usage: Usage) -> str:
    request = ChatRequest(model="local/ocr", messages=[Message(role="user", parts=[image])])
    response = await complete(request)
    if response.usage is not None:
        usage.prompt_tokens += response.usage.prompt_tokens
        usage.image_tokens += response.usage.image_tokens
    return response.choices[0].content or ""
