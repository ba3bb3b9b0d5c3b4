"""The parts of a message that carry bytes: images and documents.

Kept apart from the rest of the internal model (``messages.py``) because they are
classes with behaviour (bytes held as given, base64 computed once, data URLs reused),
not plain records; ``messages.py`` re-exports both.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

__all__ = ["DocumentPart", "ImagePart"]


class ImagePart:
    """One image of the request.

    ``url`` is what the client sent: an http(s) URL or a ``data:`` URL, the latter as
    ASCII ``bytes`` when a large one was cut out of the body before parsing
    (``api/cut.py``); ``b64``, :meth:`base64` and :meth:`data_url` are then bytes too,
    and adapters put them in their payloads as they are. The image
    pipeline (``images/ingest.py``) gives the part its bytes when the target needs them:
    fetched for http(s) URLs the provider cannot fetch itself, converted ones when the
    image had to change, and for a data URL the client's own base64, validated but not
    decoded (:meth:`use_base64`): :attr:`data` decodes it on first use, and an image
    that goes upstream untouched never needs that. ``b64`` is the canonical base64 of
    exactly those bytes when it is already known, so an image is never encoded twice.
    ``media_type``, ``width``, ``height`` and ``frames`` come from the bytes, never from
    what the client declared. ``converted`` is set when the pipeline re-encoded the
    image. ``param`` points at the part in the request, for error messages.

    A plain slotted class rather than a dataclass because :attr:`data` is computed.
    """

    __slots__ = (
        "_b64_at",
        "_data",
        "_nbytes",
        "b64",
        "cache_control",
        "converted",
        "detail",
        "frames",
        "height",
        "media_type",
        "param",
        "url",
        "width",
    )
    kind: ClassVar[Literal["image"]] = "image"

    def __init__(
        self,
        param: str,
        detail: Literal["auto", "low", "high"] = "auto",
        url: str | bytes | None = None,
        data: bytes | None = None,
        b64: str | bytes | None = None,
        media_type: str | None = None,
        width: int = 0,
        height: int = 0,
        frames: int = 1,
        converted: bool = False,
        cache_control: dict[str, Any] | None = None,
    ) -> None:
        self.param = param
        self.cache_control = cache_control
        self.detail = detail
        self.url = url
        self._data = data
        self.b64 = b64
        self._b64_at = 0  # > 0: url[_b64_at:] is the canonical base64 of the bytes
        self._nbytes = len(data) if data is not None else 0
        self.media_type = media_type
        self.width = width
        self.height = height
        self.frames = frames
        self.converted = converted

    def __repr__(self) -> str:
        url: str | bytes | None = self.url
        if isinstance(url, bytes) and len(url) > 60:
            url = url[:57] + b"..."
        elif isinstance(url, str) and len(url) > 60:
            url = url[:57] + "..."
        return (
            f"ImagePart(param={self.param!r}, detail={self.detail!r}, url={url!r}, "
            f"nbytes={self.nbytes}, media_type={self.media_type!r}, "
            f"size={self.width}x{self.height}, frames={self.frames}, converted={self.converted})"
        )

    @property
    def data(self) -> bytes | None:
        """The image bytes; decoded from the client's base64 (and kept) on first use."""
        if self._data is None and self._nbytes:
            self._data = self.read_bytes()
        return self._data

    @data.setter
    def data(self, value: bytes | None) -> None:
        """New bytes: whatever base64 described the old ones no longer applies."""
        self._data = value
        self.b64 = None
        self._b64_at = 0
        self._nbytes = len(value) if value is not None else 0

    def use_base64(self, nbytes: int, *, at: int = 0, b64: str | bytes | None = None) -> None:
        """The bytes are ``nbytes`` long and not decoded: their validated, canonical
        base64 is ``url[at:]`` when ``at`` is given (the client's data URL payload) and
        ``b64`` when that is given (a copy of it, or the cleaned payload)."""
        if not at and b64 is None:
            raise ValueError("use_base64 needs where the base64 is: at or b64")
        self._data = None
        self.b64 = b64
        self._b64_at = at
        self._nbytes = nbytes

    def use_converted(self, data: bytes, data_url: bytes) -> None:
        """The bytes of a conversion, and their ``data:<type>;base64,`` URL, which from
        now on is :attr:`url` (adapters send it, or its base64, without building either)."""
        self._data = data
        self._nbytes = len(data)
        self.url = data_url
        self._b64_at = data_url.index(b",") + 1
        self.b64 = None

    @property
    def has_bytes(self) -> bool:
        return self._nbytes > 0 or self._data is not None

    @property
    def nbytes(self) -> int:
        """Length of the bytes, known without decoding them (0 when there are none)."""
        return self._nbytes

    @property
    def source(self) -> bytes | str:
        """What the image is held as: its bytes or, until they are decoded, the base64
        text they come from (the client's whole data URL, or the cleaned payload). Equal
        sources are equal images, so this keys caches of conversions."""
        if self._data is not None:
            return self._data
        if self._nbytes:
            text = self.b64 if self.b64 is not None else self.url
            if text is not None:
                return text
        raise ValueError(f"image {self.param} has no bytes yet")

    def read_bytes(self) -> bytes:
        """The bytes, decoded from base64 if they are not held, without keeping them:
        for a one-off use such as a conversion, whose result replaces them."""
        if self._data is not None:
            return self._data
        if self._nbytes:
            import pybase64

            # validate=True: pybase64's strict decoder is its fast one (the text was
            # validated already, so it cannot fail).
            if self.b64 is not None:
                return pybase64.b64decode(self.b64, validate=True)
            if self.url is not None:
                return pybase64.b64decode(self.url[self._b64_at :], validate=True)
        raise ValueError(f"image {self.param} has no bytes yet")

    def digest(self) -> bytes:
        """SHA-256 of the canonical base64 of the bytes the provider receives.

        Equal digests are equal bytes, whether the image came as a data URL, was fetched
        from a URL or was converted: the base64 is hashed rather than the bytes so that
        the client's own (validated, canonical) base64 is read where it lies, without a
        decode or a copy, and a fetched image's base64 is the one its adapter sends
        anyway (:meth:`base64` keeps it). Keys the answer cache (``service/cache_key.py``).
        Raises ValueError for a part without bytes (a URL passed through).
        """
        import hashlib

        url = self.url
        if self.b64 is None and self._b64_at and url is not None:
            if isinstance(url, bytes):
                return hashlib.sha256(memoryview(url)[self._b64_at :]).digest()
            return hashlib.sha256(url[self._b64_at :].encode("ascii")).digest()
        b64 = self.base64()
        return hashlib.sha256(b64.encode("ascii") if isinstance(b64, str) else b64).digest()

    def data_url(self) -> str | bytes:
        """``data:<media_type>;base64,<b64>``, the form OpenAI-style APIs take inline.

        The client's own data URL when it is exactly that (the image was not changed,
        its declared type is the real one, and its base64 needed no cleaning): no new
        string of the image's size is built.
        """
        prefix = f"data:{self.media_type};base64,"
        url = self.url
        if self._b64_at == len(prefix) and url is not None:
            if isinstance(url, str) and url.startswith(prefix):
                return url
            if isinstance(url, bytes) and url.startswith(prefix.encode()):
                return url
        b64 = self.base64()
        if isinstance(b64, bytes):
            return prefix.encode() + b64
        return prefix + b64

    def base64(self) -> str | bytes:
        """The base64 of :attr:`data`: the client's (for a large image, a new slice of its
        data URL on each call, not kept), or computed once."""
        if self.b64 is not None:
            return self.b64
        if self._b64_at and self.url is not None:
            return self.url[self._b64_at :]
        if self._data is None:
            raise ValueError(f"image {self.param} has no bytes yet")
        import pybase64

        # As ASCII bytes: they go into upstream bodies as they are (providers/body.py).
        self.b64 = pybase64.b64encode(self._data)
        return self.b64


class DocumentPart:
    """One document (a PDF) of the request.

    ``url`` is what the client sent: a ``data:`` URL (``bytes`` when ``api/cut.py`` cut a
    large one out of the body), an http(s) URL, or None when the surface carried bare
    base64 in ``b64`` (the Messages API's ``document`` source). ``pages`` is the client's
    page selection (``"1-3,7"``, an extension), ``filename`` the name it gave,
    ``cache_control`` the Messages API client's cache breakpoint on it.

    The document pipeline (``documents/ingest.py``) fills in the rest: ``data`` (the
    bytes of the PDF that goes upstream: the client's, or a new one holding only the
    selected pages), ``b64`` (its canonical base64, the client's own when the PDF went
    unchanged, so a native PDF is never encoded twice), ``page_count`` (the pages sent)
    and ``native``: True when the provider reads the PDF itself. A document that is
    rendered instead is replaced in its message by its pages (text and images) and never
    reaches an adapter. For a model that reads pages itself (``local/ocr``),
    ``text_pages`` holds, per selected page, its number and its text layer or, where it
    has none, its rendered image. ``param`` points at the part in the request, for error messages.
    """

    __slots__ = (
        "b64",
        "cache_control",
        "data",
        "filename",
        "native",
        "page_count",
        "pages",
        "param",
        "text_pages",
        "url",
    )
    kind: ClassVar[Literal["document"]] = "document"

    def __init__(
        self,
        param: str,
        url: str | bytes | None = None,
        b64: str | bytes | None = None,
        filename: str | None = None,
        pages: str | None = None,
        cache_control: dict[str, Any] | None = None,
    ) -> None:
        self.param = param
        self.url = url
        self.b64 = b64
        self.filename = filename
        self.pages = pages
        self.cache_control = cache_control
        self.data: bytes | None = None
        self.page_count = 0
        self.native = False
        self.text_pages: list[tuple[int, str | ImagePart]] | None = None

    def __repr__(self) -> str:
        url: str | bytes | None = self.url
        if isinstance(url, bytes) and len(url) > 60:
            url = url[:57] + b"..."
        elif isinstance(url, str) and len(url) > 60:
            url = url[:57] + "..."
        size = len(self.data) if self.data is not None else 0
        return (
            f"DocumentPart(param={self.param!r}, url={url!r}, filename={self.filename!r}, "
            f"pages={self.pages!r}, nbytes={size}, page_count={self.page_count}, "
            f"native={self.native})"
        )

    def base64(self) -> str | bytes:
        """The base64 of :attr:`data`: the client's when it is canonical, else computed
        once (as ASCII bytes, which go into upstream bodies as they are)."""
        if self.b64 is not None:
            return self.b64
        if self.data is None:
            raise ValueError(f"document {self.param} has no bytes yet")
        import pybase64

        self.b64 = pybase64.b64encode(self.data)
        return self.b64

    def data_url(self) -> str | bytes:
        """``data:application/pdf;base64,<b64>``, the form OpenAI's ``file_data`` takes:
        the client's own data URL when it is exactly that (no new string of the file's
        size is built)."""
        b64 = self.base64()
        url = self.url
        prefix = "data:application/pdf;base64,"
        if (
            url is not None
            and len(url) == len(prefix) + len(b64)
            and type(url) is type(b64)
            and (
                url.startswith(prefix) if isinstance(url, str) else url.startswith(prefix.encode())
            )
            and url.endswith(b64)  # type: ignore[arg-type]  # memcmp: ~4 ms for 32 MB
        ):
            return url
        if isinstance(b64, bytes):
            return b"data:application/pdf;base64," + b64
        return "data:application/pdf;base64," + b64
