"""Remembers recent conversions, so an image sent again is not decoded and re-encoded again.

Clients resend images all the time: a multi-turn conversation carries every earlier turn's
images in each new request, and batch jobs reuse the same reference picture. Converting a
photo costs tens of milliseconds of CPU; finding the earlier result costs a lookup by the
source's length and a hash of its first and last 4 KB, then one comparison with the source
kept in the entry. A hit is exact, never a digest collision, and a miss is cheap: hashing
the whole source (a new string or bytes object each request) cost 2.4 ms on the event loop
for a 12 MP photo's data URL. The source is the image's bytes or, for a data URL that was
not decoded, the URL's text (see ``ImagePart.source``).
"""

from __future__ import annotations

from collections import OrderedDict

from visiongate.images.fit import FitPlan, Fitted

__all__ = ["FitCache"]

_EDGE = 4096  # characters or bytes of each end of the source that go into the key

_Key = tuple[int, int, int, FitPlan]


class FitCache:
    """LRU of ``(source, plan) -> (Fitted, text)`` within a byte budget; the text is the
    result's data URL (``ingest._fit_and_encode``).

    The budget counts the source and the result, since both are held. Used from one event
    loop only, so it needs no lock.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[_Key, tuple[bytes | str, Fitted, bytes]] = OrderedDict()
        self._size = 0

    @property
    def size(self) -> int:
        return self._size

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, source: bytes | str, plan: FitPlan) -> tuple[Fitted, bytes] | None:
        key = _key(source, plan)
        entry = self._entries.get(key)
        if entry is None:
            return None
        kept, fitted, text = entry
        if kept is not source and (type(kept) is not type(source) or kept != source):
            return None  # same length and ends, other image
        self._entries.move_to_end(key)
        return fitted, text

    def put(self, source: bytes | str, plan: FitPlan, fitted: Fitted, text: bytes) -> None:
        cost = _cost(source, fitted, text)
        if self.max_bytes <= 0 or cost > self.max_bytes // 4:
            return  # one entry may use at most a quarter of the budget
        key = _key(source, plan)
        old = self._entries.pop(key, None)
        if old is not None:
            self._size -= _cost(*old)
        self._entries[key] = (source, fitted, text)
        self._size += cost
        while self._size > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self._size -= _cost(*evicted)

    def clear(self) -> None:
        self._entries.clear()
        self._size = 0


def _key(source: bytes | str, plan: FitPlan) -> _Key:
    size = len(source)
    tail = hash(source[-_EDGE:]) if size > _EDGE else 0
    return size, hash(source[:_EDGE]), tail, plan


def _cost(source: bytes | str, fitted: Fitted, text: bytes) -> int:
    return len(source) + len(fitted.data) + len(text)
