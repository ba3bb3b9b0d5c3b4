"""What is done to a PDF with PDFium (pypdfium2), run in a sandbox process (sandbox.py).

One call, :func:`read_pdf`, per document: open it, refuse what cannot be read
(password-protected, damaged, no pages), pick the selected pages, and then, as the
delivery needs: extract each page's text layer, render pages to images sized for the target
model, or write a new PDF holding only the selected pages (a native delivery with a
``pages`` selection). Nothing here touches the event loop or the network; everything it
takes and returns is plain data, so it crosses a process boundary as it is.

Rendering size: the scale is the smallest of ``max_dpi`` (no page is drawn finer than a
good scan), the target's long-edge limit and its pixel budget, so no page has more pixels
than the provider will keep. A page whose size at ``max_dpi`` would pass the
decompression-bomb bound is refused before anything is drawn.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field

from PIL import Image

__all__ = ["Job", "PageOut", "ReadResult", "Refusal", "RenderTarget", "read_pdf"]

_POINTS_PER_INCH = 72.0


class Refusal(Exception):
    """A document the gateway refuses: ``code``, a message for the client, and where
    (``at`` is appended to the part's param, e.g. ``.pages``)."""

    def __init__(self, code: str, message: str, at: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.at = at

    def __reduce__(self) -> tuple[type, tuple[str, str, str]]:
        return (Refusal, (self.code, self.message, self.at))


@dataclass(frozen=True, slots=True)
class RenderTarget:
    """How large and in which format pages become images, from the model's profile."""

    max_edge: int = 0  # longest side in pixels, 0: no limit of its own
    max_pixels: int = 0  # pixel budget per image, 0: none
    max_dpi: float = 200.0
    formats: tuple[str, ...] = ("jpeg", "png")
    max_image_bytes: int = 0  # per image, 0: none
    max_request_bytes: int = 0  # all images of the request together, 0: none


@dataclass(frozen=True, slots=True)
class Job:
    data: bytes
    mode: str  # "native" | "render" | "text"
    selection: tuple[tuple[int, int | None], ...] | None
    target: RenderTarget
    max_pages: int
    bomb_pixels: int
    max_render: int = 0  # more pages than this to render: count them, draw none (0: no cap)
    other_images: int = 0  # images of the request besides this document's pages


@dataclass(slots=True)
class PageOut:
    """One selected page: its 1-based number, size in points, text layer (stripped, ""
    when it has none) and, when rendered, the image and its format and size."""

    number: int
    width_pt: float
    height_pt: float
    text: str
    image: bytes | None = None
    format: str = ""
    width: int = 0
    height: int = 0


@dataclass(slots=True)
class ReadResult:
    total_pages: int
    pages: list[PageOut] = field(default_factory=list)
    subset: bytes | None = None  # a new PDF of the selected pages (native with a selection)


def read_pdf(job: Job) -> ReadResult:
    """Raises Refusal for a document the gateway does not accept."""
    import pypdfium2 as pdfium

    try:
        doc = pdfium.PdfDocument(job.data)
    except pdfium.PdfiumError as exc:
        raise _unreadable(exc, pdfium.raw) from None
    try:
        total = len(doc)
        if total == 0:
            raise Refusal("invalid_document", "The PDF has no pages.")
        indices = _select(job.selection, total)
        if len(indices) > job.max_pages:
            raise Refusal(
                "document_too_large",
                f"The document has {len(indices)} page(s) to send and the gateway's limit "
                f"is {job.max_pages} (VISIONGATE_MAX_DOCUMENT_PAGES); pick fewer pages "
                'with "pages" on the file part, e.g. "pages": "1-10".',
            )
        result = ReadResult(total_pages=total)
        if job.mode == "render" and job.max_render and len(indices) > job.max_render:
            result.pages = [PageOut(index + 1, 0.0, 0.0, "") for index in indices]
            return result  # too many to send: the caller refuses the request
        share = _byte_share(job, len(indices))
        for index in indices:
            result.pages.append(_page(doc, index, job, share))
        if job.mode == "native" and len(indices) < total:
            result.subset = _subset(doc, indices)
        return result
    finally:
        doc.close()


def _unreadable(exc: Exception, raw: object) -> Refusal:
    code = getattr(exc, "err_code", None)
    if code == raw.FPDF_ERR_PASSWORD:  # type: ignore[attr-defined]
        return Refusal(
            "invalid_document",
            "The PDF is password-protected; send a copy without a password or encryption.",
        )
    if code == raw.FPDF_ERR_SUCCESS:  # type: ignore[attr-defined]  # it found no pages
        return Refusal("invalid_document", "The PDF has no pages.")
    return Refusal(
        "invalid_document",
        "The PDF cannot be read: it is damaged or cut short. Send the complete file.",
    )


def _select(selection: tuple[tuple[int, int | None], ...] | None, total: int) -> list[int]:
    if selection is None:
        return list(range(total))
    chosen: set[int] = set()
    for first, last in selection:
        end = total if last is None else last
        if max(first, end) > total:
            raise Refusal(
                "invalid_request_error",
                f"'pages' asks for page {max(first, end)} but the document has {total} page(s).",
                ".pages",
            )
        chosen.update(range(first - 1, end))
    return sorted(chosen)


def _byte_share(job: Job, pages: int) -> int:
    """Bytes a page image may take: the model's cap per image, and an equal share of its
    cap per request (so the image pipeline need not re-encode every page after)."""
    caps = [job.target.max_image_bytes]
    if job.target.max_request_bytes:
        caps.append(job.target.max_request_bytes // max(1, pages + job.other_images))
    return min((c for c in caps if c), default=0)


def _page(doc: object, index: int, job: Job, share: int) -> PageOut:
    page = doc[index]  # type: ignore[index]
    try:
        width_pt, height_pt = page.get_size()
        textpage = page.get_textpage()
        try:
            text = textpage.get_text_range().replace("\r\n", "\n").strip()
        finally:
            textpage.close()
        out = PageOut(index + 1, width_pt, height_pt, text)
        if job.mode == "render" or (job.mode == "text" and not text):
            _render(page, out, job, share)
        return out
    finally:
        page.close()


def render_scale(width_pt: float, height_pt: float, target: RenderTarget) -> float:
    """Pixels per point: at most ``max_dpi``, and within the target's edge and pixel caps."""
    scale = target.max_dpi / _POINTS_PER_INCH
    long_pt = max(width_pt, height_pt, 1e-6)
    if target.max_edge:
        scale = min(scale, target.max_edge / long_pt)
    if target.max_pixels:
        scale = min(scale, math.sqrt(target.max_pixels / max(width_pt * height_pt, 1e-6)))
        # The bitmap's sides are whole pixels, rounded up at worst: stay under the budget.
        while math.ceil(width_pt * scale) * math.ceil(height_pt * scale) > target.max_pixels:
            scale *= 0.999
    return scale


def _render(page: object, out: PageOut, job: Job, share: int) -> None:
    dpi_scale = job.target.max_dpi / _POINTS_PER_INCH
    if (out.width_pt * dpi_scale) * (out.height_pt * dpi_scale) > job.bomb_pixels:
        raise Refusal(
            "document_too_large",
            f"Page {out.number} is {out.width_pt:.0f} x {out.height_pt:.0f} points; drawn at "
            f"{job.target.max_dpi:.0f} dpi it would pass the gateway's limit of "
            f'{job.bomb_pixels} pixels per image. Leave that page out with "pages".',
            ".pages",
        )
    scale = render_scale(out.width_pt, out.height_pt, job.target)
    bitmap = page.render(scale=scale, may_draw_forms=True, rev_byteorder=True)  # type: ignore[attr-defined]
    image = bitmap.to_pil()
    if image.mode != "RGB":
        image = image.convert("RGB")
    out.format, out.image = _encode(image, job.target)
    for quality in (70, 50):  # over its share: lower quality first, then fewer pixels
        if not share or len(out.image) <= share or out.format != "jpeg":
            break
        out.image = _jpeg(image, quality)
    for _ in range(6):  # a page of small text shrinks with its edge, not its area
        if not share or len(out.image) <= share:
            break
        factor = min(math.sqrt(share / len(out.image)), 0.9)
        size = (max(1, int(image.width * factor)), max(1, int(image.height * factor)))
        image = image.resize(size, Image.Resampling.LANCZOS)
        out.format = "jpeg" if "jpeg" in job.target.formats else "png"
        out.image = _jpeg(image, 70) if out.format == "jpeg" else _encode(image, job.target)[1]
    out.width, out.height = image.size


def _jpeg(image: object, quality: int) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=quality)  # type: ignore[attr-defined]
    return buf.getvalue()


def _encode(image: object, target: RenderTarget) -> tuple[str, bytes]:
    """JPEG at quality 85 where the model takes it, else PNG.

    Measured on a 10-page letter document at 1583x2048 (bench/documents.py): PNG took
    0.2-1.0 s a page to encode and came out no smaller than the JPEG (a page of small
    anti-aliased text is not the flat image PNG compresses well), JPEG 30-40 ms; drawing
    the page itself took 45-85 ms. Text stays legible to OCR and to the models at 85.
    """
    if "jpeg" in target.formats:
        return "jpeg", _jpeg(image, 85)
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=1)  # type: ignore[attr-defined]
    return "png", buf.getvalue()


def _subset(doc: object, indices: list[int]) -> bytes:
    import pypdfium2 as pdfium

    new = pdfium.PdfDocument.new()
    try:
        new.import_pages(doc, indices)
        buf = io.BytesIO()
        new.save(buf)
        return buf.getvalue()
    finally:
        new.close()
