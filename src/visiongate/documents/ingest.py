"""The document pipeline the request service calls, before the image pipeline.

For each :class:`DocumentPart` of a request, :meth:`DocumentPipeline.prepare`:

1. gets its bytes: a ``data:`` URL or bare base64 decoded strictly, an http(s) URL fetched
   through the image fetcher (the same SSRF guard, deadline and cache, with the document
   byte cap), all of a request's at once;
2. checks from the bytes that it is a PDF (``unsupported_content`` for office files, HTML,
   images, text; ``invalid_document`` for anything else);
3. reads it with PDFium in a sandbox process (``sandbox.py``): damaged, encrypted and empty
   files are refused there, the page selection is applied, and, as the delivery needs,
   pages are rendered or a PDF of just the selected pages is written;
4. delivers it in one of three ways, decided by :func:`delivery`:

   * ``native``: the part keeps its PDF (the client's bytes and base64 when no pages were
     picked) and the adapter sends it in the provider's own block;
   * ``render``: the part is replaced, in its message, by its pages: each page's image,
     then the page's text layer as a text part where it has one. The image pipeline then
     treats the pages as any other image (count, budget, tokens), and every adapter sends
     them without knowing they came from a PDF;
   * ``text`` (``local/ocr``): the part keeps, per page, its text layer, or its rendered
     image where it has none, for the OCR engine to read (``reading.py``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from visiongate.core.catalog import ImageLimits, ModelEntry
from visiongate.core.messages import ChatRequest, DocumentPart, ImagePart, Part, TextPart
from visiongate.documents.pages import parse_pages
from visiongate.documents.pdfium import (
    Job,
    PageOut,
    ReadResult,
    Refusal,
    RenderTarget,
    read_pdf,
    render_scale,
)
from visiongate.documents.sandbox import Crashed, Sandbox, TimedOut
from visiongate.documents.source import decode_base64, decode_data_url, sniff_document
from visiongate.errors import DocumentError, ImageError, InvalidRequest
from visiongate.images import ImagePipeline
from visiongate.images.tokens import image_tokens
from visiongate.settings import Settings

__all__ = ["Delivery", "DocumentPipeline", "DocumentStats", "delivery"]

Delivery = Literal["native", "render", "text"]
_MEDIA = {"png": "image/png", "jpeg": "image/jpeg"}
_MAX_DPI = 200.0  # no page is drawn finer than a good scan
# Image-fetch codes, as the same failure reads for a document.
_FETCH_CODES = {
    "image_too_large": "document_too_large",
    "image_fetch_failed": "document_fetch_failed",
    "image_url_blocked": "document_url_blocked",
    "invalid_image_url": "invalid_document_url",
}


@dataclass(slots=True)
class DocumentStats:
    count: int = 0  # documents in the request
    pages: int = 0  # pages sent (native) or rendered/read (render, text)
    bytes: int = 0  # bytes of the documents as received
    rendered: int = 0  # pages drawn as images
    tokens: int = 0  # estimated tokens of native and text deliveries (rendered pages are
    # counted by the image pipeline, their text as prompt text)
    seconds: float = 0.0


def delivery(provider_form: Delivery | None, pdf_native: bool, setting: str) -> Delivery:
    """How a model gets PDFs: ``provider_form`` is what the provider's API can carry
    (``Provider.pdf_form``), ``pdf_native`` whether the catalog says the model reads PDFs,
    and ``setting`` the operator's ``VISIONGATE_DOCUMENTS`` (``auto``, ``native``,
    ``render``). A provider that reads pages itself (``text``) always does."""
    if provider_form == "text":
        return "text"
    if provider_form != "native" or setting == "render":
        return "render"
    if setting == "native" or pdf_native:
        return "native"
    return "render"


class DocumentPipeline:
    """Reads the documents of requests for their model. One per process."""

    def __init__(self, settings: Settings, images: ImagePipeline) -> None:
        self.settings = settings
        self.images = images  # its fetcher and cache serve document URLs too
        self.sandbox = Sandbox(settings.document_render_timeout)

    async def prepare(
        self,
        request: ChatRequest,
        model: ModelEntry,
        provider_form: Delivery | None,
        *,
        urls: bool = False,
    ) -> DocumentStats:
        """Get, check and read every DocumentPart of ``request`` for ``model``, in place.

        ``urls``: the provider may fetch a native PDF's http(s) URL itself (Anthropic).
        Such a document, with no ``pages`` picked and ``fetch_passthrough_urls`` off, goes
        as its URL, unread: the provider checks it, and its pages are not counted here.
        Raises DocumentError, InvalidRequest (a bad page selection) or ImageError
        ``too_many_images`` (more pages to render than the model takes).
        """
        started = time.perf_counter()
        parts = request.documents
        stats = DocumentStats(count=len(parts))
        if not parts:
            return stats
        mode = delivery(provider_form, model.pdf_native, self.settings.documents)
        if mode == "native" and urls and not self.settings.fetch_passthrough_urls:
            for part in parts:
                if _passes_through(part):
                    part.native, part.data, part.b64 = True, None, None
            parts = [p for p in parts if not _passes_through(p)]
            if not parts:
                stats.seconds = time.perf_counter() - started
                return stats
        await asyncio.gather(*(self._load(part) for part in parts))
        others = len(request.images)
        results = await asyncio.gather(
            *(self._read(part, mode, model.image, others) for part in parts)
        )
        for part, result in zip(parts, results, strict=True):
            assert part.data is not None
            stats.bytes += len(part.data)
            stats.pages += len(result.pages)
        if mode == "render":
            self._check_count(model, sum(len(r.pages) for r in results), len(request.images))
        for part, result in zip(parts, results, strict=True):
            if mode == "native":
                _keep_native(part, result)
                stats.tokens += _native_tokens(result.pages, model.image, _target(model.image))
            elif mode == "text":
                part.page_count = len(result.pages)
                part.text_pages = [
                    (page.number, _page_image(part, page) if page.image else page.text)
                    for page in result.pages
                ]
                stats.rendered += sum(page.image is not None for page in result.pages)
                stats.tokens += sum((len(page.text) + 3) // 4 for page in result.pages)
            else:
                stats.rendered += len(result.pages)
        if mode == "render":
            _expand(request, {id(p): r for p, r in zip(parts, results, strict=True)})
        stats.seconds = time.perf_counter() - started
        return stats

    # ---------------------------------------------------------------- bytes

    async def _load(self, part: DocumentPart) -> None:
        cap = self.settings.max_document_bytes
        url = part.url
        if url is None:
            if part.b64 is None:
                raise DocumentError(
                    "The file part has no data; send file_data (a data: URL) or a file_url.",
                    param=part.param,
                )
            decoded = decode_base64(part.b64, part.param, cap)
        elif isinstance(url, bytes) or url[:5].lower() == "data:":
            decoded = decode_data_url(url, part.param, cap)
        elif url[:7].lower() == "http://" or url[:8].lower() == "https://":
            part.data = await self._fetch(url, part.param)
            part.b64 = None
            sniff_document(part.data, part.param)
            return
        else:
            raise DocumentError(
                "The file URL must be an http(s) URL or a data: URL.",
                code="invalid_document_url",
                param=part.param,
            )
        part.data, part.b64 = decoded.data, decoded.b64
        sniff_document(part.data, part.param)

    async def _fetch(self, url: str, param: str) -> bytes:
        cache = self.images.cache
        cached = cache.get(url)
        if cached is not None:
            return cached
        try:
            data = await self.images.fetcher.fetch(
                url, param, max_bytes=self.settings.max_document_bytes
            )
        except ImageError as exc:
            code = _FETCH_CODES.get(exc.code or "", exc.code)
            message = exc.message.replace("image", "document")
            raise DocumentError(message, code=code, param=param) from exc
        cache.put(url, data)
        return data

    # ---------------------------------------------------------------- read

    async def _read(
        self, part: DocumentPart, mode: Delivery, limits: ImageLimits, others: int
    ) -> ReadResult:
        """Read one document in the sandbox; ``others`` is how many images the request
        holds besides this document's pages (other documents' pages are not known yet)."""
        budget = limits.max_images - others
        selection = parse_pages(part.pages, f"{_container(part.param)}.pages")
        assert part.data is not None
        job = Job(
            data=part.data,
            mode=mode,
            selection=selection.ranges if selection is not None else None,
            target=_target(limits),
            max_pages=self.settings.max_document_pages,
            bomb_pixels=self.settings.max_image_pixels,
            # Past this many pages the request is refused anyway (_check_count): the
            # child then only counts them instead of drawing them.
            max_render=max(budget, 0) if limits.max_images else 0,
            other_images=others,
        )
        try:
            return await self.sandbox.run(read_pdf, job)
        except Refusal as exc:
            where = _container(part.param) + exc.at if exc.at else part.param
            if exc.code == "invalid_request_error":
                raise InvalidRequest(exc.message, param=where) from None
            raise DocumentError(exc.message, code=exc.code, param=where) from None
        except TimedOut:
            raise DocumentError(
                f"Reading the PDF took longer than the gateway's limit of "
                f"{self.sandbox.timeout:g} s (VISIONGATE_DOCUMENT_RENDER_TIMEOUT); send fewer "
                'pages with "pages" on the file part, or a simpler file.',
                code="document_too_large",
                param=part.param,
            ) from None
        except Crashed:
            raise DocumentError(
                "The PDF could not be read: the reader failed on it (a damaged or hostile "
                "file). Send a repaired copy.",
                code="invalid_document",
                param=part.param,
            ) from None

    def _check_count(self, model: ModelEntry, pages: int, images: int) -> None:
        allowed = model.image.max_images
        if not allowed or pages + images <= allowed:
            return
        others = f" besides the request's {images} image(s)" if images else ""
        room = max(allowed - images, 0)
        hint = f'e.g. "pages": "1-{room}"' if room > 1 else '"pages": "1"'
        raise ImageError(
            f"The request's documents have {pages} page(s) to send as images{others}, and "
            f"{model.id} takes at most {allowed} image(s) per request. Pick pages with "
            f'"pages" on the file part ({hint}), or use a model that reads PDFs natively.',
            code="too_many_images",
            param="messages",
        )


def _passes_through(part: DocumentPart) -> bool:
    """An http(s) URL with no pages to pick: the provider can fetch it as it is."""
    url = part.url
    is_http = isinstance(url, str) and url[:8].lower().startswith(("http://", "https://"))
    return is_http and part.pages is None


def _container(param: str) -> str:
    """The file part's own param (``...content[1].file``) from its data's."""
    return param.rsplit(".", 1)[0] if param.endswith(("file_data", "file_url")) else param


def _target(limits: ImageLimits) -> RenderTarget:
    edges = [e for e in (limits.resize_edge, limits.max_edge) if e]
    formats = tuple(f for f in ("jpeg", "png") if f in limits.formats) or ("jpeg",)
    return RenderTarget(
        max_edge=min(edges) if edges else 0,
        max_pixels=limits.max_pixels,
        max_dpi=_MAX_DPI,
        formats=formats,
        max_image_bytes=limits.max_image_bytes,
        max_request_bytes=limits.max_request_image_bytes,
    )


def _keep_native(part: DocumentPart, result: ReadResult) -> None:
    part.native = True
    part.page_count = len(result.pages)
    if result.subset is not None:
        part.data = result.subset
        part.b64 = None  # the client's base64 was of the whole file


def _native_tokens(pages: Sequence[PageOut], limits: ImageLimits, target: RenderTarget) -> int:
    """The provider's published cost per page where there is one; else what the page
    would cost as an image at the size the provider keeps, plus its text."""
    if limits.pdf_page_tokens:
        return limits.pdf_page_tokens * len(pages)
    total = 0
    for page in pages:
        scale = render_scale(page.width_pt, page.height_pt, target)
        width, height = round(page.width_pt * scale), round(page.height_pt * scale)
        total += image_tokens(limits, width, height) + (len(page.text) + 3) // 4
    return total


def _page_image(part: DocumentPart, page: PageOut) -> ImagePart:
    assert page.image is not None
    return ImagePart(
        param=part.param,
        data=page.image,
        media_type=_MEDIA[page.format],
        width=page.width,
        height=page.height,
    )


def _page_parts(part: DocumentPart, result: ReadResult) -> list[Part]:
    """A rendered document's parts: per page, its image and then its text layer."""
    name = f" of {part.filename}" if part.filename else ""
    out: list[Part] = []
    for page in result.pages:
        out.append(_page_image(part, page))
        if page.text:
            out.append(TextPart(f"Text of page {page.number}{name}:\n{page.text}"))
    return out


def _expand(request: ChatRequest, results: dict[int, ReadResult]) -> None:
    for message in request.messages:
        if not any(isinstance(p, DocumentPart) for p in message.parts):
            continue
        parts: list[Part] = []
        for part in message.parts:
            if isinstance(part, DocumentPart):
                parts += _page_parts(part, results[id(part)])
            else:
                parts.append(part)
        message.parts = parts
