"""A byte-budgeted cache of fetched image URLs that keeps one copy of identical bodies.

Two maps: URL -> (body, expiry), and the bodies themselves, least recently used first.
Several URLs that serve the same image (CDN variants, signed URLs with different query
strings) share one copy. The URL entry expires after the TTL, because a URL may start
serving other content; the bodies are evicted least-recently-used when the byte budget is
exceeded, and the oldest URL entries when there are more than ``max_urls`` of them (each
costs a few hundred bytes outside the byte budget, and unique URLs for one image, such as
cache-busting query strings, would otherwise pile up for the whole TTL).

Identical bodies are found by comparing bodies of the same length, not by hashing each
one: a SHA-256 of every fetched body cost 94 µs per 146 KB, a tenth of the image-URL path,
while bodies of equal length are rare among compressed images and differing ones compare
unequal within their first bytes. The cache is owned by one
:class:`~visiongate.images.ingest.ImagePipeline` and used from its event loop only, so it
needs no lock.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["ImageCache"]

# URL entries allowed per byte of budget by default: one per 16 KB (8,192 for 128 MB), so
# the cap only bites when many URLs share a body, not for ordinary distinct images.
_BYTES_PER_URL = 16 * 1024
_MIN_URLS = 1024


@dataclass(slots=True, eq=False)
class _Blob:
    """One body and the URLs that served it; hashed by identity."""

    data: bytes
    urls: set[str] = field(default_factory=set)


class ImageCache:
    """``get(url)`` / ``put(url, data)`` with a byte budget, a URL cap and a per-URL TTL."""

    def __init__(
        self,
        max_bytes: int,
        ttl: float,
        clock: Callable[[], float] = time.monotonic,
        max_urls: int | None = None,
    ) -> None:
        self.max_bytes = max_bytes
        self.ttl = ttl
        self.max_urls = (
            max_urls if max_urls is not None else max(_MIN_URLS, max_bytes // _BYTES_PER_URL)
        )
        self._clock = clock
        self._urls: dict[str, tuple[_Blob, float]] = {}
        self._blobs: OrderedDict[_Blob, None] = OrderedDict()
        self._by_length: dict[int, list[_Blob]] = {}
        self._size = 0

    @property
    def size(self) -> int:
        """Bytes of image data held."""
        return self._size

    def __len__(self) -> int:
        return len(self._urls)

    def get(self, url: str) -> bytes | None:
        """The cached body of ``url``, or None when absent or expired."""
        entry = self._urls.get(url)
        if entry is None:
            return None
        blob, expires = entry
        if self._clock() >= expires:
            self._forget_url(url)
            return None
        self._blobs.move_to_end(blob)
        return blob.data

    def put(self, url: str, data: bytes) -> None:
        """Remember ``data`` as the body of ``url``; bodies over the budget are skipped."""
        if self.max_bytes <= 0 or self.ttl <= 0 or self.max_urls <= 0:
            return
        if len(data) > self.max_bytes:
            return
        now = self._clock()
        self._sweep(now)
        if url in self._urls:
            self._forget_url(url)
        blob = self._same_body(data)
        if blob is None:
            blob = _Blob(data)
            self._blobs[blob] = None
            self._by_length.setdefault(len(data), []).append(blob)
            self._size += len(data)
        else:
            self._blobs.move_to_end(blob)
        blob.urls.add(url)
        self._urls[url] = (blob, now + self.ttl)
        while len(self._urls) > self.max_urls:
            self._forget_url(next(iter(self._urls)))  # the oldest entry, the first to expire
        while self._size > self.max_bytes:
            self._evict_oldest()

    def clear(self) -> None:
        self._urls.clear()
        self._blobs.clear()
        self._by_length.clear()
        self._size = 0

    def _same_body(self, data: bytes) -> _Blob | None:
        for blob in self._by_length.get(len(data), ()):
            if blob.data == data:
                return blob
        return None

    def _sweep(self, now: float) -> None:
        """Drop expired URL entries: with one TTL, insertion order is expiry order."""
        while self._urls:
            url, (_, expires) = next(iter(self._urls.items()))
            if expires > now:
                return
            self._forget_url(url)

    def _forget_url(self, url: str) -> None:
        blob, _ = self._urls.pop(url)
        blob.urls.discard(url)
        if not blob.urls and blob in self._blobs:
            del self._blobs[blob]
            self._drop(blob)

    def _evict_oldest(self) -> None:
        blob, _ = self._blobs.popitem(last=False)
        self._drop(blob)
        for url in blob.urls:
            self._urls.pop(url, None)

    def _drop(self, blob: _Blob) -> None:
        same = self._by_length[len(blob.data)]
        same.remove(blob)
        if not same:
            del self._by_length[len(blob.data)]
        self._size -= len(blob.data)
