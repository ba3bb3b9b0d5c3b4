"""PDFs the tests write themselves, byte by byte: nothing is downloaded.

A small PDF writer (objects, a cross-reference table, a trailer) is enough for every
kind of file the document tests need: pages whose text layer holds known words (the
standard Helvetica font, which every PDF reader has built in), pages that are only an
image (a scan), many pages sharing one content stream, a page far larger than any real
one, an encrypted file, and damaged ones (cut short, or not a PDF at all).
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Sequence

from PIL import Image

from tests.support.images import text_image

__all__ = [
    "empty_pdf",
    "encrypted_pdf",
    "many_pages_pdf",
    "pdf",
    "scan_jpeg",
    "scanned_pdf",
    "text_pdf",
]


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _text_stream(lines: Sequence[str]) -> bytes:
    body = ["BT", "/F1 24 Tf", "72 720 Td", "28 TL"]
    for line in lines:
        body.append(f"({_escape(line)}) Tj T*")
    body.append("ET")
    return "\n".join(body).encode("latin-1")


def _image_stream(page: tuple[float, float], image: tuple[int, int]) -> bytes:
    """Draw the image across the page's width, at its own aspect ratio, from the top."""
    width = page[0]
    height = width * image[1] / image[0]
    return f"q {width:.2f} 0 0 {height:.2f} 0 {page[1] - height:.2f} cm /Im1 Do Q".encode()


class _Writer:
    def __init__(self) -> None:
        self.objects: list[bytes] = []

    def add(self, body: bytes) -> int:
        self.objects.append(body)
        return len(self.objects)

    def stream(self, data: bytes, extra: str = "") -> int:
        head = f"<< /Length {len(data)} {extra}>>\nstream\n".encode()
        return self.add(head + data + b"\nendstream")

    def render(self, root: int, trailer_extra: str = "") -> bytes:
        out = io.BytesIO()
        out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
        offsets = []
        for number, body in enumerate(self.objects, start=1):
            offsets.append(out.tell())
            out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
        xref = out.tell()
        out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(self.objects) + 1))
        for offset in offsets:
            out.write(b"%010d 00000 n \n" % offset)
        trailer = f"trailer\n<< /Size {len(self.objects) + 1} /Root {root} 0 R {trailer_extra}>>\n"
        out.write(trailer.encode())
        out.write(b"startxref\n%d\n%%%%EOF\n" % xref)
        return out.getvalue()


def pdf(
    pages: Sequence[Sequence[str] | bytes],
    size: tuple[float, float] = (612, 792),
    trailer_extra: str = "",
) -> bytes:
    """A PDF of ``pages``: a list of text lines becomes a page with that text layer; bytes
    (a JPEG) become a page that is only that image, like a scan (no text layer)."""
    w = _Writer()
    font = w.add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    pages_id = len(pages) * 3 + 2  # filled in below, after the pages' objects
    kids = []
    width, height = size
    for page in pages:
        if isinstance(page, bytes):
            with Image.open(io.BytesIO(page)) as img:
                iw, ih = img.size
            image = w.stream(
                page,
                f"/Type /XObject /Subtype /Image /Width {iw} /Height {ih} "
                "/ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /DCTDecode ",
            )
            content = w.stream(_image_stream((width, height), (iw, ih)))
            resources = f"/XObject << /Im1 {image} 0 R >>"
        else:
            w.add(b"null")  # keeps three objects per page
            content = w.stream(_text_stream(page))
            resources = f"/Font << /F1 {font} 0 R >>"
        kids.append(
            w.add(
                f"<< /Type /Page /Parent {pages_id} 0 R /MediaBox [0 0 {width} {height}] "
                f"/Resources << {resources} >> /Contents {content} 0 R >>".encode()
            )
        )
    kid_refs = " ".join(f"{k} 0 R" for k in kids)
    assert w.add(f"<< /Type /Pages /Kids [{kid_refs}] /Count {len(kids)} >>".encode()) == pages_id
    root = w.add(f"<< /Type /Catalog /Pages {pages_id} 0 R >>".encode())
    return w.render(root, trailer_extra)


def text_pdf(*pages: Sequence[str]) -> bytes:
    """One page per list of lines, each with those words in its text layer."""
    return pdf(list(pages))


def scan_jpeg(lines: Sequence[str]) -> bytes:
    """A JPEG of ``lines`` in black on white, as a scanner would make of a typed page."""
    png = text_image(list(lines), size=48)
    with Image.open(io.BytesIO(png)) as img:
        buf = io.BytesIO()
        img.convert("RGB").save(buf, "JPEG", quality=92)
    return buf.getvalue()


def scanned_pdf(*pages: Sequence[str]) -> bytes:
    """One page per list of lines, each only a picture of those words (no text layer)."""
    return pdf([scan_jpeg(lines) for lines in pages])


def many_pages_pdf(count: int) -> bytes:
    """``count`` pages that share one small content stream: a large page count in a
    small file, as a hostile or merely huge document would have."""
    w = _Writer()
    font = w.add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    content = w.stream(_text_stream(["page"]))
    pages_id = count + 3
    kids = [
        w.add(
            f"<< /Type /Page /Parent {pages_id} 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 {font} 0 R >> >> /Contents {content} 0 R >>".encode()
        )
        for _ in range(count)
    ]
    kid_refs = " ".join(f"{k} 0 R" for k in kids)
    assert w.add(f"<< /Type /Pages /Kids [{kid_refs}] /Count {count} >>".encode()) == pages_id
    root = w.add(f"<< /Type /Catalog /Pages {pages_id} 0 R >>".encode())
    return w.render(root)


def empty_pdf() -> bytes:
    """A well-formed PDF whose page tree holds no page."""
    w = _Writer()
    w.add(b"<< /Type /Pages /Kids [] /Count 0 >>")
    root = w.add(b"<< /Type /Catalog /Pages 1 0 R >>")
    return w.render(root)


def encrypted_pdf() -> bytes:
    """A PDF with the standard security handler whose user password is not empty: every
    reader needs the password to open it."""
    # RC4 40-bit (R2) with O and U hashes of some other password, so the empty user
    # password does not open it.
    w = _Writer()
    font = w.add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    content = w.stream(zlib.compress(_text_stream(["secret"])), "/Filter /FlateDecode ")
    page = w.add(
        f"<< /Type /Page /Parent 4 0 R /MediaBox [0 0 612 792] "
        f"/Resources << /Font << /F1 {font} 0 R >> >> /Contents {content} 0 R >>".encode()
    )
    assert w.add(f"<< /Type /Pages /Kids [{page} 0 R] /Count 1 >>".encode()) == 4
    root = w.add(b"<< /Type /Catalog /Pages 4 0 R >>")
    o_hash = "AB" * 32
    u_hash = "CD" * 32
    encrypt = w.add(
        f"<< /Filter /Standard /V 1 /R 2 /Length 40 /P -4 /O <{o_hash}> /U <{u_hash}> >>".encode()
    )
    file_id = "<00112233445566778899AABBCCDDEEFF>"
    return w.render(root, f"/Encrypt {encrypt} 0 R /ID [{file_id} {file_id}] ")
