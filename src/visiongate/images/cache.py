"""A content-addressed, byte-budgeted cache of fetched image URLs.

Two maps: URL -> (sha256 of the body, expiry) and sha256 -> bytes. Several URLs that
serve the same image (CDN variants, signed URLs with different query strings) share one
copy. The URL entry expires after the TTL, because a URL may start serving other content;
the bytes are evicted least-recently-used when the byte budget is exceeded. The cache is
owned by one :class:`~visiongate.images.ingest.ImagePipeline` and used from its event loop
only, so it needs no lock.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["ImageCache"]


@dataclass(slots=True)
class _Blob:
    data: bytes
    urls: set[str] = field(default_factory=set)


class ImageCache:
    """``get(url)`` / ``put(url, data)`` with a byte budget and a per-URL TTL."""

    def __init__(
        self, max_bytes: int, ttl: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_bytes = max_bytes
        self.ttl = ttl
        self._clock = clock
        self._urls: dict[str, tuple[str, float]] = {}
        self._blobs: OrderedDict[str, _Blob] = OrderedDict()
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
        digest, expires = entry
        if self._clock() >= expires:
            self._forget_url(url)
            return None
        blob = self._blobs[digest]
        self._blobs.move_to_end(digest)
        return blob.data

    def put(self, url: str, data: bytes) -> None:
        """Remember ``data`` as the body of ``url``; bodies over the budget are skipped."""
        if self.max_bytes <= 0 or self.ttl <= 0 or len(data) > self.max_bytes:
            return
        now = self._clock()
        self._sweep(now)
        if url in self._urls:
            self._forget_url(url)
        digest = hashlib.sha256(data).hexdigest()
        blob = self._blobs.get(digest)
        if blob is None:
            blob = self._blobs[digest] = _Blob(data)
            self._size += len(data)
        else:
            self._blobs.move_to_end(digest)
        blob.urls.add(url)
        self._urls[url] = (digest, now + self.ttl)
        while self._size > self.max_bytes:
            self._evict_oldest()

    def clear(self) -> None:
        self._urls.clear()
        self._blobs.clear()
        self._size = 0

    def _sweep(self, now: float) -> None:
        """Drop expired URL entries: with one TTL, insertion order is expiry order."""
        while self._urls:
            url, (_, expires) = next(iter(self._urls.items()))
            if expires > now:
                return
            self._forget_url(url)

    def _forget_url(self, url: str) -> None:
        digest, _ = self._urls.pop(url)
        blob = self._blobs.get(digest)
        if blob is None:
            return
        blob.urls.discard(url)
        if not blob.urls:
            del self._blobs[digest]
            self._size -= len(blob.data)

    def _evict_oldest(self) -> None:
        _, blob = self._blobs.popitem(last=False)
        self._size -= len(blob.data)
        for url in blob.urls:
            self._urls.pop(url, None)
